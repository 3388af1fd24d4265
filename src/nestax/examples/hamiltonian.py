r"""hamiltonian: learn a pendulum's energy from trajectories; the ODE is the energy's gradient.

Data: the pendulum :math:`H(q, p) = p^2/2 + 1 − \cos q`, :math:`q' = p`, :math:`p' = −\sin q`,
from 16 random initial states (energies below the separatrix), solved tightly on
:math:`t ∈ [0, 4]`, saved every 0.1, plus Gaussian noise of 1e-3. Model: a network
:math:`H_θ: ℝ^2 → ℝ` (softplus, 2→32→32→1) and the Hamiltonian flow

.. math:: u' = J ∇H_θ(u) = (∂_p H_θ,\ −∂_q H_θ),

a :func:`nestax.ude.hamiltonian_ude` whose right-hand side is a derivative of the network with
respect to its input (``nx.gradient``). Training (Adam then L-BFGS, :func:`nestax.fit`) fits
every window of 5 consecutive observations from its first one: each loss evaluation solves
160 windows at once (``solve_many``, Tsit5 with a fixed step 0.1) and differentiates through
the solves, and through :math:`∇H_θ`, with respect to θ.

Held out: 4 new initial states, solved by the learned flow on :math:`t ∈ [0, 20]` (5 times the
training horizon; adaptive Tsit5, rtol = atol = 1e-8). ``metrics.json`` reports the relative
drift of the learned energy along them, :math:`\max_t |H_θ(u(t)) − H_θ(u(0))| / |H_θ(u(0)) −
H_θ(0)|` (``energy_drift_rel``), the drift of the true energy along the learned trajectories,
and their relative L2 error against the true ones, over the training horizon
(``trajectory_rel_l2_t_le_4``) and over all of it (``trajectory_rel_l2``).

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import hamiltonian
    >>> problem = hamiltonian.build(seed=0)
    >>> problem.windows.shape  # (windows, 5 observations, (q, p))
    (160, 5, 2)
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx
from nestax.ude import UDE, hamiltonian_ude

from ..pinn import plot_curves, plot_losses, stage_boundaries
from . import _run

NAME = "hamiltonian"
SUMMARY = (
    "pendulum learned as a Hamiltonian network: rhs = J∇H_θ (nx.gradient) trained through "
    "diffrax; learned-energy drift on held-out trajectories"
)
DEFAULT_ITERS = 1500  # 1000 Adam + 500 L-BFGS
ADAM_FRACTION = 2 / 3
LEARNING_RATE = 3e-3
N_TRAIN, N_TEST = 16, 4
T_TRAIN, T_TEST, DT = 4.0, 20.0, 0.1
WINDOW = 5  # observations per training window
NOISE = 1e-3
WIDTH = 32


def true_energy(u: jax.Array) -> jax.Array:
    """The pendulum's energy ``p²/2 + 1 − cos q``."""
    return 0.5 * u[1] ** 2 + 1.0 - jnp.cos(u[0])


def _pendulum(t: Any, u: jax.Array, args: Any) -> jax.Array:
    return jnp.stack([u[1], -jnp.sin(u[0])])


@jax.jit
def _true_solve(u0s: jax.Array, ts: jax.Array) -> jax.Array:
    """The pendulum from each row of ``u0s`` at the times ``ts`` (Dopri8, rtol = atol = 1e-12)."""
    solve = lambda u0: diffrax.diffeqsolve(
        diffrax.ODETerm(_pendulum), diffrax.Dopri8(), ts[0], ts[-1], None, u0,
        saveat=diffrax.SaveAt(ts=ts), max_steps=100_000,
        stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
    ).ys  # fmt: skip
    return jax.vmap(solve)(u0s)


