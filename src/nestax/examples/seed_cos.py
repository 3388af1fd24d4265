"""seed-cos: a loss that contains the derivative of a network with respect to its input.

From Lux.jl's nested-AD manual ("Loss Function contains Gradient Calculation"). A tanh network
``N: ℝ → ℝ`` (1→12→12→12→1) is evaluated at 16 points ``t_i ∈ [0, 1)``; its prediction is the
derivative of the summed squares,

    ŷ_i = ∂/∂t_i Σ_j N(t_j)² = 2 N(t_i) N'(t_i),

(the network acts point by point, so the gradient of the batch sum is the per-point derivative
of ``N(t)²``), and the loss is

    L(θ) = Σ_i (ŷ_i − cos t_i)².

Training differentiates ``L`` with respect to the weights θ, through the input derivative.
nestax computes ``d/dt N(t)²`` with ``nx.derivative`` (forward mode for a scalar input) and
``jax.grad`` differentiates the result with respect to θ.

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import seed_cos
    >>> problem = seed_cos.build(seed=0)
    >>> float(problem.loss(problem.model, problem.t)) > 0
    True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

import nestax as nx

from ..pinn import plot_curves, plot_losses
from . import _run

NAME = "seed-cos"
SUMMARY = "tanh net 1→12→12→12→1; loss Σ(d/dt Σ N(t)² − cos t)² on 16 points (Lux manual)"
DEFAULT_ITERS = 2000
LEARNING_RATE = 1e-3
N_POINTS = 16


@dataclasses.dataclass(frozen=True)
class Problem:
    """The network, the 16 points and the loss ``loss(model, t) -> scalar``."""

    model: eqx.nn.MLP
    t: jax.Array
    loss: Callable[[Any, jax.Array], jax.Array]


def init_network(key: jax.Array, dtype=None) -> eqx.nn.MLP:
    """``N: ℝ → ℝ``, Dense(1→12, tanh) → 2 × Dense(12→12, tanh) → Dense(12→1)."""
    return eqx.nn.MLP(
        "scalar", "scalar", width_size=12, depth=3, activation=jnp.tanh, dtype=dtype, key=key
    )


def predict(model: eqx.nn.MLP, t: jax.Array) -> jax.Array:
    """``ŷ_i = d/dt N(t)²`` at every ``t_i``, with nestax (shape ``t.shape``)."""
    return jax.vmap(nx.derivative(lambda s: model(s) ** 2))(t)


def loss(model: eqx.nn.MLP, t: jax.Array) -> jax.Array:
    """``L = Σ_i (ŷ_i − cos t_i)²``."""
    return jnp.sum((predict(model, t) - jnp.cos(t)) ** 2)


def build(seed: int = 0, dtype=None) -> Problem:
    """The network (initialised from ``seed``) and 16 points ``t ~ U[0, 1)``, in ``dtype``.

    ``dtype`` defaults to JAX's default float (float64 when x64 is enabled).
    """
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    k_net, k_t = jax.random.split(jax.random.key(seed))
    model = init_network(k_net, dtype)
    t = jax.random.uniform(k_t, (N_POINTS,), dtype)
    return Problem(model=model, t=t, loss=loss)


@_run.example(NAME, DEFAULT_ITERS)
def run(args: _run.Args) -> dict[str, Any]:
    """Check the gradient, train with Adam, write ``metrics.json`` and plots into ``out_dir``."""
    problem = build(args.seed)
    check = nx.check_gradients(lambda p: problem.loss(p[0], p[1]), (problem.model, problem.t))
    result = nx.fit(
        lambda m: problem.loss(m, problem.t),
        problem.model,
        stages=[nx.Stage("adam", steps=args.iters, learning_rate=LEARNING_RATE)],
        progress=args.progress,
    )
    metrics = _run.write_metrics(args.out_dir, NAME, result, check, args.seed)
    plot_losses(result.history, os.path.join(args.out_dir, "loss.png"), f"{NAME}: training loss")
    t = jnp.linspace(0.0, 1.0, 200)
    plot_curves(
        {
            "cos t (target)": (t, jnp.cos(t), "k-"),
            "ŷ = d/dt N(t)², trained": (t, predict(result.params, t), "C0-"),
            "training points": (problem.t, predict(result.params, problem.t), "C0o"),
        },
        os.path.join(args.out_dir, "fit.png"),
        f"{NAME}: fit after {args.iters} Adam steps",
        "t",
        "ŷ",
    )
    return metrics
