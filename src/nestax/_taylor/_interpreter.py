r"""The Taylor-mode interpreter and the engine's public functions.

`propagate` walks a traced program and, equation by equation, maps operands to results:
operands that do not depend on the input are plain arrays and their equations run unchanged
(so ``x @ W`` with ``W`` closed over is *linear*: one matmul per coefficient order, all orders
and directions in one call); operands that do are `Jet`\ s and go through the rule table.
Call-like primitives (``jit``, ``closed_call``, ``remat``) are entered, and so is the primal
function of ``custom_jvp_call`` / ``custom_vjp_call``. Control flow (``scan``, ``while``,
``cond``) and primitives without a rule raise `UnsupportedPrimitiveError` naming them.

Example -- the second derivative of ``sin`` along two directions of R^2:

    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sin(x[0] + 2 * x[1])
    >>> y0, (d1, d2) = taylor_directional(f, jnp.zeros(2), jnp.eye(2), order=2)
    >>> d1.tolist(), d2.tolist()
    ([1.0, 2.0], [-0.0, -0.0])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _jaxpr, _table  # noqa: F401  (_table fills the rule registry)
from ._jet import Jet, RuleContext, primal
from ._rules import UnsupportedPrimitiveError, get_rule, is_order_preserving


def _is_float_dtype(dtype: Any) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def _unsupported(eqn: Any, name: str) -> UnsupportedPrimitiveError:
    where = _jaxpr.where(eqn)
    at = f" (at {where})" if where else ""
    if name in _jaxpr.CONTROL_FLOW:
        what = f"control flow `{name}` ({_jaxpr.CONTROL_FLOW[name]})"
        why = "the Taylor engine cannot propagate coefficients through control flow yet"
    else:
        what = f"primitive `{name}`"
        why = "the Taylor engine has no rule for it"
    return UnsupportedPrimitiveError(
        f"{what}{at} depends on the input and {why}; register one with "
        "nestax's register_rule / register_linear / register_elementwise, unroll the loop, or "
        "use a nested-AD method"
    )


def _eval_equation(eqn: Any, ctx: RuleContext, args: list[Any], out_need: list[int]) -> list[Any]:
    if not any(isinstance(a, Jet) for a in args):
        return _jaxpr.bind(eqn, args)
    if not any(_is_float_dtype(_jaxpr.aval_of(v).dtype) for v in eqn.outvars):
        # Integer / boolean results (comparisons, argmax, ...) are piecewise constant.
        return _jaxpr.bind(eqn, [primal(a) for a in args])
    body = _jaxpr.call_body(eqn)
    if body is not None:
        return propagate(body, ctx, args, out_need)
    rule = get_rule(eqn.primitive)
    if rule is None:
        raise _unsupported(eqn, eqn.primitive.name)
    _, params = _jaxpr.bind_params(eqn)
    out = rule(ctx, *args, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def _lowest_needed(
    program: _jaxpr.Program, K: int, arg_dep: Sequence[bool], out_need: Sequence[int]
) -> dict[Any, int]:
    """For each variable, the lowest coefficient order anything downstream needs (K+1: none).

    A forward pass finds which variables depend on the input; a backward pass propagates needs:
    an order-preserving equation (a linear map) needs the same orders of its operands as of its
    results, any other equation needs all orders from 1. In collapsed mode only the top is
    needed at the output, so e.g. the per-direction first-order coefficients after the last
    nonlinearity are never computed.
    """
    dep: dict[Any, bool] = dict(zip(program.invars, arg_dep, strict=True))
    flags_of = lambda eqn: tuple(not _jaxpr.is_literal(a) and dep.get(a, False) for a in eqn.invars)
    for eqn in program.eqns:
        any_dep = any(flags_of(eqn))
        for v in eqn.outvars:
            dep[v] = any_dep and _is_float_dtype(_jaxpr.aval_of(v).dtype)
    need: dict[Any, int] = {}
    for v, m in zip(program.outvars, out_need, strict=True):
        if not _jaxpr.is_literal(v):
            need[v] = min(need.get(v, K + 1), m)
    for eqn in reversed(program.eqns):
        m_out = min((need.get(v, K + 1) for v in eqn.outvars), default=K + 1)
        flags = flags_of(eqn)
        if m_out > K or not any(flags):
            continue
        linear = _jaxpr.call_body(eqn) is None and is_order_preserving(eqn.primitive, flags)
        m_in = m_out if linear else 1
        for a, flag in zip(eqn.invars, flags, strict=True):
            if flag:
                need[a] = min(need.get(a, K + 1), m_in)
    return need


def _prune(value: Any, lowest: int) -> Any:
    """Drop coefficients below ``lowest`` (nobody needs them); all dropped -> plain value."""
    if not isinstance(value, Jet):
        return value
    coeffs = tuple(None if j + 1 < lowest else c for j, c in enumerate(value.coeffs))
    return value.primal if all(c is None for c in coeffs) else Jet(value.primal, coeffs)


def propagate(
    program: _jaxpr.Program,
    ctx: RuleContext,
    args: Sequence[Any],
    out_need: Sequence[int] | None = None,
) -> list[Any]:
    """Evaluate ``program`` on ``args`` (jets or plain arrays); return its outputs likewise.

    ``out_need[i]`` is the lowest coefficient order wanted of output ``i`` (default 1: all).
    """
    K = ctx.order
    if out_need is None:
        out_need = [1] * len(program.outvars)
    need = _lowest_needed(program, K, [isinstance(a, Jet) for a in args], out_need)
    env: dict[Any, Any] = {}

    def read(atom: Any) -> Any:
        return _jaxpr.literal_value(atom) if _jaxpr.is_literal(atom) else env[atom]

    def write(var: Any, value: Any) -> None:
        if not _jaxpr.is_dropvar(var):
            env[var] = _prune(value, need.get(var, K + 1))

    for var, value in zip(program.constvars, program.consts, strict=True):
        write(var, value)
    for var, value in zip(program.invars, args, strict=True):
        write(var, value)
    for eqn in program.eqns:
        out_need_eqn = [need.get(v, K + 1) for v in eqn.outvars]
        outs = _eval_equation(eqn, ctx, [read(a) for a in eqn.invars], out_need_eqn)
        for var, value in zip(eqn.outvars, outs, strict=True):
            write(var, value)
    return [read(v) for v in program.outvars]


# --------------------------------------------------------------------------- public API


def _check(x: Any, directions: Any, order: Any, op: str) -> tuple[jax.Array, jax.Array, int]:
    x = jnp.asarray(x)
    if not _is_float_dtype(x.dtype):
        raise TypeError(f"{op}: argument `x` must have a floating dtype; got {x.dtype}")
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"{op}: argument `order` must be an integer >= 1; got {order!r}")
    directions = jnp.asarray(directions, dtype=x.dtype)
    if directions.ndim != x.ndim + 1 or directions.shape[1:] != x.shape or not directions.shape[0]:
        raise ValueError(
            f"{op}: argument `directions` must have shape (R, *x.shape) = (R, "
            f"{', '.join(map(str, x.shape))}) with R >= 1; got {tuple(directions.shape)}"
        )
    return x, directions, int(order)


def _run(
    f: Callable[..., Any], x: jax.Array, seed: Jet, ctx: RuleContext, lowest: int
) -> tuple[Any, Any]:
    program, out_tree = _jaxpr.trace(f, x)
    outs = propagate(program, ctx, [seed], [lowest] * len(program.outvars))
    return out_tree, outs


def taylor_directional(
    f: Callable[..., Any], x: Any, directions: Any, order: int
) -> tuple[Any, Any]:
    r"""Directional derivatives of ``f`` of orders 1..K along each direction, by Taylor mode.

    .. math::  \text{coeffs}[j-1, r] = \frac{d^j}{dt^j} f(x + t v_r) \Big|_{t=0}.

    Args:
        f: ``x -> pytree of arrays``.
        x: the point, an array of any shape (floating).
        directions: ``(R, *x.shape)``.
        order: K >= 1.

    Returns:
        ``(y0, coeffs)``: ``y0 = f(x)``; ``coeffs`` has ``y0``'s structure with leaves of shape
        ``(K, R, *leaf.shape)`` (derivative form, not divided by ``j!``). Leaves that are not
        floating or do not depend on ``x`` get zeros.
    """
    x, directions, order = _check(x, directions, order, "taylor_directional")
    R = directions.shape[0]
    ctx = RuleContext(order=order, n_directions=R)
    seed = Jet(x, (directions,) + (None,) * (order - 1))
    out_tree, outs = _run(f, x, seed, ctx, lowest=1)

    def leaf(v: Any) -> Any:
        p = jnp.asarray(primal(v))
        coeffs = v.coeffs if isinstance(v, Jet) else (None,) * order
        stacked = jnp.stack([jnp.zeros((R, *p.shape), p.dtype) if c is None else c for c in coeffs])
        return p, stacked

    pairs = [leaf(v) for v in outs]
    y0 = jax.tree_util.tree_unflatten(out_tree, [p for p, _ in pairs])
    return y0, jax.tree_util.tree_unflatten(out_tree, [c for _, c in pairs])


def taylor_directional_top(
    f: Callable[..., Any], x: Any, directions: Any, order: int
) -> tuple[Any, Any]:
    """Like `taylor_directional`, but only the order-K coefficients: leaves ``(R, *leaf.shape)``.

    Lower orders are still propagated where the top needs them, but those needed by nobody
    (e.g. after the network's last nonlinearity) are skipped.
    """
    x, directions, order = _check(x, directions, order, "taylor_directional_top")
    R = directions.shape[0]
    ctx = RuleContext(order=order, n_directions=R)
    seed = Jet(x, (directions,) + (None,) * (order - 1))
    out_tree, outs = _run(f, x, seed, ctx, lowest=order)

    def leaf(v: Any) -> tuple[Any, Any]:
        p = jnp.asarray(primal(v))
        top = v.coeffs[-1] if isinstance(v, Jet) else None
        return p, jnp.zeros((R, *p.shape), p.dtype) if top is None else top

    pairs = [leaf(v) for v in outs]
    y0 = jax.tree_util.tree_unflatten(out_tree, [p for p, _ in pairs])
    return y0, jax.tree_util.tree_unflatten(out_tree, [t for _, t in pairs])


def collapsed_directional(
    f: Callable[..., Any], x: Any, directions: Any, weights: Any, order: int
) -> tuple[Any, Any]:
    r"""The weighted sum of K-th directional derivatives, by collapsed Taylor mode.

    .. math::  \text{top} = \sum_r w_r \frac{d^K}{dt^K} f(x + t v_r) \Big|_{t=0}.

    Orders below K are propagated per direction; order K is propagated already summed over
    directions (collapsed Taylor mode, Dangel et al. 2025; the forward Laplacian of Li et al.
    2023 is K = 2 with unit directions and unit weights). Exact, because each rule's order-K
    output is ``L(x_0)[x_K] + R(x_0, x_1..x_{K-1})`` with ``L`` the linearization, so
    ``sum_r w_r y_K^r = L(x_0)[sum_r w_r x_K^r] + sum_r w_r R^r``.

    Args:
        f, x, directions, order: as in `taylor_directional`.
        weights: ``(R,)``, any signs. Concrete (NumPy) weights let the engine skip the
            multiplication when they are all one.

    Returns:
        ``(y0, top)``: ``y0 = f(x)``; ``top`` has ``y0``'s structure and leaf shapes.
    """
    x, directions, order = _check(x, directions, order, "collapsed_directional")
    R = directions.shape[0]
    try:  # concrete weights stay NumPy, so the engine can see unit weights at trace time
        weights = np.asarray(weights, dtype=np.float64)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        weights = jnp.asarray(weights)
    if tuple(weights.shape) != (R,):
        raise ValueError(
            f"collapsed_directional: argument `weights` must have shape (R,) = ({R},), one per "
            f"direction; got {tuple(weights.shape)}"
        )
    ctx = RuleContext(order=order, n_directions=R, weights=weights)
    if order == 1:
        w = jnp.asarray(weights, x.dtype)
        seed = Jet(x, (jnp.tensordot(w, directions, axes=1)[None],))
    else:
        seed = Jet(x, (directions,) + (None,) * (order - 1))
    out_tree, outs = _run(f, x, seed, ctx, lowest=order)

    def leaf(v: Any) -> tuple[Any, Any]:
        p = jnp.asarray(primal(v))
        top = v.coeffs[-1] if isinstance(v, Jet) else None
        return p, jnp.zeros(p.shape, p.dtype) if top is None else top[0]

    pairs = [leaf(v) for v in outs]
    y0 = jax.tree_util.tree_unflatten(out_tree, [p for p, _ in pairs])
    return y0, jax.tree_util.tree_unflatten(out_tree, [t for _, t in pairs])


def unsupported_reason(f: Callable[..., Any], x: Any, order: int = 1) -> str | None:
    """``None`` if the engine can propagate order-``order`` coefficients through ``f`` at ``x``.

    Otherwise a sentence naming the first primitive (or control flow: scan / while / cond) that
    depends on the input and has no rule. Costs one abstract trace, no computation.

    Example:
        >>> import jax
        >>> unsupported_reason(lambda x: jax.lax.while_loop(lambda c: c < 1, lambda c: 2 * c, x),
        ...                    1.0).split(" (")[0]
        'control flow `while`'
    """
    x = jnp.asarray(x)
    if not _is_float_dtype(x.dtype):
        return f"the input has dtype {x.dtype}; Taylor mode needs a floating input"
    directions = jnp.ones((1, *x.shape), x.dtype)
    try:
        jax.eval_shape(lambda x: taylor_directional(f, x, directions, order), x)
    except UnsupportedPrimitiveError as err:
        return str(err)
    return None


def taylor_directional_reference(
    f: Callable[..., Any], x: Any, directions: Any, order: int
) -> tuple[Any, Any]:
    """The slow, obviously-correct `taylor_directional`: nested `jax.jvp` along each line."""
    x, directions, order = _check(x, directions, order, "taylor_directional_reference")

    def derivative(h: Callable[[Any], Any], t: Any) -> Any:
        return jax.jvp(h, (t,), (jnp.ones_like(t),))[1]

    def along(v: Any) -> list[Any]:
        h: Callable[[Any], Any] = lambda t: f(x + t * v)
        out = []
        for _ in range(order):
            h = functools.partial(derivative, h)
            out.append(h(jnp.zeros((), x.dtype)))
        return out

    per_direction = jax.vmap(along)(directions)  # list over orders of (R, ...) leaves
    coeffs = jax.tree_util.tree_map(lambda *ls: jnp.stack(ls), *per_direction)
    return f(x), coeffs