def initial_states(key: jax.Array, n: int, dtype: Any = None) -> jax.Array:
    """``n`` states with energy in [0.1, 1.5] (libration: below the separatrix at 2)."""
    k_e, k_a = jax.random.split(key)
    energy = jax.random.uniform(k_e, (n,), dtype, 0.1, 1.5)
    angle = jax.random.uniform(k_a, (n,), dtype, 0.0, 2 * jnp.pi)
    # p²/2 + 1 − cos q = E: choose the share of kinetic energy by the angle
    kinetic = energy * jnp.sin(angle) ** 2
    q = jnp.sign(jnp.cos(angle)) * jnp.arccos(1.0 - (energy - kinetic))
    p = jnp.sign(jnp.sin(angle)) * jnp.sqrt(2 * kinetic)
    return jnp.stack([q, p], axis=1)


def init_network(key: jax.Array, dtype: Any = None) -> eqx.nn.MLP:
    """``H_θ: ℝ² → ℝ``, softplus, 2→32→32→1 (scalar output)."""
    return eqx.nn.MLP(2, "scalar", WIDTH, 2, activation=jax.nn.softplus, dtype=dtype, key=key)


def make_ude(**options: Any) -> UDE:
    """The Hamiltonian flow ``J ∇H_θ``, Tsit5 with a fixed step of 0.1 (``options`` override)."""
    settings = dict(stepsize_controller=diffrax.ConstantStepSize(), dt0=DT, max_steps=64)
    return hamiltonian_ude(**{**settings, **options})


@dataclasses.dataclass(frozen=True)
class Problem:
    """Training windows and held-out trajectories; shared by :func:`run` and the tests."""

    ude: UDE
    network: eqx.nn.MLP
    window_ts: jax.Array  # (WINDOW,): 0, 0.1, ..., 0.4 (the flow is autonomous)
    windows: jax.Array  # (n_windows, WINDOW, 2), noisy observations
    train_u0: jax.Array  # (N_TRAIN, 2)
    test_u0: jax.Array  # (N_TEST, 2)

    def loss_terms(self, network: Any) -> dict[str, jax.Array]:
        """``{"mse": mean over windows of (û − u)²}``, each window solved from its first row."""
        pred = self.ude.solve_many(network, self.windows[:, 0], self.window_ts).ys
        return {"mse": jnp.mean((pred - self.windows) ** 2)}

    def check_gradient(self, network: Any = None, **kwargs: Any):
        """:func:`nestax.check_gradients` of the loss (fixed steps: a smooth function)."""
        network = self.network if network is None else network
        return nx.check_gradients(self.loss_terms, network, **kwargs)

    def held_out(self, network: Any, ts: jax.Array) -> dict[str, Any]:
        """Learned and true trajectories from the held-out states, and the energy figures."""
        ude = hamiltonian_ude(rtol=1e-8, atol=1e-8, max_steps=100_000)
        learned = ude.solve_many(network, self.test_u0, ts).ys  # (N_TEST, T, 2)
        true = _true_solve(self.test_u0, ts)
        h = jax.vmap(jax.vmap(network))(learned)
        h_rest = network(jnp.zeros(2, learned.dtype))
        drift = jnp.max(jnp.abs(h - h[:, :1]), axis=1) / jnp.abs(h[:, 0] - h_rest)
        e_true = jax.vmap(jax.vmap(true_energy))(learned)
        true_drift = jnp.max(jnp.abs(e_true - e_true[:, :1]), axis=1) / e_true[:, 0]
        train_span = ts <= T_TRAIN
        rel = lambda mask: float(
            jnp.linalg.norm((learned - true)[:, mask]) / jnp.linalg.norm(true[:, mask])
        )
        return {
            "learned": learned,
            "true": true,
            "learned_energy": h - h_rest,
            "true_energy_on_learned": e_true,
            "energy_drift_rel": float(jnp.max(drift)),
            "true_energy_drift_rel": float(jnp.max(true_drift)),
            "trajectory_rel_l2_t_le_4": rel(train_span),
            "trajectory_rel_l2": rel(ts <= ts[-1]),
        }


