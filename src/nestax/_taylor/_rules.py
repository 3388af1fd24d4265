r"""The registry of per-primitive Taylor rules and the classifier helpers that fill it.

A rule propagates derivative-form Taylor coefficients through one primitive::

    rule(ctx: RuleContext, *operands: Jet | Array, **params) -> Jet | Array  (a list of them
    for primitives with several results)

An operand is a `Jet` when it depends on the input and a plain array when it does not; a rule
may return a plain array when its result does not depend on the input. Rules see all R
directions at once (coefficients have a leading direction axis) and, in collapsed mode, pass
the per-direction part of their top coefficient through `ctx.collapse`.

Classifiers (each a one-liner to register a primitive):

- **linear** -- ``y = p(u, v, ...)`` linear in its floating operands jointly (add, reshape,
  broadcast_in_dim, reduce_sum, concatenate, select_n, gather, ...): ``y_k = p(u_k, v_k, ...)``;
  integer operands (indices, predicates) are passed through.
- **elementwise** -- ``y = f(u)`` with known derivatives: Faà di Bruno (see `_series`).
- **bilinear** -- ``y = b(u, v)`` (mul, dot_general, conv): Leibniz,
  ``y_k = sum_i C(k, i) b(u_i, v_{k-i})``; with one input-independent operand it is linear and
  all orders go through one call (one matmul for every coefficient of a dense layer).
- **piecewise** -- max, min, abs, clamp, reduce_max: the coefficients of the active branch,
  and **zero** -- piecewise-constant functions (sign, floor, stop_gradient); both in `_table`,
  which registers every primitive the engine ships.

Example -- teach the engine a new elementwise primitive by its derivatives:

    >>> import jax.numpy as jnp
    >>> from jax.extend.core import Primitive
    >>> cube_p = Primitive("cube")
    >>> _ = cube_p.def_impl(lambda x: x**3)
    >>> _ = cube_p.def_abstract_eval(lambda x: x)
    >>> register_elementwise(cube_p, lambda x, y, n: [3 * x**2, 6 * x, 6 + 0 * x][:n])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validate import MethodNotApplicableError
from . import _jaxpr
from . import _series as S
from ._jet import Jet, RuleContext, add, binomial, broadcast_jet, coeff, lead, primal

Rule = Callable[..., Any]


class UnsupportedPrimitiveError(MethodNotApplicableError):
    """The Taylor engine cannot propagate coefficients through a construct that depends on the
    input: a ``custom_vjp`` function, or a primitive neither it nor JAX can differentiate.

    The message names the construct and where it is. Register a rule with `register_rule`,
    `register_linear` or `register_elementwise`, or use a nested-AD strategy.
    """


_RULES: dict[Any, Rule] = {}
_ORDER_PRESERVING: dict[Any, Any] = {}
_PIECEWISE: set[Any] = set()
_MAX_ORDER: dict[Any, int] = {}  # rules that know finitely many derivatives


def register_rule(
    primitive: Any, rule: Rule, *, order_preserving: Any = False, piecewise: bool = False
) -> None:
    """Register ``rule(ctx, *operands, **params)`` for ``primitive`` (see the module docstring).

    ``order_preserving`` says whether output coefficient k depends on input coefficient k only
    (true of linear maps); the engine then skips lower-order coefficients nobody needs. It is a
    bool, or a function ``(flags, params) -> bool`` of the tuple of operand-depends-on-input
    flags and the equation's parameters.
    ``piecewise`` marks order-preserving primitives that are linear only piece by piece (max,
    abs, ...): the reduction pass must not treat them as linear maps of the input.
    """
    if not callable(rule):
        raise TypeError(f"register_rule: `rule` must be callable; got {type(rule).__name__}")
    _RULES[primitive] = rule
    _ORDER_PRESERVING[primitive] = order_preserving
    _MAX_ORDER.pop(primitive, None)
    if piecewise:
        _PIECEWISE.add(primitive)
    else:
        _PIECEWISE.discard(primitive)


def get_rule(primitive: Any) -> Rule | None:
    return _RULES.get(primitive)


def max_order(primitive: Any) -> int | None:
    """The highest order the registered rule knows (``None``: every order)."""
    return _MAX_ORDER.get(primitive)


def is_order_preserving(
    primitive: Any, dependent: tuple[bool, ...], params: dict[str, Any] | None = None
) -> bool:
    """Whether coefficient k of ``primitive``'s result needs only coefficient k of its operands.

    A callable ``order_preserving`` spec is called with the operand flags and the equation's
    parameters.
    """
    spec = _ORDER_PRESERVING.get(primitive, False)
    return bool(spec(dependent, params or {}) if callable(spec) else spec)


def is_linear(
    primitive: Any, dependent: tuple[bool, ...], params: dict[str, Any] | None = None
) -> bool:
    """Whether ``primitive`` is (globally) affine in its input-dependent operands."""
    return primitive not in _PIECEWISE and is_order_preserving(primitive, dependent, params)


def _one_dependent(dependent: tuple[bool, ...], params: Any = None) -> bool:
    return sum(dependent) == 1


def _numerator_only(dependent: tuple[bool, ...], params: Any = None) -> bool:
    return not dependent[1]


def _is_float(a: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(a), jnp.inexact)


def _jet_or_plain(p: Any, coeffs: Sequence[Any]) -> Any:
    return p if all(c is None for c in coeffs) else Jet(p, tuple(coeffs))


def _assemble(multiple: bool, out0: Any, per_order: Sequence[Any]) -> Any:
    if not multiple:
        return _jet_or_plain(out0, per_order)
    return [
        _jet_or_plain(p, [None if c is None else c[i] for c in per_order])
        for i, p in enumerate(out0)
    ]


def _batched(prim: Any, params: dict[str, Any], in_axes: Sequence[Any]) -> Callable[..., Any]:
    """``prim`` applied along the leading direction axis of the operands with axis 0.

    Uses the primitive's batching rule (one call for all directions); a user primitive without
    one falls back to a loop over the rows.
    """
    fn = functools.partial(prim.bind, **params)
    batched = jax.vmap(fn, in_axes=tuple(in_axes))

    def apply(*ops: Any) -> Any:
        try:
            return batched(*ops)
        except NotImplementedError:
            n = next(o.shape[0] for o, a in zip(ops, in_axes, strict=True) if a == 0)
            rows = [
                fn(*(o if a is None else o[i] for o, a in zip(ops, in_axes, strict=True)))
                for i in range(n)
            ]
            return jax.tree_util.tree_map(lambda *r: jnp.stack(r), *rows)

    return apply


# --------------------------------------------------------------------------- linear


def linear_rule(prim: Any) -> Rule:
    """Rule for a primitive linear in its floating operands jointly."""

    def rule(ctx: RuleContext, *args: Any, **params: Any) -> Any:
        primals = [primal(a) for a in args]
        out0 = prim.bind(*primals, **params)
        per_order = []
        for k in range(1, ctx.order + 1):
            cs = [coeff(a, k) for a in args]
            if all(c is None for c in cs):
                per_order.append(None)
                continue
            ops = [
                c if c is not None else (jnp.zeros_like(p) if _is_float(p) else p)
                for c, p in zip(cs, primals, strict=True)
            ]
            axes = [None if c is None else 0 for c in cs]
            per_order.append(_batched(prim, params, axes)(*ops))
        return _assemble(prim.multiple_results, out0, per_order)

    return rule


def register_linear(primitive: Any) -> None:
    """Register ``primitive`` as linear in its floating operands: ``y_k = p(u_k, ...)``."""
    register_rule(primitive, linear_rule(primitive), order_preserving=True)


def _add_sub(sign: int) -> Rule:
    def rule(ctx: RuleContext, a: Any, b: Any) -> Any:
        out0 = (lax.add_p if sign > 0 else lax.sub_p).bind(primal(a), primal(b))
        shape = jnp.shape(out0)
        a, b = broadcast_jet(a, shape), broadcast_jet(b, shape)
        per_order = []
        for k in range(1, ctx.order + 1):
            ca, cb = coeff(a, k), coeff(b, k)
            if cb is not None and sign < 0:
                cb = -cb
            per_order.append(add(ca, cb))
        return _jet_or_plain(out0, per_order)

    return rule


def _neg_rule(ctx: RuleContext, a: Jet) -> Any:
    return Jet(lax.neg_p.bind(a.primal), tuple(None if c is None else -c for c in a.coeffs))


def _convert_rule(ctx: RuleContext, a: Jet, **params: Any) -> Any:
    prim = _jaxpr.primitive("convert_element_type_p")
    out0 = prim.bind(a.primal, **params)
    if not _is_float(out0):
        return out0
    return Jet(out0, tuple(None if c is None else prim.bind(c, **params) for c in a.coeffs))


# --------------------------------------------------------------------------- elementwise


def elementwise_core(ctx: RuleContext, u: Jet, y0: Any, derivatives: Callable[[int], Any]) -> Any:
    """Coefficients of ``y = f(u)`` given ``derivatives(n) = [f'(u_0), ..., f^(n)(u_0)]``."""
    n = S.needed_derivatives(ctx, u.coeffs)
    if n == 0:
        return y0
    return _jet_or_plain(y0, S.compose(ctx, list(derivatives(n)), u))


def register_elementwise(primitive: Any, derivatives: Any) -> None:
    """Register an elementwise ``primitive`` by its derivatives.

    Args:
        primitive: a unary elementwise primitive ``y = f(x)``.
        derivatives: either a function ``(x, y, n, **params) -> [f'(x), ..., f^(n)(x)]`` (``x``
            the primal input, ``y = f(x)``, entries may be ``None`` for derivatives that vanish),
            or a sequence of functions ``[f', f'', ...]`` of ``x``; then orders beyond its
            length raise `UnsupportedPrimitiveError`.
    """
    if isinstance(derivatives, Sequence):
        funcs = tuple(derivatives)
        name = getattr(primitive, "name", str(primitive))

        def from_list(x: Any, y: Any, n: int, **params: Any) -> list[Any]:
            if n > len(funcs):
                raise UnsupportedPrimitiveError(
                    f"the Taylor rule for primitive `{name}` knows {len(funcs)} derivatives; "
                    f"order {n} was asked for"
                )
            return [f(x) for f in funcs[:n]]

        fn = from_list
    elif callable(derivatives):
        fn = derivatives
    else:
        raise TypeError(
            "register_elementwise: `derivatives` must be a function (x, y, n) -> list or a "
            f"sequence of functions; got {type(derivatives).__name__}"
        )

    def rule(ctx: RuleContext, u: Jet, **params: Any) -> Any:
        y0 = primitive.bind(u.primal, **params)
        return elementwise_core(ctx, u, y0, lambda n: fn(u.primal, y0, n, **params))

    register_rule(primitive, rule)
    if isinstance(derivatives, Sequence):
        _MAX_ORDER[primitive] = len(derivatives)


def _integer_pow_rule(ctx: RuleContext, u: Jet, *, y: int) -> Any:
    y0 = lax.integer_pow(u.primal, y)
    return elementwise_core(
        ctx, u, y0, lambda n: S.integer_pow_derivatives(u.primal, y0, n, y_exp=y)
    )


def _square_rule(ctx: RuleContext, u: Jet) -> Any:
    y0 = u.primal * u.primal
    return elementwise_core(
        ctx, u, y0, lambda n: S.integer_pow_derivatives(u.primal, y0, n, y_exp=2)
    )


# --------------------------------------------------------------------------- bilinear


def _stacked(fn: Callable[[Any], Any], coeffs: Sequence[Any], stack: bool) -> list[Any]:
    """``[fn(c) for c in coeffs]`` (``None`` kept), in one call on the rows stacked if asked.

    The split back uses `lax.split` (whose transpose is a concatenation), not slices (whose
    transposes are pads to be summed), so reverse mode stays one pass over the rows.
    """
    present = [c for c in coeffs if c is not None]
    if not stack or len(present) < 2:
        return [None if c is None else fn(c) for c in coeffs]
    pieces = iter(lax.split(fn(jnp.concatenate(present, axis=0)), [c.shape[0] for c in present]))
    return [None if c is None else next(pieces) for c in coeffs]


def _dot_top(prim: Any, params: dict[str, Any], ctx: RuleContext, a: Any, b: Any) -> Any:
    """``sum_r w_r dot(a_r, b_r)`` as one contraction over the direction axis too."""
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    shift = lambda dims: tuple(d + 1 for d in dims)
    dims = (((0, *shift(lc)), (0, *shift(rc))), (shift(lb), shift(rb)))
    w = ctx.weights
    if not (isinstance(w, np.ndarray) and np.all(w == 1.0)):
        a = jnp.asarray(w, a.dtype).reshape((-1,) + (1,) * (a.ndim - 1)) * a
    return lead(prim.bind(a, b, **{**params, "dimension_numbers": dims}))


def bilinear_rule(prim: Any, *, stack: bool = False, top: Callable[..., Any] | None = None) -> Rule:
    """Rule for a bilinear primitive ``y = b(u, v)`` (Leibniz rule, derivative form)."""

    def rule(ctx: RuleContext, a: Any, b: Any, **params: Any) -> Any:
        a0, b0 = primal(a), primal(b)
        out0 = prim.bind(a0, b0, **params)
        K = ctx.order
        left = [None] * K
        right = [None] * K
        if isinstance(a, Jet):
            left = _stacked(lambda c: _batched(prim, params, (0, None))(c, b0), a.coeffs, stack)
        if isinstance(b, Jet):
            right = _stacked(lambda c: _batched(prim, params, (None, 0))(a0, c), b.coeffs, stack)
        per_order = []
        both = isinstance(a, Jet) and isinstance(b, Jet)
        for k in range(1, K + 1):
            yk = add(left[k - 1], right[k - 1])
            if both:
                pairs = [
                    (binomial(k, i), a.coeffs[i - 1], b.coeffs[k - i - 1])
                    for i in range(1, k)
                    if a.coeffs[i - 1] is not None and b.coeffs[k - i - 1] is not None
                ]
                if ctx.is_top(k) and top is not None:
                    cross = add(*(c * top(prim, params, ctx, u, v) for c, u, v in pairs))
                else:
                    pair = _batched(prim, params, (0, 0))
                    cross = add(*(c * pair(u, v) for c, u, v in pairs))
                    cross = ctx.collapse(k, cross)
                yk = add(yk, cross)
            per_order.append(yk)
        return _jet_or_plain(out0, per_order)

    return rule


def _div_rule(ctx: RuleContext, a: Any, b: Any) -> Any:
    """``q = a / b``: ``q_k = (a_k - sum_{i=1..k} C(k,i) b_i q_{k-i}) / b_0``."""
    q0 = lax.div_p.bind(primal(a), primal(b))
    shape = jnp.shape(q0)
    a, b = broadcast_jet(a, shape), broadcast_jet(b, shape)
    if not isinstance(b, Jet):
        den = lead(b)
        return Jet(q0, tuple(None if c is None else c / den for c in a.coeffs))
    inv = lead(1 / b.primal)
    q: list[Any] = []
    for k in range(1, ctx.order + 1):
        lin = add(coeff(a, k), None if b.coeffs[k - 1] is None else -lead(q0) * b.coeffs[k - 1])
        rem = add(
            *(
                binomial(k, i) * b.coeffs[i - 1] * q[k - i - 1]
                for i in range(1, k)
                if b.coeffs[i - 1] is not None and q[k - i - 1] is not None
            )
        )
        num = add(lin, None if rem is None else -ctx.collapse(k, rem))
        q.append(None if num is None else num * inv)
    return _jet_or_plain(q0, q)
