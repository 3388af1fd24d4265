r"""Closed-form Taylor rules for `custom_jvp` functions JAX ships, recognised by their rule.

``jnp.logaddexp`` (and so ``jax.nn.softplus``, ``log_sigmoid``, ``mish``) is a `custom_jvp`
function whose rule refers to its own output: ``y' = a x_1' + b x_2'`` with
``a = exp(x_1 - y)`` and ``b = exp(x_2 - y)``. Propagating coefficients through that rule
(`_custom.custom_jvp_rule`) is exact in value, but the parameter gradient of the result then
sums cotangents of the size of ``(x')^2`` that cancel exactly only in exact arithmetic (seen:
the gradient of a Laplacian through a saturated softplus, inputs ~3e4, off by 1.4e-6 relative
in float64, where both nestings of JAX's AD agree to 3e-16).

The closed form: with ``δ = x_1 - x_2``, ``y = x_2 + F(δ)`` where ``F' = a`` and, since
``a + b = 1``, ``da/dδ = ab`` and ``db/dδ = -ab``. So every derivative ``F^{(m)}`` is a
polynomial in ``a`` and ``b`` (``F'' = ab``, ``F''' = ab(b - a)``, ...), and a saturated branch
(``b = 0`` exactly) zeroes its terms exactly, gradient included. The first-order coefficient is
JAX's rule itself (``a x_{1,k} + b x_{2,k}``, ``a`` and ``b`` as the rule computes them, infinities
replaced by 0 as it does). Where an operand or the output is not finite the higher derivatives are
0 (an operand at ``-inf`` leaves the other one, exactly as nested AD finds).

Recognition is by the rule's source: the function JAX defines in ``jax/_src/lax/other.py``; a
user's function of the same name keeps going through its own rule.

Example -- softplus' second derivative at 0 is 1/4:

    >>> import jax, jax.numpy as jnp
    >>> from ._interpreter import taylor_directional
    >>> _, (d1, d2) = taylor_directional(jax.nn.softplus, jnp.zeros(()), jnp.ones((1,)), 2)
    >>> float(d1[0]), float(d2[0])
    (0.5, 0.25)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from . import _jaxpr
from . import _series as S
from ._jet import Jet, RuleContext, add, broadcast_jet, coeff, lead, primal
from ._rules import _jet_or_plain

ClosedForm = Callable[[RuleContext, list[Any], list[Any]], list[Any]]


@functools.cache
def _logaddexp_polys(n: int) -> tuple[dict[tuple[int, int], int], ...]:
    """``F^{(m)}`` for ``m = 1..n`` as ``{(i, j): c}`` meaning ``sum c a^i b^j``."""
    polys = [{(1, 0): 1}]
    for _ in range(n - 1):
        nxt: dict[tuple[int, int], int] = {}
        for (i, j), c in polys[-1].items():  # d(a^i b^j) = i a^i b^(j+1) - j a^(i+1) b^j
            if i:
                nxt[(i, j + 1)] = nxt.get((i, j + 1), 0) + c * i
            if j:
                nxt[(i + 1, j)] = nxt.get((i + 1, j), 0) - c * j
        polys.append({k: c for k, c in nxt.items() if c})
    return tuple(polys)


def _poly(terms: dict[tuple[int, int], int], a: Any, b: Any) -> Any:
    return sum(c * a**i * b**j for (i, j), c in sorted(terms.items()))


def _finite_or_zero(v: Any) -> Any:  # JAX's rule: `_replace_inf`
    return lax.select(jnp.isinf(v), jnp.zeros_like(v), v)


def _logaddexp(ctx: RuleContext, args: list[Any], outs0: list[Any]) -> list[Any]:
    (y0,) = outs0
    shape = tuple(jnp.shape(y0))
    x1, x2 = (broadcast_jet(v, shape) for v in args)
    p1, p2 = jnp.asarray(primal(x1), y0.dtype), jnp.asarray(primal(x2), y0.dtype)
    a = jnp.exp(_finite_or_zero(p1) - _finite_or_zero(y0))
    b = jnp.exp(_finite_or_zero(p2) - _finite_or_zero(y0))
    finite = jnp.isfinite(p1) & jnp.isfinite(p2) & jnp.isfinite(y0)
    K = ctx.order
    delta = Jet(
        jnp.zeros_like(y0),
        tuple(
            add(coeff(x1, k), None if coeff(x2, k) is None else -coeff(x2, k))
            for k in range(1, K + 1)
        ),
    )
    n = S.needed_derivatives(ctx, delta.coeffs)
    derivs = [None] + [
        jnp.where(finite, _poly(p, a, b), 0.0) for p in _logaddexp_polys(max(n, 1))[1:n]
    ]
    higher = S.compose(ctx, derivs, delta) if n >= 2 else (None,) * K
    coeffs = []
    for k in range(1, K + 1):
        first = add(
            None if coeff(x1, k) is None else lead(a) * coeff(x1, k),
            None if coeff(x2, k) is None else lead(b) * coeff(x2, k),
        )
        coeffs.append(add(first, higher[k - 1]))
    return [_jet_or_plain(y0, coeffs)]


def _jax_source(name: str) -> str:
    return os.path.realpath(os.path.join(os.path.dirname(jax.__file__), "_src", "lax", name))


#: (the rule's function name, the JAX file defining it) -> closed form
_SHIPPED: dict[tuple[str, str], ClosedForm] = {
    ("_logaddexp_jvp", _jax_source("other.py")): _logaddexp,
}


def closed_form(eqn: Any) -> ClosedForm | None:
    """The closed form for a `custom_jvp_call` of a function JAX ships, else ``None``."""
    if _jaxpr.custom_jvp_consts(eqn) or len(eqn.invars) != 2:
        return None
    info = getattr(eqn.params.get("jvp_jaxpr_fun"), "debug_info", None)
    src = getattr(info, "func_src_info", None) or ""
    name, _, path = src.partition(" at ")
    path = path.rsplit(":", 1)[0]
    candidates = [(file, rule) for (fn, file), rule in _SHIPPED.items() if fn == name]
    if candidates:
        real = os.path.realpath(path)  # only for a rule of the name of a shipped one
        for file, rule in candidates:
            if real == file:
                return rule
    return None
