"""seed-ude: a Lotka–Volterra universal differential equation with a gradient penalty.

The problem of the Discourse post "Nested and different AD methods altogether" (the seed of
nestax). Data: the Lotka–Volterra system

    u₁' = α u₁ − β u₁ u₂,    u₂' = γ u₁ u₂ − δ u₂,    (α, β, γ, δ) = (1.3, 0.9, 0.8, 1.8),

from ``u(0) = 5 · U[0, 1)²`` (fixed seed), solved tightly on t ∈ [0, 5] and saved every 0.25
(21 times), plus Gaussian noise of 5e-3 × the per-state mean. Model: the known linear part plus
a network ``U: ℝ² → ℝ²`` (rbf activation exp(−x²), 2→5→5→5→2),

    û₁' = α û₁ + U₁(û),      û₂' = −δ û₂ + U₂(û),

solved with diffrax (Tsit5, rtol = atol = 1e-6, ``RecursiveCheckpointAdjoint``) from the first
noisy observation. Loss:

    L(θ) = mean_{i,k} (X̂_{ik} − X_{ik})²  +  Σ_{x ∈ 0:0.1:10} ‖∇_z U₁(z)|_{z=(x, 1)}‖²,

the second term a derivative of the network with respect to its input (101 grid points), taken
with ``nx.gradient`` and differentiated again, with respect to θ, by ``jax.grad``.

Training (:func:`stages`): the post's Adam on this loss from random weights stalls on a nearly
constant solution (mse ≈ 4.6 after 500 steps); here a multiple-shooting warm-up (Adam on
windows of 5 observations) comes first, then L-BFGS on the loss above. The penalty holds
``∇U₁`` small along ``u₂ = 1``, where the true missing term ``−β u₁ u₂`` is not flat: the
default 3000 steps fit the data to about 2 % (``data_rel_l2`` in ``metrics.json``, 900 steps:
9 %), the learned term stays about 17 % off the missing physics (``missing_term_rel_l2``);
without the penalty, ``nestax run lotka-volterra`` recovers it to 0.4 % (with a Gauss–Newton
stage and a third-derivative smoothness term) and then the equations themselves (SINDy).

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import seed_ude
    >>> problem = seed_ude.build(seed=0)
    >>> problem.data.shape
    (21, 2)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

from ..pinn import plot_curves, plot_losses
from . import _run

NAME = "seed-ude"
SUMMARY = "Lotka–Volterra UDE with a Σ‖∂U₁/∂(x,1)‖² penalty, solved with diffrax (Discourse seed)"
DEFAULT_ITERS = 3000  # 1333 warm-up (Adam on windows) + 1667 L-BFGS on the seed's loss
WARMUP_FRACTION = 4 / 9
WINDOW = 5  # observations per multiple-shooting window of the warm-up
LEARNING_RATE = 1e-2  # the post used Adam() (1e-3); 1e-2 gets far lower in 500 steps
P_TRUE = (1.3, 0.9, 0.8, 1.8)
T_SPAN = (0.0, 5.0)
SAVE_EVERY = 0.25
NOISE = 5e-3
REG_GRID = (0.0, 10.0, 101)
RTOL = ATOL = 1e-6
MAX_STEPS = 4096


def rbf(x: jax.Array) -> jax.Array:
    """``exp(−x²)``."""
    return jnp.exp(-(x**2))


def lotka_volterra(t, u, p):
    """The true right-hand side."""
    alpha, beta, gamma, delta = p
    return jnp.stack([alpha * u[0] - beta * u[0] * u[1], gamma * u[0] * u[1] - delta * u[1]])


def hybrid_rhs(t, u, model):
    """Known linear growth/decay plus the network: ``(α u₁ + U₁(u), −δ u₂ + U₂(u))``."""
    alpha, _, _, delta = P_TRUE
    nn = model(u)
    return jnp.stack([alpha * u[0] + nn[0], -delta * u[1] + nn[1]])


def init_network(key: jax.Array, dtype=None) -> eqx.nn.MLP:
    """``U: ℝ² → ℝ²``, Dense(2→5, rbf) → 2 × Dense(5→5, rbf) → Dense(5→2)."""
    return eqx.nn.MLP(2, 2, width_size=5, depth=3, activation=rbf, dtype=dtype, key=key)


def save_times(dtype=None) -> jax.Array:
    """0, 0.25, ..., 5 (21 times)."""
    n = round((T_SPAN[1] - T_SPAN[0]) / SAVE_EVERY) + 1
    return jnp.linspace(T_SPAN[0], T_SPAN[1], n, dtype=dtype)


def make_data(key: jax.Array, dtype=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(ts, clean, noisy)``: the true solution (Dopri8, rtol = atol = 1e-12 in float64) at
    the 21 save times, and the same plus noise 5e-3 × per-state mean, both shaped (21, 2).

    In float32 the tolerance is 100 × machine epsilon (1.2e-5) instead.
    """
    k_u0, k_noise = jax.random.split(key)
    ts = save_times(dtype)
    tol = max(1e-12, 100 * float(jnp.finfo(ts.dtype).eps))
    u0 = 5.0 * jax.random.uniform(k_u0, (2,), dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lotka_volterra),
        diffrax.Dopri8(),
        T_SPAN[0],
        T_SPAN[1],
        None,
        u0,
        args=jnp.asarray(P_TRUE, ts.dtype),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
        max_steps=100_000,
    )
    clean = sol.ys
    mean = jnp.mean(clean, axis=0, keepdims=True)
    noisy = clean + NOISE * mean * jax.random.normal(k_noise, clean.shape, clean.dtype)
    return ts, clean, noisy


