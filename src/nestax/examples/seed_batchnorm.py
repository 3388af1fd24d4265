"""seed-batchnorm: the full input Jacobian of a batch-coupled network inside the loss.

From Lux.jl's nested-AD manual ("Nested AD for Neural Differential Equations", with BatchNorm
"to show that it is possible"). The model is Dense(2→4, tanh) → BatchNorm(4) → Dense(4→2) in
training mode: BatchNorm normalises with the mean and variance *of the batch*, so every output
depends on every sample. For a batch ``X`` of B = 10 points in ℝ² (Lux's 2×10 array; here
(10, 2), samples first) the model is one function ``F: ℝ^{B×2} → ℝ^{B×2}`` and the loss is

    L(θ, X) = Σ_{b,k} (F(X)_{bk} − Y_{bk})²  +  ‖∂F/∂X‖²_F,

with the full Jacobian ``∂F/∂X`` of shape (B, 2, B, 2) (``nx.jacobian`` of the batch function;
its off-diagonal blocks ``∂F_b/∂X_c, b ≠ c`` are non-zero only because of BatchNorm). The
BatchNorm running statistics are equinox state; they pass out of the Jacobian as ``aux``
(``has_aux=True``), like Lux's ``StatefulLuxLayer``. Gradients with respect to both θ and X
are checked against finite differences.

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import seed_batchnorm
    >>> p = seed_batchnorm.build(seed=0)
    >>> jac, new_state = seed_batchnorm.input_jacobian(p.model, p.state, p.x)
    >>> jac.shape
    (10, 2, 10, 2)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

import nestax as nx

from ..pinn import plot_losses
from . import _run

NAME = "seed-batchnorm"
SUMMARY = "Dense→BatchNorm→Dense; loss Σ(ŷ−y)² + ‖∂ŷ/∂x‖² with the full batch Jacobian (Lux manual)"
DEFAULT_ITERS = 1000
LEARNING_RATE = 1e-2
BATCH = 10
AXIS = "batch"


class Net(eqx.Module):
    """Dense(2→4, tanh) → BatchNorm(4) → Dense(4→2), applied to ONE sample inside a named vmap."""

    dense1: eqx.nn.Linear
    norm: eqx.nn.BatchNorm
    dense2: eqx.nn.Linear

    def __init__(self, key: jax.Array, dtype=None):
        k1, k2 = jax.random.split(key)
        self.dense1 = eqx.nn.Linear(2, 4, dtype=dtype, key=k1)
        # mode="batch": normalise with the batch statistics in training (as Lux and PyTorch).
        self.norm = eqx.nn.BatchNorm(4, axis_name=AXIS, mode="batch", dtype=dtype)
        self.dense2 = eqx.nn.Linear(4, 2, dtype=dtype, key=k2)

    def __call__(self, x: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        h = jnp.tanh(self.dense1(x))
        h, state = self.norm(h, state)
        return self.dense2(h), state


def apply(model: Net, state: eqx.nn.State, x: jax.Array) -> tuple[jax.Array, eqx.nn.State]:
    """The batch function ``F``: (B, 2) -> (B, 2), plus the updated BatchNorm state."""
    return jax.vmap(model, axis_name=AXIS, in_axes=(0, None), out_axes=(0, None))(x, state)


def input_jacobian(model: Net, state: eqx.nn.State, x: jax.Array):
    """``(∂F/∂X, new_state)``: the full (B, 2, B, 2) Jacobian, with nestax."""
    return nx.jacobian(lambda xb: apply(model, state, xb), has_aux=True)(x)


def loss_terms(model: Net, x: jax.Array, state: eqx.nn.State, y: jax.Array) -> dict[str, Any]:
    """``{"data": Σ(F(X) − Y)², "jacobian": ‖∂F/∂X‖²_F}``."""
    y_hat, _ = apply(model, state, x)
    jac, _ = input_jacobian(model, state, x)
    return {"data": jnp.sum((y_hat - y) ** 2), "jacobian": jnp.sum(jac**2)}


def loss(model: Net, x: jax.Array, state: eqx.nn.State, y: jax.Array) -> jax.Array:
    """``L(θ, X)``, the sum of :func:`loss_terms`."""
    terms = loss_terms(model, x, state, y)
    return terms["data"] + terms["jacobian"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Model, BatchNorm state, inputs x (B, 2) and targets y (B, 2)."""

    model: Net
    state: eqx.nn.State
    x: jax.Array
    y: jax.Array


def build(seed: int = 0, dtype=None) -> Problem:
    """The model (key ``seed``), ``x ~ U[0, 1)^{10×2}`` (key ``seed + 1``) and
    ``y ~ U[0, 1)^{10×2}`` (key ``seed + 11``, as the manual's ``Xoshiro(11)``), in ``dtype``
    (default: JAX's default float).
    """
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    model, state = eqx.nn.make_with_state(Net)(jax.random.key(seed), dtype)
    x = jax.random.uniform(jax.random.key(seed + 1), (BATCH, 2), dtype)
    y = jax.random.uniform(jax.random.key(seed + 11), (BATCH, 2), dtype)
    return Problem(model=model, state=state, x=x, y=y)


@_run.example(NAME, DEFAULT_ITERS)
def run(args: _run.Args) -> dict[str, Any]:
    """Check gradients in θ and X, train θ with Adam, write ``metrics.json`` and a loss plot.

    The BatchNorm state is the initial one at every step: in training mode the outputs use
    batch statistics only, so the running averages do not enter the loss.
    """
    p = build(args.seed)
    check = nx.check_gradients(lambda mx: loss(mx[0], mx[1], p.state, p.y), (p.model, p.x))
    result = nx.fit(
        lambda m: loss_terms(m, p.x, p.state, p.y),
        p.model,
        stages=[nx.Stage("adam", steps=args.iters, learning_rate=LEARNING_RATE)],
        progress=args.progress,
    )
    metrics = _run.write_metrics(args.out_dir, NAME, result, check, args.seed)
    plot_losses(result.history, os.path.join(args.out_dir, "loss.png"), f"{NAME}: training loss")
    return metrics
