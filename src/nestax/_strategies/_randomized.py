r"""Randomized, unbiased estimators of trace-type second-order operators (Laplacian and
diagonal-coefficient sums :math:`L f = \sum_i a_i\, \partial^2 f/\partial x_i^2`).

**Hutchinson.** For probes :math:`v` with :math:`E[v v^\top] = I` (Rademacher :math:`\pm 1`, or
standard Gaussian),

.. math::
    L f(x) = \operatorname{tr}(A H) = E\big[v^\top H\,(a \odot v)\big], \qquad
    \widehat{Lf} = \frac1S \sum_{s=1}^S v_s^\top H\, (a \odot v_s),

with :math:`H` the Hessian of :math:`f` at :math:`x` and :math:`A = \operatorname{diag}(a)`.
Each term is one mixed second directional derivative
:math:`\partial_r \partial_s f(x + s v + r w)|_0`, computed forward-over-forward
(``jvp`` of ``jvp``) or forward-over-reverse (``jvp`` of the gradient, then a dot product):
the cost is about :math:`S + 2` forward passes, **independent of d**. With
:math:`B = HA`, the variance of one probe is :math:`\tfrac12\sum_{i \ne j}(B_{ij} + B_{ji})^2`
for Rademacher probes (for the Laplacian :math:`2\sum_{i\ne j} H_{ij}^2`: exact when
:math:`H` is diagonal) and :math:`\tfrac12\|B + B^\top\|_F^2` for Gaussian probes
(:math:`2\|H\|_F^2`). Forward-over-reverse takes a scalar ``f`` only.

**STDE sparse coordinate sampling** (Shi et al. 2024). Draw :math:`S` of the :math:`d`
coordinates uniformly without replacement, :math:`I \subset \{1..d\}`:

.. math::
    \widehat{Lf} = \frac{d}{S} \sum_{i \in I} a_i\, \partial_i^2 f(x),

unbiased because each coordinate is in :math:`I` with probability :math:`S/d`. Each
:math:`\partial_i^2 f` is one forward-over-forward ``jvp`` along :math:`e_i`.

Both need a PRNG ``key``; the same key gives the same probes. ``estimator_samples`` returns
the :math:`S` single-probe estimates, and ``estimator_variance`` their mean, variance and
standard error, so the user can size :math:`S`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from nestax._strategies._randomized import apply_hutchinson
    >>> f = lambda x: jnp.sum(x**2)  # Δf = 2d; Rademacher probes are exact for a diagonal H
    >>> terms = {(2, 0, 0): 1.0, (0, 2, 0): 1.0, (0, 0, 2): 1.0}
    >>> float(apply_hutchinson(terms, f, jnp.ones(3), key=jax.random.key(0), samples=4)[0])
    6.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._protocol import Problem, Proposal

PROBES = ("rademacher", "gaussian")
MODES = ("forward-over-forward", "forward-over-reverse")


def diagonal_coefficients(terms: Mapping[tuple[int, ...], float], d: int, op: str) -> jax.Array:
    """The :math:`a_i` of :math:`\\sum_i a_i \\partial_i^2`, or a ``ValueError`` naming the
    offending multi-indices (randomized estimators handle only these trace-type operators).
    ``terms=None`` is the Laplacian (all :math:`a_i = 1`), without a d-sized dict."""
    if terms is None:
        return jnp.ones(d)
    a = [0.0] * d
    bad = []
    for alpha, c in terms.items():
        if len(alpha) != d:
            raise ValueError(f"{op}: multi-index {alpha} has length {len(alpha)}; expected d={d}")
        nz = [i for i, k in enumerate(alpha) if k]
        if len(nz) == 1 and alpha[nz[0]] == 2:
            a[nz[0]] += float(c)
        else:
            bad.append(alpha)
    if bad:
        raise ValueError(
            f"{op}: randomized estimators take operators Σ a_i ∂²/∂x_i² (Laplacian-type) only; "
            f"got the terms {bad[:4]}{' ...' if len(bad) > 4 else ''}"
        )
    return jnp.asarray(a)


def _split(f: Callable[..., Any], has_aux: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if has_aux:
        return (lambda x: f(x)[0]), (lambda x: f(x)[1])
    return f, (lambda x: None)


def _second_directional(y: Callable[..., Any], x, v, w, mode: str):
    r""":math:`v^\top H w` (per output component), without forming :math:`H`."""
    if mode == "forward-over-forward":
        return jax.jvp(lambda z: jax.jvp(y, (z,), (w,))[1], (x,), (v,))[1]
    if mode == "forward-over-reverse":
        hw = jax.jvp(jax.grad(y), (x,), (w,))[1]  # H w (scalar y only)
        return jnp.vdot(v, hw)
    raise ValueError(f"hutchinson: unknown mode={mode!r}; expected one of {MODES}")


def _check(key, samples: int, op: str) -> None:
    if key is None:
        raise ValueError(
            f"{op}: a randomized estimator needs a PRNG key; pass key=jax.random.key(...)"
        )
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"{op}: argument `samples` must be an integer >= 1; got {samples!r}")


def hutchinson_samples(
    terms,
    f,
    x,
    *,
    has_aux=False,
    key=None,
    samples=16,
    probe="rademacher",
    mode="forward-over-forward",
) -> jax.Array:
    """The ``samples`` single-probe estimates :math:`v_s^\\top H (a \\odot v_s)`, stacked."""
    _check(key, samples, "hutchinson")
    if probe not in PROBES:
        raise ValueError(f"hutchinson: unknown probe={probe!r}; expected one of {PROBES}")
    x = jnp.asarray(x)
    a = diagonal_coefficients(terms, x.size, "hutchinson").astype(x.dtype)
    if probe == "rademacher":
        v = jax.random.rademacher(key, (samples, x.size), dtype=x.dtype)
    else:
        v = jax.random.normal(key, (samples, x.size), dtype=x.dtype)
    y, _ = _split(f, has_aux)
    return jax.vmap(lambda p: _second_directional(y, x, p, a * p, mode))(v)


def stde_samples(terms, f, x, *, has_aux=False, key=None, samples=16) -> jax.Array:
    """The ``samples`` scaled single-coordinate estimates :math:`d\\, a_i \\partial_i^2 f`, for
    coordinates drawn without replacement (their mean is the STDE estimate)."""
    _check(key, samples, "stde")
    x = jnp.asarray(x)
    d = x.size
    if samples > d:
        raise ValueError(f"stde: argument `samples`={samples} exceeds the dimension d={d}")
    a = diagonal_coefficients(terms, d, "stde").astype(x.dtype)
    idx = jax.random.choice(key, d, (samples,), replace=False)
    y, _ = _split(f, has_aux)

    def one(i):
        e = jax.nn.one_hot(i, d, dtype=x.dtype)
        return d * a[i] * _second_directional(y, x, e, e, "forward-over-forward")

    return jax.vmap(one)(idx)


def _mean(estimates: jax.Array, f, x, has_aux: bool) -> tuple[Any, Any]:
    return jnp.mean(estimates, axis=0), _split(f, has_aux)[1](x)


def apply_hutchinson(terms, f, x, *, has_aux=False, **options: Any) -> tuple[Any, Any]:
    """Hutchinson estimate of :math:`\\sum_i a_i \\partial_i^2 f(x)`; returns ``(value, aux)``.
    ``options``: those of `hutchinson_samples` (``key``, ``samples``, ``probe``, ``mode``)."""
    return _mean(hutchinson_samples(terms, f, x, has_aux=has_aux, **options), f, x, has_aux)


def apply_stde(terms, f, x, *, has_aux=False, **options: Any) -> tuple[Any, Any]:
    """STDE estimate of :math:`\\sum_i a_i \\partial_i^2 f(x)`; returns ``(value, aux)``.
    ``options``: those of `stde_samples` (``key``, ``samples``)."""
    return _mean(stde_samples(terms, f, x, has_aux=has_aux, **options), f, x, has_aux)


def cost_randomized(samples: int) -> float:
    """Planner cost in forward passes per point: about ``samples + 2``, whatever ``d``."""
    return float(samples + 2)


# --------------------------------------------------------------------------- the protocol

NAMES = ("hutchinson", "stde")
KINDS = {n: frozenset({"laplacian", "apply"}) for n in NAMES}
NEEDS_ENGINE = False
EXACT = False
BUILDS_TERMS = frozenset(NAMES)
LAZY = False
_RUN = {"hutchinson": apply_hutchinson, "stde": apply_stde}


def propose(problem: Problem, name: str) -> Proposal:
    """Named only (``auto`` never picks an inexact estimate); ``samples + 2`` passes."""
    samples = problem.options.get("samples", 16)
    return Proposal(name, cost_randomized(samples), problem, f"{samples} samples")


def run(proposal: Proposal, f: Callable[..., Any], x: Any) -> tuple[Any, Any]:
    """``(estimate, aux)`` with the problem's options (``key``, ``samples``, ...)."""
    p = proposal.problem
    terms = None if p.kind == "laplacian" else p.terms  # None: the Laplacian, no term list
    return _RUN[proposal.name](terms, f, x, has_aux=p.has_aux, **p.options)