def _solve(model, u0, t0, t1, saveat, step_ts, adjoint=None):
    if step_ts is None:
        controller = diffrax.PIDController(rtol=RTOL, atol=ATOL)
    else:
        controller = diffrax.StepTo(ts=step_ts)
    return diffrax.diffeqsolve(
        diffrax.ODETerm(hybrid_rhs),
        diffrax.Tsit5(),
        t0,
        t1,
        None,
        u0,
        args=model,
        saveat=saveat,
        stepsize_controller=controller,
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
        max_steps=MAX_STEPS,
    )


def predict(
    model: eqx.nn.MLP, u0: jax.Array, ts: jax.Array, step_ts: jax.Array | None = None
) -> jax.Array:
    """The hybrid model's solution from ``u0`` at the times ``ts``, shape (len(ts), 2).

    Tsit5 with ``PIDController(rtol=1e-6, atol=1e-6)``, or, when ``step_ts`` is given, exactly
    the steps ``step_ts`` (``diffrax.StepTo``; see :func:`accepted_steps`).
    """
    return _solve(model, u0, ts[0], ts[-1], diffrax.SaveAt(ts=ts), step_ts).ys


def accepted_steps(model: eqx.nn.MLP, u0: jax.Array, ts: jax.Array) -> jax.Array:
    """The step times ``t0 < t1 < ... < T`` that the adaptive solve of :func:`predict` takes.

    diffrax stops gradients through step-size selection (``lax.stop_gradient`` in
    ``PIDController``), so ``jax.grad`` of the adaptive loss is exactly the derivative of the
    loss solved with these steps held fixed. That fixed-step loss is a smooth function of the
    weights, which is what finite differences can check to 1e-6; the adaptive loss itself is
    only piecewise smooth (its step sizes move with the weights), and differs from it at
    first order by O(solver tolerance).
    """
    sol = _solve(model, u0, ts[0], ts[-1], diffrax.SaveAt(steps=True), None)
    n = int(sol.stats["num_accepted_steps"])
    return jnp.concatenate([ts[:1], sol.ts[:n]])


def regularization_points(dtype=None) -> jax.Array:
    """The 101 points (x, 1), x ∈ 0:0.1:10, shape (101, 2)."""
    x = jnp.linspace(*REG_GRID, dtype=dtype)
    return jnp.stack([x, jnp.ones_like(x)], axis=1)


def regularization(model: eqx.nn.MLP, points: jax.Array) -> jax.Array:
    """``Σ_z ‖∇U₁(z)‖²`` over the rows z of ``points``, with ``nx.gradient``."""
    grads = jax.vmap(nx.gradient(lambda z: model(z)[0]))(points)
    return jnp.sum(grads**2)


@dataclasses.dataclass(frozen=True)
class Problem:
    """Network, save times, clean and noisy data (21, 2), regularisation points (101, 2)."""

    model: eqx.nn.MLP
    ts: jax.Array
    clean: jax.Array
    data: jax.Array
    points: jax.Array

    def loss_terms(
        self, model: eqx.nn.MLP, step_ts: jax.Array | None = None
    ) -> dict[str, jax.Array]:
        """``{"mse": mean (X̂ − X)², "gradient_penalty": Σ ‖∇U₁(x, 1)‖²}``."""
        pred = predict(model, self.data[0], self.ts, step_ts)
        return {
            "mse": jnp.mean((pred - self.data) ** 2),
            "gradient_penalty": regularization(model, self.points),
        }

    def window_loss_terms(self, model: eqx.nn.MLP) -> dict[str, jax.Array]:
        """The warm-up loss: ``{"window_mse": ..., "gradient_penalty": ...}``, the trajectory
        solved from each of the first observations of ``WINDOW`` consecutive ones (multiple
        shooting; the flow is autonomous, so all share the times ``ts[:WINDOW]``)."""
        n = self.data.shape[0] - WINDOW + 1
        windows = jnp.stack([self.data[k : k + WINDOW] for k in range(n)])
        pred = jax.vmap(lambda u0: predict(model, u0, self.ts[:WINDOW]))(self.data[:n])
        return {
            "window_mse": jnp.mean((pred - windows) ** 2),
            "gradient_penalty": regularization(model, self.points),
        }

    def loss(self, model: eqx.nn.MLP, step_ts: jax.Array | None = None) -> jax.Array:
        """``L(θ)``, the sum of :meth:`loss_terms`."""
        terms = self.loss_terms(model, step_ts)
        return terms["mse"] + terms["gradient_penalty"]