def build(seed: int = 0, dtype: Any = None) -> Problem:
    """Data (key ``seed``) and network (key ``seed + 1``) in ``dtype`` (default JAX's float)."""
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    k_train, k_test, k_noise = jax.random.split(jax.random.key(seed), 3)
    train_u0 = initial_states(k_train, N_TRAIN, dtype)
    ts = jnp.linspace(0.0, T_TRAIN, round(T_TRAIN / DT) + 1, dtype=dtype)
    clean = _true_solve(train_u0, ts)  # (N_TRAIN, 41, 2)
    noisy = clean + NOISE * jax.random.normal(k_noise, clean.shape, dtype)
    starts = range(0, ts.shape[0] - WINDOW + 1, WINDOW - 1)
    windows = jnp.concatenate([noisy[:, s : s + WINDOW] for s in starts])
    return Problem(
        ude=make_ude(),
        network=init_network(jax.random.key(seed + 1), dtype),
        window_ts=ts[:WINDOW],
        windows=windows,
        train_u0=train_u0,
        test_u0=initial_states(k_test, N_TEST, dtype),
    )


def stages(iters: int) -> list:
    """Adam (learning rate 3e-3) for two thirds of ``iters``, then L-BFGS."""

    if iters < 2:
        raise ValueError(f"{NAME}: argument `iters` must be >= 2 (Adam, then L-BFGS); got {iters}")
    adam = min(iters - 1, max(1, round(ADAM_FRACTION * iters)))
    return [nx.Stage("adam", adam, learning_rate=LEARNING_RATE), nx.Stage("lbfgs", iters - adam)]


@_run.example(NAME, DEFAULT_ITERS)
def run(args: _run.Args) -> dict[str, Any]:
    """Check the gradient, train, evaluate on held-out states, write metrics and plots."""

    start = time.perf_counter()
    p = build(args.seed)
    check = p.check_gradient(n_directions=64)
    result = nx.fit(p.loss_terms, p.network, stages(args.iters), progress=args.progress, every=50)
    ts = jnp.linspace(0.0, T_TEST, round(T_TEST / DT) + 1)
    held = p.held_out(result.params, ts)
    keys = ("energy_drift_rel", "true_energy_drift_rel", "trajectory_rel_l2_t_le_4")
    extra = {k: held[k] for k in (*keys, "trajectory_rel_l2")}
    extra.update(
        held_out_horizon=T_TEST,
        train_horizon=T_TRAIN,
        stages=[[s.name, s.steps] for s in stages(args.iters)],
        stopped=result.stopped,
        compile_seconds=result.compile_seconds,
        total_seconds=time.perf_counter() - start,
    )
    metrics = _run.write_metrics(args.out_dir, NAME, result, check, args.seed, extra)
    boundaries = stage_boundaries(stages(args.iters), result.stage_steps)
    _write_plots(held, ts, result.history, args.out_dir, boundaries)
    return metrics


def _write_plots(
    held: dict[str, Any], ts: jax.Array, history: Any, out_dir: Any, boundaries: Any = ()
) -> None:
    out = os.fspath(out_dir)
    plot_losses(history, os.path.join(out, "loss.png"), f"{NAME}: loss", boundaries)
    series = {}
    for i in range(N_TEST):
        h = np.asarray(held["learned_energy"][i])
        e = np.asarray(held["true_energy_on_learned"][i])
        series[f"H_θ − H_θ(0), trajectory {i}"] = (ts, h, f"C{i}-")
        series[f"true energy, trajectory {i}"] = (ts, e, f"C{i}:")
    plot_curves(
        series, os.path.join(out, "energy.png"),
        f"{NAME}: energy along held-out trajectories (learned flow)", "t", "energy",
    )  # fmt: skip
    series = {}
    for i in range(N_TEST):
        learned, true = np.asarray(held["learned"][i]), np.asarray(held["true"][i])
        series[f"true {i}"] = (true[:, 0], true[:, 1], f"C{i}:")
        series[f"learned {i}"] = (learned[:, 0], learned[:, 1], f"C{i}-")
    plot_curves(
        series, os.path.join(out, "phase.png"), f"{NAME}: held-out, t ≤ 20", "q", "p",
        legend_outside=True,
    )  # fmt: skip
