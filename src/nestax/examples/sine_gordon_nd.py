r"""sine-gordon-nd: :math:`\Delta u + \sin u = g` on the unit ball of :math:`\mathbb{R}^d`, with a
randomized (STDE) Laplacian — the cost per point does not grow with :math:`d` — or the exact
one by input-subspace reduction (``estimator="exact"``).

The exact solution (Shi et al. 2024, "STDE") is

.. math::
    u^*(x) = (1 - |x|^2) \sum_{i=1}^{d-1} c_i \sin(x_i + \cos x_{i+1} + x_{i+1} \cos x_i),

:math:`c_i \sim N(0, 1)` fixed by the seed, and :math:`g = \Delta u^* + \sin u^*` is computed in
closed form (:func:`forcing`): with :math:`\varphi = 1 - |x|^2` and :math:`S` the sum,
:math:`\Delta u^* = -2d\,S - 4\,x\cdot\nabla S + \varphi\,\Delta S`, each an :math:`O(d)` sum
over the terms :math:`c_i \sin\theta_i`.

The trial function :math:`u_\theta = (1 - |x|^2) N_\theta(x)` vanishes on the sphere
(:func:`nestax.pinn.unit_ball_ansatz`). Each Adam step draws fresh points uniformly in the ball
and, per point, ``samples`` coordinates for the STDE estimate
:math:`\widehat{\Delta u} = \frac{d}{S}\sum_{i\in I}\partial_i^2 u`. With ``estimator="exact"``
the Laplacian of the network is ``nestax.laplacian`` with ``auto``, which reduces it to the
``width``-dimensional span that the first layer reads (strategy ``"reduced"``): exact, and
``width + 2`` vectors per point whatever ``d``. ``time_budget`` (seconds) trains each estimator
for the same wall-clock time, to compare their errors.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import sine_gordon_nd as sg
    >>> c = sg.coefficients(5, seed=0)
    >>> x = jnp.full(5, 0.1)
    >>> lap = jnp.trace(jax.hessian(lambda y: sg.exact(y, c))(x))
    >>> bool(jnp.allclose(sg.forcing(x, c), lap + jnp.sin(sg.exact(x, c))))
    True
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import nestax as nx
from nestax import pinn

from . import _run

NAME = "sine-gordon-nd"
SUMMARY = (
    "Δu + sin u = g on the unit ball in d dimensions (d = 1 000), STDE or exact reduced Laplacian"
)
DEFAULT_ITERS = 3000
ESTIMATORS = ("stde", "hutchinson", "exact")


def coefficients(d: int, seed: int = 0) -> jax.Array:
    return jax.random.normal(jax.random.key(10_000 + seed), (d - 1,))


def _theta(x):
    p, q = x[:-1], x[1:]
    th = p + jnp.cos(q) + q * jnp.cos(p)
    return p, q, th


def exact(x: jax.Array, c: jax.Array) -> jax.Array:
    """:math:`u^*(x)` at one point."""
    _, _, th = _theta(x)
    return (1.0 - jnp.sum(x**2)) * jnp.sum(c * jnp.sin(th))


def forcing(x: jax.Array, c: jax.Array) -> jax.Array:
    """:math:`g = \\Delta u^* + \\sin u^*` at one point, in closed form (:math:`O(d)`)."""
    p, q, th = _theta(x)
    tp, tq = 1.0 - q * jnp.sin(p), -jnp.sin(q) + jnp.cos(p)
    tpp, tqq = -q * jnp.cos(p), -jnp.cos(q)
    s = jnp.sum(c * jnp.sin(th))
    lap_s = jnp.sum(c * (jnp.cos(th) * (tpp + tqq) - jnp.sin(th) * (tp**2 + tq**2)))
    x_grad_s = jnp.sum(c * jnp.cos(th) * (p * tp + q * tq))
    phi = 1.0 - jnp.sum(x**2)
    lap_u = -2.0 * x.size * s - 4.0 * x_grad_s + phi * lap_s
    return lap_u + jnp.sin(phi * s)


def build(d: int, seed: int = 0, width: int = 128, depth: int = 3, dtype=None):
    """``(network, trial(params) -> u, coefficients)`` in ``dtype`` (default: JAX's float)."""
    net = pinn.mlp(jax.random.key(seed), d, width=width, depth=depth, dtype=dtype)
    ansatz = pinn.unit_ball_ansatz(d)  # wraps a network into a nestax.BallAnsatz
    c = coefficients(d, seed)
    c = c if dtype is None else c.astype(dtype)
    return net, lambda params: ansatz.wrap(network_fn(params)), c


def make_loss(
    d: int,
    trial,
    c,
    n_points: int,
    samples: int,
    estimator: str = "stde",
    product_rule: bool = True,
    shared: bool = True,
):
    r"""``loss(params, key)``: fresh uniform points in the ball and fresh STDE coordinates.

    With ``product_rule`` the Laplacian of the ansatz :math:`u = \varphi N`,
    :math:`\varphi = 1 - |x|^2` (a :class:`nestax.BallAnsatz`) is split by the product rule,
    :math:`\Delta u = -2d\,N - 4\,x\cdot\nabla N + \varphi\,\widehat{\Delta N}`:
    the first two terms are exact (one jvp along x), only :math:`\Delta N` is estimated, and its
    variance is damped by :math:`\varphi^2` (small where uniform points in high dimension
    live). Without it, STDE estimates :math:`\Delta u` directly.

    ``shared=True`` (default) draws one set of coordinates (or probes) per step for the whole
    batch, as STDE does: the directions are then the same for every point, so their
    ``samples x d`` one-hot rows meet the first layer once per step instead of once per point,
    and the estimator's memory per point does not grow with ``d``. Each point's estimate stays
    unbiased; ``shared=False`` draws them per point.
    """
    ball = pinn.Ball.unit(d)
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"sine-gordon-nd: argument `estimator` must be one of {ESTIMATORS}; got {estimator!r}"
        )
    method = "auto" if estimator == "exact" else estimator

    def loss(params, key):
        kx, kp = jax.random.split(key)
        x = ball.sample_uniform(kx, n_points).astype(c.dtype)
        u = trial(params)

        def lap_u(xi, ki):
            options = {} if estimator == "exact" else {"key": ki, "samples": samples}
            if product_rule:  # only the network's Laplacian is estimated
                return u.laplacian(method=method, **options)(xi)
            return nx.laplacian(u, method=method, **options)(xi)

        def res(xi, ki):
            return lap_u(xi, ki) + jnp.sin(u(xi)) - forcing(xi, c)

        if shared:  # one probe set per step for the whole batch (unbatched directions)
            r = jax.vmap(res, in_axes=(0, None))(x, kp)
        else:
            r = jax.vmap(res)(x, jax.random.split(kp, n_points))
        return {"residual": jnp.mean(r**2)}

    return loss