def build(seed: int = 0, dtype=None) -> Problem:
    """Data (key ``seed``) and network (key ``seed + 1``) in ``dtype`` (default: JAX's float)."""
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    ts, clean, noisy = make_data(jax.random.key(seed), dtype)
    model = init_network(jax.random.key(seed + 1), dtype)
    return Problem(model=model, ts=ts, clean=clean, data=noisy, points=regularization_points(dtype))


def check_gradient(problem: Problem, **kwargs):
    """``nx.check_gradients`` of the loss at ``problem.model``, with the solver's steps fixed.

    See :func:`accepted_steps` for why the steps are fixed; ``jax.grad`` of the adaptive loss
    equals ``jax.grad`` of this one (tests/test_examples.py checks that).
    """
    steps = accepted_steps(problem.model, problem.data[0], problem.ts)
    return nx.check_gradients(lambda m: problem.loss(m, steps), problem.model, **kwargs)


def stages(iters: int) -> tuple[list, list]:
    """``(warm-up, main)`` stage lists for exactly ``iters`` steps (4/9 and 5/9 of them).

    Single shooting from random weights stalls (the known term α u₁ makes the first
    trajectories explode and Adam settles on a nearly constant solution, mse ≈ 4.6); the
    warm-up is Adam (1e-2) on windows of ``WINDOW`` observations, then L-BFGS on the seed's
    loss over the whole interval.
    """
    if iters < 2:
        raise ValueError(f"{NAME}: argument `iters` must be >= 2 (two stages); got {iters}")
    warm = min(iters - 1, max(1, round(WARMUP_FRACTION * iters)))
    return (
        [nx.Stage("adam", warm, learning_rate=LEARNING_RATE)],
        [nx.Stage("lbfgs", iters - warm)],
    )


@_run.example(NAME, DEFAULT_ITERS)
def run(args: _run.Args) -> dict[str, Any]:
    """Check the gradient at the initial weights; train (warm-up on windows, then L-BFGS on
    the seed's loss); write ``metrics.json`` (with ``data_rel_l2``, the fit against the data,
    and ``missing_term_rel_l2``) and the plots."""
    p = build(args.seed)
    check = check_gradient(p)
    warm_stages, main_stages = stages(args.iters)
    warm = nx.fit(p.window_loss_terms, p.model, warm_stages, progress=args.progress, every=50)
    result = nx.fit(p.loss_terms, warm.params, main_stages, progress=args.progress, every=50)
    joined = _run.join(warm, result)
    model = result.params
    pred = predict(model, p.data[0], p.ts)
    _, beta, gamma, _ = P_TRUE
    states = p.clean  # the true trajectory at the save times
    learned = jax.vmap(model)(states)
    true = jnp.stack([-beta * states[:, 0] * states[:, 1], gamma * states[:, 0] * states[:, 1]], 1)
    extra = {
        "initial_loss": float(p.loss(p.model)),
        "data_rel_l2": float(jnp.linalg.norm(pred - p.data) / jnp.linalg.norm(p.data)),
        "missing_term_rel_l2": float(jnp.linalg.norm(learned - true) / jnp.linalg.norm(true)),
        "final_terms": {k: float(v[-1]) for k, v in result.history.items()},
        "stages": [["warm-up " + s.name, s.steps] for s in warm_stages]
        + [[s.name, s.steps] for s in main_stages],
        "stopped": result.stopped,
    }
    metrics = _run.write_metrics(args.out_dir, NAME, joined, check, args.seed, extra)
    n_warm = len(warm.history["total"])
    plot_losses(
        joined.history, os.path.join(args.out_dir, "loss.png"), f"{NAME}: training loss",
        [(n_warm, "L-BFGS, whole interval")],
    )  # fmt: skip
    t_fine = jnp.linspace(p.ts[0], p.ts[-1], 200)
    fit = np.asarray(predict(model, p.data[0], t_fine))
    series = {}
    for k, name in enumerate(("prey u₁", "predator u₂")):
        series[f"data {name}"] = (p.ts, p.data[:, k], f"C{k}o")
        series[f"true {name}"] = (p.ts, p.clean[:, k], f"C{k}:")
        series[f"UDE fit {name}"] = (t_fine, fit[:, k], f"C{k}-")
    plot_curves(
        series,
        os.path.join(args.out_dir, "fit.png"),
        f"{NAME}: data vs UDE fit ({warm_stages[0].steps} warm-up + {main_stages[0].steps} "
        f"L-BFGS steps; {100 * metrics['data_rel_l2']:.2g} % off the data)",
        "t",
        "u",
        legend_outside=True,
    )
    return metrics
