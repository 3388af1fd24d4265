r"""Derivative series of elementwise functions, and Faà di Bruno's formula.

For an elementwise ``y = f(u)`` and derivative-form coefficients ``u_1, ..., u_K`` of ``u``
along a line, the coefficients of ``y`` are (Faà di Bruno)

.. math::  y_k = \sum_{m=1}^{k} f^{(m)}(u_0)\, B_{k,m}(u_1, \dots, u_{k-m+1}),

with ``B_{k,m}`` the partial Bell polynomials: a sum over the integer partitions of ``k`` into
``m`` parts, the partition with ``n_i`` parts of size ``i`` weighted by
``k! / prod_i (n_i! (i!)^{n_i})``. The ``m = 1`` term ``f'(u_0) u_k`` is the linear part; the rest
only involves lower coefficients, which is what collapsed mode sums over directions.

Each ``derivatives(x, y, n, **params)`` function here returns ``[f'(x), ..., f^(n)(x)]`` given the
primal input ``x`` and output ``y = f(x)`` (``None`` for a derivative known to vanish).

Example:
    >>> import jax.numpy as jnp
    >>> y = jnp.tanh(0.5)
    >>> [round(float(v), 6) for v in tanh_derivatives(0.5, y, 3)]  # 1-y^2, -2y(1-y^2), ...
    [0.786448, -0.726862, -0.565209]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpy.polynomial import polynomial as npoly

from ._jet import Jet, RuleContext, add, lead

# --------------------------------------------------------------------------- Faà di Bruno


@functools.cache
def bell_terms(k: int) -> dict[int, tuple[tuple[int, tuple[tuple[int, int], ...]], ...]]:
    """Partitions of ``k``, grouped by their number of parts ``m``.

    Returns ``{m: ((coefficient, ((size, multiplicity), ...)), ...)}``.
    """

    def parts(n: int, largest: int):
        if n == 0:
            yield ()
            return
        for size in range(min(n, largest), 0, -1):
            for rest in parts(n - size, size):
                yield (size, *rest)

    out: dict[int, list] = {}
    for p in parts(k, k):
        mult: dict[int, int] = {}
        for size in p:
            mult[size] = mult.get(size, 0) + 1
        denom = 1
        for size, n in mult.items():
            denom *= math.factorial(n) * math.factorial(size) ** n
        coef = math.factorial(k) // denom
        out.setdefault(len(p), []).append((coef, tuple(sorted(mult.items()))))
    return {m: tuple(v) for m, v in sorted(out.items())}


def _power(c: Any, n: int) -> Any:
    return c if n == 1 else lax.integer_pow(c, n)


def _bell(k: int, m: int, coeffs: Sequence[Any]) -> Any:
    """``B_{k,m}`` evaluated per direction (``None`` if every term has a zero factor)."""
    total = None
    for coef, mult in bell_terms(k)[m]:
        if any(coeffs[size - 1] is None for size, _ in mult):
            continue
        term = None
        for size, n in mult:
            f = _power(coeffs[size - 1], n)
            term = f if term is None else term * f
        total = add(total, term if coef == 1 else coef * term)
    return total


def needed_derivatives(ctx: RuleContext, coeffs: Sequence[Any]) -> int:
    """The highest derivative order ``m`` whose Bell polynomial is not identically zero."""
    top = 0
    for k in range(1, ctx.order + 1):
        for m, terms in bell_terms(k).items():
            for _, mult in terms:
                if all(coeffs[size - 1] is not None for size, _ in mult):
                    top = max(top, m)
    return top


def compose(ctx: RuleContext, derivs: Sequence[Any], u: Jet) -> tuple[Any, ...]:
    """Coefficients of ``f(u)`` from ``derivs[m-1] = f^(m)(u_0)`` (Faà di Bruno)."""
    out = []
    for k in range(1, ctx.order + 1):
        uk = u.coeffs[k - 1]
        yk = None
        if uk is not None and derivs[0] is not None:
            yk = lead(derivs[0]) * uk
        bells = [
            (derivs[m - 1], b)
            for m in range(2, k + 1)
            if m <= len(derivs)
            and derivs[m - 1] is not None
            and (b := _bell(k, m, u.coeffs)) is not None
        ]
        if len(bells) == 1:  # e.g. the Laplacian: sum over directions first, then scale
            yk = add(yk, lead(bells[0][0]) * ctx.collapse(k, bells[0][1]))
        elif bells:  # one reduction over directions for the whole remainder
            yk = add(yk, ctx.collapse(k, add(*(lead(d) * b for d, b in bells))))
        out.append(yk)
    return tuple(out)


# --------------------------------------------------------------------------- derivative series


@functools.cache
def _ode_polys(q: tuple[float, ...], n: int) -> tuple[np.ndarray, ...]:
    """Polynomials ``P_m`` with ``f^(m) = P_m(f)`` when ``f' = q(f)`` (coefficients low->high)."""
    polys = [np.asarray(q, dtype=np.float64)]
    for _ in range(n - 1):
        polys.append(npoly.polymul(npoly.polyder(polys[-1]), polys[0]))
    return tuple(polys)


def _horner(p: np.ndarray, y: Any) -> Any:
    p = np.trim_zeros(p, "b")
    if p.size == 0:
        return None
    out = jnp.full_like(y, float(p[-1]))
    for c in p[-2::-1]:
        out = out * y + float(c) if c != 0 else out * y
    return out