def estimator_memory(
    d: int,
    estimator: str = "stde",
    n_points: int = 100,
    samples: int = 8,
    width: int = 64,
    product_rule: bool = True,
) -> dict[str, float]:
    """Compiled memory (MiB) of one training gradient, with and without the Laplacian term.

    ``with``: the example's loss; ``without``: the same loss with ``Δu`` left out (network,
    points, forcing and ``sin u`` kept). Their difference is the memory the Laplacian estimator
    itself needs; the rest (the points, the ``width x d`` first layer) grows with ``d`` for any
    method. With ``product_rule`` (as trained) the estimator only meets ``N``, which reads ``x``
    linearly, and the exact ``x . grad N`` is one ``jvp`` along ``x``; without it, the estimate
    of ``Δu`` also differentiates ``1 - |x|^2`` along each coordinate, a ``d``-vector per point.
    XLA's compile-time memory analysis: arguments + outputs + temporaries.
    """
    net, trial, c = build(d, 0, width, 3, jnp.float32)
    full = make_loss(d, trial, c, n_points, samples, estimator, product_rule)
    ball = pinn.Ball.unit(d)

    def bare(params, key):
        x = ball.sample_uniform(key, n_points).astype(c.dtype)
        u = trial(params)
        r = jax.vmap(lambda xi: jnp.sin(u(xi)) - forcing(xi, c))(x)
        return {"residual": jnp.mean(r**2)}

    def mib(loss) -> float:
        grad, dynamic = _residual_grad(loss, net)
        m = grad.lower(dynamic, jax.random.key(0)).compile().memory_analysis()
        total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
        return (total - m.alias_size_in_bytes) / 2**20

    with_lap, without = mib(full), mib(bare)
    return {"with": with_lap, "without": without, "estimator": with_lap - without}


def network_fn(params):
    r"""The network :math:`N(x) = \sqrt d\, \text{MLP}(\sqrt d\, x)` of the ansatz.

    Uniform points of the ball in high dimension have coordinates of size :math:`1/\sqrt d`
    and :math:`S(x)` is a sum of :math:`d - 1` terms of random sign, of size :math:`\sqrt d`:
    both scalings bring the MLP's inputs and outputs to order one.
    """

    def n(x):
        r = jnp.sqrt(jnp.asarray(x.size, x.dtype))
        return r * jnp.reshape(params(r * x), ())

    return n