def estimator_variance(
    method: str, terms, f, x, *, key, samples: int = 10_000, **options: Any
) -> dict[str, Any]:
    """Mean, variance of one probe, and standard error of the mean over ``samples`` probes.

    ``method`` is ``"hutchinson"`` or ``"stde"``; for STDE one probe is one coordinate, drawn
    *with* replacement here (``samples`` may exceed ``d``), which has the same mean.

    Returns ``{"mean", "variance", "std_error", "samples"}`` (arrays shaped like ``f(x)``).
    """
    if method == "hutchinson":
        est = hutchinson_samples(terms, f, x, key=key, samples=samples, **options)
    elif method == "stde":
        x = jnp.asarray(x)
        d = x.size
        a = diagonal_coefficients(terms, d, "stde").astype(x.dtype)
        y, _ = _split(f, options.get("has_aux", False))
        idx = jax.random.randint(key, (samples,), 0, d)

        def one(i):
            e = jax.nn.one_hot(i, d, dtype=x.dtype)
            return d * a[i] * _second_directional(y, x, e, e, "forward-over-forward")

        est = jax.lax.map(one, idx, batch_size=min(samples, 1024))
    else:
        raise ValueError(
            f"estimator_variance: unknown method={method!r}; expected 'hutchinson' or 'stde'"
        )
    var = jnp.var(est, axis=0, ddof=1)
    return {
        "mean": jnp.mean(est, axis=0),
        "variance": var,
        "std_error": jnp.sqrt(var / samples),
        "samples": samples,
    }
