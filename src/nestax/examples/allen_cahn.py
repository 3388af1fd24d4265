r"""allen-cahn: the Allen–Cahn benchmark of PirateNets / jaxpi, periodic in space.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad D = 10^{-4}, \quad (t, x) \in [0, 1] \times [-1, 1],
    \qquad u(0, x) = x^2 \cos \pi x, \quad u(t, -1) = u(t, 1) .

Points are ``(t, x)``. **Exact periodicity**: the network sees :math:`x` only through the
Fourier features :math:`\gamma(x) = (\cos k\pi x, \sin k\pi x)_{k=1}^{K}`, so
:math:`N_\theta(t, \gamma(x))` is 2-periodic in :math:`x` (with all its derivatives) for every
weight. **Exact initial data**: the trial function is

.. math::
    u_\theta(t, x) = x^2 \cos \pi x + t\, N_\theta(t, \gamma(x)),

(a :class:`nestax.pinn.HardConstraint`), periodic too since :math:`u_0(-1) = u_0(1)`. (Its
:math:`x`-derivative keeps the jump :math:`u_0'(1) - u_0'(-1) = -4` of the initial data; the
exact solution is smooth across :math:`x = \pm 1` for :math:`t > 0`, but sits in the stable
well :math:`u \approx -1` there, so the difference is confined to a thin layer.) The loss is
the residual alone, :math:`u_t` and :math:`u_{xx}` by :func:`nestax.gradient` and
:func:`nestax.partial` through the embedding.

**Training** (float64), in two phases. Adam with *causal weights* (Wang, Sankaran &
Perdikaris 2024) on points on ``n_t`` time slices (:func:`slice_points`): with :math:`L_i` the
mean squared residual of slice :math:`i`, the loss is

.. math::
    \frac{1}{n_t}\sum_i w_i L_i, \qquad w_i = \exp\Big(-\varepsilon \sum_{j<i} L_j\Big)
    \quad (\text{no gradient through } w),

so later times count only once the earlier ones are fitted. Then Gauss–Newton (energy natural
gradient with Levenberg–Marquardt damping) on the plain residual at ``n_interior`` Sobol
points, in residual form (:meth:`nestax.pinn.Problem.residuals`; with more points than
weights, so the residual cannot simply be interpolated to zero). Gauss–Newton does most of
the work: it reaches the right solution from where Adam leaves it (a relative error of 0.4).
The loss history joins the two phases (the causal loss, then the plain one).

The reference is a Fourier pseudo-spectral ETDRK4 solution
(:mod:`nestax.examples.allen_cahn_reference`) on jaxpi's grid: 201 times on :math:`[0, 1]`,
512 points of :math:`[-1, 1)`. jaxpi publishes a relative L2 error of 5.4e-5 (PirateNet, GPU,
far longer training); ``metrics.json`` reports it beside ours.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import allen_cahn
    >>> problem = allen_cahn.build(n_interior=16)
    >>> net = allen_cahn.network(jax.random.key(0), width=8, depth=1, n_modes=2)
    >>> u = problem.trial(net)
    >>> float(u(jnp.array([0.0, 1.0])))  # the initial data x² cos πx at x = 1
    -1.0
    >>> bool(abs(u(jnp.array([0.3, -1.0])) - u(jnp.array([0.3, 1.0]))) < 1e-12)  # periodic
    True
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx
from nestax import pinn

from . import _run, allen_cahn_reference

NAME = "allen-cahn"
SUMMARY = (
    "Allen–Cahn u_t − 1e-4 u_xx + 5u³ − 5u = 0 (PirateNet benchmark), Fourier-feature "
    "periodicity, exact IC, causal Adam → Gauss–Newton"
)
ADAM_STEPS = 1000
DEFAULT_ITERS = 1600  # causal Adam 1 000, then Gauss-Newton 3 x 200 (RAD between rounds)
ROUNDS = 3
D = allen_cahn_reference.D
GAMMA = allen_cahn_reference.GAMMA
JAXPI_REL_L2 = 5.4e-5  # jaxpi's published relative L2 error (PirateNet, allen_cahn)


def initial(p: jax.Array) -> jax.Array:
    """:math:`u_0(x) = x^2 \\cos \\pi x` at ``p = (t, x)``."""
    return p[1] ** 2 * jnp.cos(jnp.pi * p[1])


def residual(u, p):
    r""":math:`u_t - D u_{xx} + 5u^3 - 5u` at ``p = (t, x)``."""
    ut = nx.gradient(u)(p)[0]
    uxx = nx.partial(u, (0, 2))(p)
    v = u(p)
    return ut - D * uxx + GAMMA * (v**3 - v)


class FourierNet(eqx.Module):
    """:math:`N(t, x) = \\text{MLP}(t, \\cos k\\pi x, \\sin k\\pi x;\\ k = 1..K)`, a scalar."""

    mlp: eqx.nn.MLP
    n_modes: int = eqx.field(static=True)

    def __call__(self, p: jax.Array) -> jax.Array:
        kx = jnp.pi * jnp.arange(1, self.n_modes + 1, dtype=p.dtype) * p[1]
        return jnp.reshape(self.mlp(jnp.concatenate([p[:1], jnp.cos(kx), jnp.sin(kx)])), ())


def network(key: jax.Array, width: int = 32, depth: int = 3, n_modes: int = 10) -> FourierNet:
    """A tanh MLP of ``depth`` hidden layers of ``width`` on the ``1 + 2 n_modes`` features."""
    for name, v, low in (("width", width, 1), ("depth", depth, 1), ("n_modes", n_modes, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise ValueError(f"{NAME}: argument `{name}` must be an integer >= {low}; got {v!r}")
    return FourierNet(pinn.mlp(key, 1 + 2 * n_modes, width=width, depth=depth), int(n_modes))


def slice_points(n_t: int, n_x: int, seed: int = 0) -> np.ndarray:
    """``n_t · n_x`` points ``(t, x)``, slice by slice in time: ``t`` at the midpoints of
    ``n_t`` equal cells of :math:`[0, 1]` jittered within their cell, ``x`` a shifted uniform
    grid of :math:`[-1, 1)` per slice (the shift random), so every slice covers the period."""
    for name, v in (("n_t", n_t), ("n_x", n_x)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{NAME}: argument `{name}` must be an integer >= 1; got {v!r}")
    rng = np.random.default_rng(seed)
    t = (np.arange(n_t) + rng.uniform(0.0, 1.0, n_t)) / n_t
    shift = rng.uniform(0.0, 2.0 / n_x, (n_t, 1))
    x = -1.0 + shift + 2.0 * np.arange(n_x)[None, :] / n_x
    return np.stack([np.repeat(t, n_x), x.ravel()], 1)


def build(n_interior: int = 4096, seed: int = 0) -> pinn.Problem:
    """The problem with ``n_interior`` Sobol points (the Gauss–Newton phase) and the exact
    initial data; the causal phase trains on :func:`slice_points` instead."""
    domain = pinn.TimeSpace(0.0, 1.0, pinn.Interval(-1.0, 1.0))
    return pinn.Problem(
        residual,
        domain,
        n_interior=n_interior,
        seed=seed,
        constraint=pinn.HardConstraint(lambda p: p[0], initial),
    )


def causal_loss(problem: pinn.Problem, n_t: int, epsilon: float):
    """``loss(params, data)`` → ``{"residual": mean_i w_i L_i}`` over the ``n_t`` slices of
    ``data["residual"]`` (rows slice by slice, :func:`slice_points`), :math:`w_i` the causal
    weights (no gradient through them)."""

    def loss(params: Any, data: Any) -> dict[str, jax.Array]:
        r2 = problem.pointwise_residual(params, data["residual"])
        per_slice = jnp.mean(jnp.reshape(r2, (n_t, -1)), axis=1)
        earlier = jnp.cumsum(per_slice) - per_slice
        w = jax.lax.stop_gradient(jnp.exp(-epsilon * earlier))
        return {"residual": jnp.mean(w * per_slice)}

    return loss


def stages(
    iters: int,
    adam_steps: int = ADAM_STEPS,
    rounds: int = 1,
    learning_rate: float = 1e-3,
    damping: float = 1e-3,
) -> tuple[list[nx.Stage], list[nx.Stage], list[nx.Stage], int]:
    """``(causal_adam, first_round, later_rounds, rounds)`` for exactly ``iters`` steps: Adam for
    ``min(adam_steps, 2 iters // 3)`` steps (at least 1), then ``rounds`` rounds of
    Gauss–Newton sharing the rest (the first round takes the remainder of the division);
    fewer rounds when there are fewer steps than rounds, none when nothing is left."""
    for name, v in (("iters", iters), ("rounds", rounds)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{NAME}: argument `{name}` must be an integer >= 1; got {v!r}")
    iters, rounds = int(iters), int(rounds)
    adam = min(adam_steps, max(2 * iters // 3, 1))
    first = [nx.Stage("adam", adam, learning_rate=learning_rate)]
    rest = iters - adam
    rounds = min(rounds, rest)
    if rounds == 0:
        return first, [], [], 0
    per_round = rest // rounds
    gn = lambda n: [nx.Stage("gauss-newton", n, damping=damping)]  # noqa: E731
    return first, gn(per_round + rest % rounds), gn(per_round) if rounds > 1 else [], rounds


def reference_grid():
    """jaxpi's grid: ``(T, X, u*)``, each ``(201, 512)``."""
    t, x, u = allen_cahn_reference.reference()
    tt, xx = np.meshgrid(t, x, indexing="ij")
    return tt, xx, u


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, n_t: int = 32, n_x: int = 64, n_interior: int = 4096, width: int = 24,
    depth: int = 3, n_modes: int = 8, adam_steps: int = ADAM_STEPS,
    learning_rate: float = 1e-3, epsilon: float = 1.0, damping: float = 1e-3,
    rounds: int = ROUNDS, pool: int = 50_000,
) -> dict[str, Any]:  # fmt: skip
    """Train (causal Adam on ``n_t × n_x`` slice points, then Gauss–Newton on ``n_interior``
    Sobol points, in ``rounds`` with RAD resampling between them when ``rounds > 1``), then
    write ``metrics.json`` (``rel_l2_error`` on jaxpi's 201 × 512 grid) and plots
    (``solution.png``, ``loss.png``, ``slices.png``)."""
    seed, progress = args.seed, args.progress
    causal_stages, first, later, rounds = stages(
        args.iters, adam_steps, rounds, learning_rate, damping
    )
    problem = build(n_interior, seed)
    net = network(jax.random.key(seed), width, depth, n_modes)
    causal = causal_loss(problem, n_t, epsilon)
    data = {"residual": jnp.asarray(slice_points(n_t, n_x, seed))}
    # of the plain residual loss: the causal weights hold no gradient by design, so finite
    # differences of the causal loss (which see the weights move) differ from its gradient
    plain = problem.loss()
    check = nx.check_gradients(lambda p: plain(p)["residual"], net, n_directions=8)
    tt, xx, ref = reference_grid()
    grid_points = np.stack([tt.ravel(), xx.ravel()], 1)
    t0 = time.perf_counter()
    warm = nx.fit(causal, net, causal_stages, data=data, progress=progress)
    params, history = warm.params, dict(warm.history)
    boundaries = pinn.stage_boundaries(causal_stages, warm.stage_steps)
    errors = [pinn.evaluate(problem, params, grid_points, ref.ravel())["rel_l2_error"]]
    seconds = [time.perf_counter() - t0]
    if rounds:

        def after_round(r, p):
            seconds.append(time.perf_counter() - t0)
            errors.append(pinn.evaluate(problem, p, grid_points, ref.ravel())["rel_l2_error"])

        out = problem.train(
            params, first, rounds=rounds, later_stages=later or None,
            resampler=pinn.RAD(pool=pool, keep=0.5) if rounds > 1 else None,
            key=jax.random.key(seed + 1), progress=progress, callback=after_round,
        )  # fmt: skip
        params = out.params
        boundaries.append((warm.steps, "gauss-newton"))
        boundaries += [(warm.steps + k, label) for k, label in out.boundaries]
        history = {k: np.concatenate([history[k], out.history[k]]) for k in history}
    result = _run.Rounds(params, history, time.perf_counter() - t0)
    extra = {
        "jaxpi_published_rel_l2": JAXPI_REL_L2,
        "rel_l2_error_after_causal_adam": errors[0],
        "rel_l2_error_by_round": errors[1:],
        "seconds_by_round": seconds[1:],
        "seconds_causal_adam": seconds[0],
        "n_t": n_t,
        "n_x": n_x,
        "n_interior": n_interior,
        "width": width,
        "depth": depth,
        "n_modes": n_modes,
        "epsilon": epsilon,
        "rounds": rounds,
        "stages_causal": [repr(s) for s in causal_stages],
        "stages_first_round": [repr(s) for s in first],
        "stages_later_rounds": [repr(s) for s in later],
    }
    return _run.report_time_field(
        args, problem, result, check, (tt, xx), ref, [50, 100, 200], boundaries, extra
    )