def _residual_grad(loss, params):
    """``(jit(grad of the residual over the arrays of params), those arrays)``."""
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    grad = jax.jit(jax.grad(lambda p, k: loss(eqx.combine(p, static), k)["residual"]))
    return grad, dynamic


def _step_seconds(loss, params, n: int = 10) -> float:
    """Mean time of one gradient step over ``n`` steps, after a warm-up (the compile)."""
    grad, dynamic = _residual_grad(loss, params)
    key = jax.random.key(0)
    jax.block_until_ready(grad(dynamic, key))
    t0 = time.perf_counter()
    for i in range(n):
        jax.block_until_ready(grad(dynamic, jax.random.fold_in(key, i)))
    return (time.perf_counter() - t0) / n


def rel_l2(trial, params, c, x) -> float:
    pred = jax.vmap(trial(params))(x)
    ref = jax.vmap(lambda y: exact(y, c))(x)
    return pinn.relative_l2(pred, ref)


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, d: int = 1000, n_points: int = 100, samples: int = 8, width: int = 64,
    depth: int = 3, learning_rate: float = 1e-3, n_test: int = 2000, estimator: str = "stde",
    dtype: str = "float32", product_rule: bool = True, time_budget: float | None = None,
    shared: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Train with Adam (cosine-decayed rate), then write ``metrics.json`` and plots.

    With ``time_budget`` (seconds), ``iters`` is replaced by the number of steps that fit in
    the budget (the step is timed over 10 steps first) and training stops when the budget is
    spent, compilation included.
    """
    iters = args.iters
    # float32 by default: the 1e-2 target is far above its round-off, and it halves the time
    net, trial, c = build(d, args.seed, width, depth, jnp.dtype(dtype))
    loss = make_loss(d, trial, c, n_points, samples, estimator, product_rule, shared)
    x_test = jnp.asarray(pinn.Ball.unit(d).sample(n_test, seed=args.seed + 12345), c.dtype)
    # directional finite-difference check (d·width weights are too many one by one); the loss
    # is evaluated in float32 by default, so the differences carry ~1e-5 relative noise
    check = nx.check_gradients(
        lambda p: loss(p, jax.random.key(0))["residual"],
        net,
        n_directions=8,
        rtol=1e-4 if jnp.dtype(dtype) == jnp.float32 else 1e-6,
    )
    callback = None
    step_s = None
    if time_budget is not None:
        step_s = _step_seconds(loss, net)
        iters = max(int(time_budget / step_s), 1)
        start = time.perf_counter()
        callback = lambda k, p, terms: time.perf_counter() - start > time_budget
    schedule = optax.cosine_decay_schedule(learning_rate, iters, alpha=1e-2)
    t0 = time.perf_counter()
    result = nx.fit(
        loss,
        net,
        [nx.Stage("adam", iters, learning_rate=schedule)],
        key=jax.random.key(args.seed + 1),
        progress=args.progress,
        every=50 if time_budget is not None else 100,
        callback=callback,
    )
    wall = time.perf_counter() - t0
    err = rel_l2(trial, result.params, c, x_test)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    metrics = _run.write_metrics(
        args.out_dir,
        NAME,
        result,
        check,
        args.seed,
        extra={
            "rel_l2_error": err,
            "d": d,
            "n_points": n_points,
            "samples": samples,
            "estimator": estimator,
            "dtype": dtype,
            "product_rule": product_rule,
            "shared_probes": shared,
            "width": width,
            "depth": depth,
            "train_wall_seconds": wall,
            "time_budget": time_budget,
            "step_seconds_probe": step_s,
            "peak_rss_mb": peak_mb,
        },
    )
    pinn.plot_losses(result.history, os.path.join(args.out_dir, "loss.png"), f"{NAME} d={d}: loss")
    r = jnp.linalg.norm(x_test, axis=1)
    pred = jax.vmap(trial(result.params))(x_test)
    ref = jax.vmap(lambda y: exact(y, c))(x_test)
    pinn.plot_curves(
        {"u* (exact)": (r, ref, "k."), "PINN": (r, pred, "C1.")},
        os.path.join(args.out_dir, "solution.png"),
        f"{NAME} d={d}: rel. L2 {err:.2e}",
        "|x|",
        "u",
    )
    return metrics