def ode_derivatives(q: tuple[float, ...]) -> Callable[..., list[Any]]:
    """Derivatives of a function solving ``f' = q(f)`` for a polynomial ``q`` (tanh, exp, ...)."""

    def derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
        return [_horner(p, y) for p in _ode_polys(q, n)]

    return derivatives


tanh_derivatives = ode_derivatives((1.0, 0.0, -1.0))  # tanh' = 1 - tanh^2
logistic_derivatives = ode_derivatives((0.0, 1.0, -1.0))  # s' = s - s^2
tan_derivatives = ode_derivatives((1.0, 0.0, 1.0))  # tan' = 1 + tan^2


def exp_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return [y] * n


def expm1_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return [y + 1] * n


def _cyclic(values: Sequence[Any], n: int) -> list[Any]:
    return [values[m % len(values)] for m in range(n)]


def sin_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    c = jnp.cos(x)
    return _cyclic([c, -y, -c, y], n)


def cos_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    s = jnp.sin(x)
    return _cyclic([-s, -y, s, y], n)


def sinh_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return _cyclic([jnp.cosh(x), y], n)


def cosh_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return _cyclic([jnp.sinh(x), y], n)


def _reciprocal_powers(r: Any, n: int, scale: Sequence[float]) -> list[Any]:
    out, p = [], None
    for m in range(n):
        p = r if p is None else p * r
        out.append(scale[m] * p if scale[m] != 1 else p)
    return out


def _log_like(base: Any, n: int) -> list[Any]:
    # d^m/dx^m log(x) = (-1)^(m-1) (m-1)! / x^m
    scale = [(-1) ** m * math.factorial(m) for m in range(n)]
    return _reciprocal_powers(1 / base, n, scale)


def log_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return _log_like(x, n)


def log1p_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return _log_like(1 + x, n)


def _falling(p: Any, m: int) -> Any:
    out = 1.0
    for i in range(m):
        out = out * (p - i)
    return out


def root_derivatives(q: int, sign: int) -> Callable[..., list[Any]]:
    """``y = x^(sign/q)`` (sqrt, rsqrt, cbrt) in terms of ``y`` alone, as JAX's rules are:
    with ``x = y^(sign q)``, ``f^(m) = p (p-1) .. (p-m+1) y^(1 - sign q m)``, ``p = sign/q``.

    No division by ``x``: at ``x = 0`` the first derivative of sqrt is ``0.5 / 0 = inf``, as
    JAX's ``0.5 / sqrt(x)``, not ``0 / 0``.
    """
    p = sign / q

    def derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
        return [_falling(p, m) * y ** (1 - sign * q * m) for m in range(1, n + 1)]

    return derivatives


def integer_pow_derivatives(x: Any, y: Any, n: int, *, y_exp: int) -> list[Any]:
    out = []
    for m in range(1, n + 1):
        if y_exp >= 0 and m > y_exp:
            out.append(None)
        elif y_exp - m == 0:
            out.append(jnp.full_like(x, _falling(y_exp, m)))
        else:
            out.append(_falling(y_exp, m) * lax.integer_pow(x, y_exp - m))
    return out


def real_pow_derivatives(x: Any, p: Any, n: int) -> list[Any]:
    """``x^p`` for an input-independent exponent array ``p`` (the ``pow`` primitive).

    Where the falling factorial ``p (p-1) .. (p-m+1)`` vanishes the derivative is zero, also
    at ``x = 0`` (JAX's rule selects zero for a zero exponent instead of ``0 * x^-1``).
    """
    out = []
    for m in range(1, n + 1):
        fall = _falling(p, m)
        out.append(jnp.where(fall == 0, 0.0, fall * lax.pow(x, p - m)).astype(x.dtype))
    return out


def erf_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    # erf^(m)(x) = (-1)^(m-1) H_{m-1}(x) * 2/sqrt(pi) exp(-x^2), H the physicists' Hermite.
    g = (2.0 / math.sqrt(math.pi)) * jnp.exp(-x * x)
    out, h_prev, h = [], None, None
    for m in range(1, n + 1):
        if m == 1:
            h = jnp.ones_like(x)
        elif m == 2:
            h_prev, h = h, 2 * x
        else:
            h_prev, h = h, 2 * x * h - 2 * (m - 2) * h_prev
        out.append(g if m == 1 else (-1) ** (m - 1) * h * g)
    return out


def erfc_derivatives(x: Any, y: Any, n: int, **_: Any) -> list[Any]:
    return [-d for d in erf_derivatives(x, y, n)]


def jvp_derivatives(prim: Any) -> Callable[..., list[Any]]:
    """Derivatives of an elementwise primitive by nested `jax.jvp` (any JAX-differentiable one).

    Costs ``2^m`` primal-sized evaluations for ``f^(m)`` -- cheap, as it never sees the
    direction axis. Used for the rarer functions (atan, asinh, lgamma, ...).
    """

    def derivatives(x: Any, y: Any, n: int, **params: Any) -> list[Any]:
        g: Callable[[Any], Any] = lambda z: prim.bind(z, **params)
        out = []
        for _ in range(n):
            g = functools.partial(_jvp_once, g)
            out.append(g(x))
        return out

    return derivatives


def _jvp_once(g: Callable[[Any], Any], z: Any) -> Any:
    return jax.jvp(g, (z,), (jnp.ones_like(z),))[1]
