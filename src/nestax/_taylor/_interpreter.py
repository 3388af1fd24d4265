r"""The Taylor-mode interpreter and the engine's public functions.

`propagate` walks a traced program and, equation by equation, maps operands to results:
operands that do not depend on the input are plain arrays and their equations run unchanged
(so ``x @ W`` with ``W`` closed over is *linear*: one matmul per coefficient order, all orders
and directions in one call); operands that do are `Jet`\ s and go through the rule table.
Call-like primitives (``jit``, ``closed_call``, ``remat``) are entered; control flow
(``scan``, ``while``, ``cond``) is rebuilt over jets (`_control`); a ``custom_jvp`` function
is differentiated through its rule, never its body, and a primitive without a closed-form rule
through JAX's own derivative rule (`_custom`). A ``custom_vjp`` function, whose derivatives
only reverse mode defines, raises `UnsupportedPrimitiveError` naming it.

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

from . import _control, _custom, _jaxpr, _shipped, _table  # noqa: F401  (_table fills the rule registry)
from ._jet import Jet, RuleContext, broadcast_jet, primal
from ._rules import UnsupportedPrimitiveError, get_rule, is_order_preserving, max_order

#: n-ary elementwise primitives: lax broadcasts their size-1 axes and scalars to the result's
#: shape, and so does the interpreter before their rules see them.
_BROADCASTING = frozenset(
    "add sub mul div max min pow atan2 rem nextafter add_any select_n clamp complex".split()
)


def _is_float_dtype(dtype: Any) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def _at(eqn: Any) -> str:
    where = _jaxpr.where(eqn)
    return f" (at {where})" if where else ""


def _custom_vjp_error(eqn: Any) -> UnsupportedPrimitiveError:
    return UnsupportedPrimitiveError(
        f"the custom_vjp function `{_jaxpr.custom_name(eqn)}`{_at(eqn)} depends on the input: "
        "its derivatives are defined by a reverse-mode rule only, which Taylor mode cannot "
        "propagate; the nested methods with reverse mode innermost apply"
    )


def _eval_equation(eqn: Any, ctx: RuleContext, args: list[Any], out_need: list[int]) -> list[Any]:
    if not any(isinstance(a, Jet) for a in args):
        return _jaxpr.bind(eqn, args)
    if not any(_is_float_dtype(_jaxpr.aval_of(v).dtype) for v in eqn.outvars):
        # Integer / boolean results (comparisons, argmax, ...) are piecewise constant.
        return _jaxpr.bind(eqn, [primal(a) for a in args])
    kind = _jaxpr.custom_kind(eqn)
    if kind == "custom_vjp":
        raise _custom_vjp_error(eqn)
    if kind == "custom_jvp":
        if (closed := _shipped.closed_form(eqn)) is not None:
            return closed(ctx, args, _jaxpr.bind(eqn, [primal(a) for a in args]))
        return _custom.custom_jvp_rule(eqn, ctx, args, propagate)
    body = _jaxpr.call_body(eqn)
    if body is not None:
        return propagate(body, ctx, args, out_need)
    name = eqn.primitive.name
    if name in _control.RULES:
        return _control.RULES[name](eqn, ctx, args, propagate)
    rule = get_rule(eqn.primitive)
    if rule is None:
        return _custom.generic_rule(eqn, ctx, args)
    if name in _BROADCASTING:
        shape = tuple(_jaxpr.aval_of(eqn.outvars[0]).shape)
        args = [broadcast_jet(a, shape) for a in args]
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
        linear = _jaxpr.call_body(eqn) is None and is_order_preserving(
            eqn.primitive, flags, eqn.params
        )
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
    """``None`` if the engine claims it can propagate coefficients through ``f`` at ``x``.

    Otherwise a sentence naming the first construct that depends on the input and that the
    engine cannot handle: a ``custom_vjp`` function, or a primitive that neither the rule
    table nor JAX can differentiate. Static: one abstract trace of ``f`` and a walk over its
    program (and the programs it holds), no propagation. Where it claims support the engine
    must succeed; the test suite holds it to that.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> @jax.custom_vjp
        ... def g(x):
        ...     return jnp.sin(x)
        >>> g.defvjp(lambda x: (jnp.sin(x), x), lambda x, ct: (jnp.cos(x) * ct,))
        >>> unsupported_reason(lambda x: 2.0 * g(x), 1.0).split(" (")[0]
        'the custom_vjp function `g`'
    """
    x = jnp.asarray(x)
    if not _is_float_dtype(x.dtype):
        return f"the input has dtype {x.dtype}; Taylor mode needs a floating input"
    program, _ = _jaxpr.trace(f, x)
    return _first_unsupported(program, [True], order)


def constructs(f: Callable[..., Any], x: Any) -> tuple[str, ...]:
    """The constructs in ``f`` that some first-order AD modes cannot differentiate.

    One sentence each, naming the construct and where it is: a ``custom_vjp`` function (forward
    mode cannot differentiate it: its derivative exists only as a reverse-mode rule), a
    ``while_loop`` whose carry depends on the input (reverse mode cannot differentiate it), a
    primitive JAX has no derivative rule for. Static: one abstract trace of ``f``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> loop = lambda x: jax.lax.while_loop(lambda c: c[1] < 3,
        ...                                     lambda c: (2.0 * c[0], c[1] + 1), (x, 0))[0]
        >>> constructs(loop, 1.0)[0].split(" (at")[0]
        'a while_loop whose carry depends on the input'
    """
    x = jnp.asarray(x)
    program, _ = _jaxpr.trace(f, x)
    found: list[str] = []
    _collect_constructs(program, [True], found)
    return tuple(dict.fromkeys(found))


def _dependent_equations(program: _jaxpr.Program, arg_dep: Sequence[bool]):
    """``(equation, operand flags)`` for each equation with an operand that depends on the
    inputs flagged in ``arg_dep`` (the static walks below look at these only)."""
    dep, _ = _jaxpr.dependence(program, arg_dep)
    for eqn in program.eqns:
        flags = [not _jaxpr.is_literal(a) and dep.get(a, False) for a in eqn.invars]
        if any(flags):
            yield eqn, flags


def _collect_constructs(program: _jaxpr.Program, arg_dep: Sequence[bool], found: list[str]) -> None:
    for eqn, _flags in _dependent_equations(program, arg_dep):
        kind = _jaxpr.custom_kind(eqn)
        if kind == "custom_vjp":
            found.append(f"a custom_vjp function `{_jaxpr.custom_name(eqn)}`{_at(eqn)}")
            continue
        if kind == "custom_jvp":
            continue  # forward and reverse mode both use its rule
        if eqn.primitive.name == "while":
            found.append(f"a while_loop whose carry depends on the input{_at(eqn)}")
        subs = _jaxpr.sub_programs(eqn)
        for sub in subs:
            _collect_constructs(sub, [True] * len(sub.invars), found)
        if not subs and get_rule(eqn.primitive) is None and not _jaxpr.has_jvp(eqn.primitive):
            found.append(f"primitive `{eqn.primitive.name}` without a derivative rule{_at(eqn)}")


def _first_unsupported(program: _jaxpr.Program, arg_dep: Sequence[bool], order: int) -> str | None:
    if order < 1:  # nothing is differentiated: plain evaluation
        return None
    for eqn, flags in _dependent_equations(program, arg_dep):
        kind = _jaxpr.custom_kind(eqn)
        if kind == "custom_vjp":
            return str(_custom_vjp_error(eqn))
        if kind == "custom_jvp":
            n = _jaxpr.custom_jvp_consts(eqn)
            if any(flags[:n]):
                return (
                    f"the custom_jvp function `{_jaxpr.custom_name(eqn)}`{_at(eqn)} closes over "
                    "a value that depends on the input"
                )
            rule, _ = _jaxpr.custom_jvp_rule(eqn, [not f for f in flags[n:]])
            tangents = (
                flags[n:]
                if not _jaxpr.custom_jvp_symbolic_zeros(eqn)
                else [f for f in flags[n:] if f]
            )
            # the rule's coefficients are one order lower (the module docstring of `_custom`)
            inner = _first_unsupported(rule, [*flags[n:], *tangents], order - 1)
            if inner is not None:
                return inner
            continue
        subs = _jaxpr.sub_programs(eqn)
        if subs:
            for sub in subs:  # conservative: every input of a sub-program may depend
                inner = _first_unsupported(sub, [True] * len(sub.invars), order)
                if inner is not None:
                    return inner
            continue
        if get_rule(eqn.primitive) is None and not _jaxpr.has_jvp(eqn.primitive):
            return (
                f"primitive `{eqn.primitive.name}`{_at(eqn)} depends on the input and neither "
                "the Taylor engine nor JAX has a derivative rule for it"
            )
        known = max_order(eqn.primitive)
        if known is not None and known < order:
            return (
                f"the Taylor rule for primitive `{eqn.primitive.name}`{_at(eqn)} knows {known} "
                f"derivatives; order {order} was asked for"
            )
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
