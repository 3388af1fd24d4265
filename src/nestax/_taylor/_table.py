"""The default rule table: piecewise and composite rules, and every registration.

Importing this module fills the registry of `_rules` with the primitives networks in this
field use (see `_rules` for the classifiers): linear and structural primitives, elementwise
functions with closed-form derivative series (tanh, logistic, exp, log, sin, erf, powers, ...)
or derivatives by nested jvp (atan, asinh, lgamma, ...), bilinear products (mul, dot_general,
conv), division, and the piecewise ones below (max, min, clamp, abs, reduce_max, rem) whose
coefficients are those of the active branch.

Example:
    >>> from jax import lax
    >>> from ._rules import get_rule
    >>> get_rule(lax.tanh_p) is not None and get_rule(lax.while_p) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from . import _jaxpr
from . import _series as S
from ._custom import jvp_series
from ._jet import Jet, RuleContext, add, broadcast_jet, coeff, lead, primal
from ._rules import (
    Rule,
    _add_sub,
    _convert_rule,
    _div_rule,
    _dot_top,
    _integer_pow_rule,
    _jet_or_plain,
    _neg_rule,
    _numerator_only,
    _one_dependent,
    _square_rule,
    bilinear_rule,
    elementwise_core,
    linear_rule,
    register_elementwise,
    register_linear,
    register_rule,
)

_mul_rule = bilinear_rule(lax.mul_p)
#: The parameters a plain ``a * b`` binds ``mul`` with (they vary across JAX versions).
_MUL_PARAMS = _jaxpr.default_params(lax.mul, 1.0, 1.0)


# --------------------------------------------------------------------------- piecewise


def _choose(prim: Any, cmp: Callable[[Any, Any], Any]) -> Rule:
    """max / min: the coefficients of the chosen operand; the mean of both at ties (as JAX)."""

    def rule(ctx: RuleContext, a: Any, b: Any) -> Any:
        out0 = prim.bind(primal(a), primal(b))
        shape = jnp.shape(out0)
        a, b = broadcast_jet(a, shape), broadcast_jet(b, shape)
        pa, pb = lead(cmp(primal(a), primal(b))), lead(cmp(primal(b), primal(a)))
        per_order = []
        for k in range(1, ctx.order + 1):
            ca, cb = coeff(a, k), coeff(b, k)
            if ca is None and cb is None:
                per_order.append(None)
                continue
            za = 0.0 if ca is None else ca
            zb = 0.0 if cb is None else cb
            tie = 0.5 * add(ca, cb)
            per_order.append(jnp.where(pa, za, jnp.where(pb, zb, tie)))
        return _jet_or_plain(out0, per_order)

    return rule


_max_rule = _choose(lax.max_p, lax.gt)
_min_rule = _choose(lax.min_p, lax.lt)


def _clamp_rule(ctx: RuleContext, lo: Any, x: Any, hi: Any) -> Any:
    """``clamp(lo, x, hi)`` as JAX differentiates it: each operand's coefficients where it is
    strictly the active one, zero at ties (JAX's clamp rule uses strict comparisons)."""
    l0, x0, h0 = primal(lo), primal(x), primal(hi)
    out0 = lax.clamp(l0, x0, h0)
    pick_lo = lead((l0 > x0) & (l0 < h0))
    pick_x = lead((x0 > l0) & (x0 < h0))
    pick_hi = lead(h0 < x0)
    per_order = []
    for k in range(1, ctx.order + 1):
        parts = [
            None if c is None else jnp.where(pick, c, jnp.zeros_like(c))
            for c, pick in ((coeff(lo, k), pick_lo), (coeff(x, k), pick_x), (coeff(hi, k), pick_hi))
        ]
        per_order.append(add(*parts))
    return _jet_or_plain(out0, per_order)


def _abs_rule(ctx: RuleContext, u: Jet) -> Any:
    """``|u|``: JAX's rule takes the sign ``+1`` at ``u = 0`` (``select(u >= 0, g, -g)``)."""
    if jnp.issubdtype(u.primal.dtype, jnp.complexfloating):
        return jvp_series(ctx, lambda z: [lax.abs(z)], [u], [True])[0]
    s = lead(jnp.where(u.primal >= 0, 1, -1).astype(u.primal.dtype))
    return Jet(jnp.abs(u.primal), tuple(None if c is None else s * c for c in u.coeffs))


def _reduce_choose(prim: Any) -> Rule:
    """reduce_max / reduce_min: coefficients averaged over the positions attaining the extremum."""

    def rule(ctx: RuleContext, u: Jet, *, axes: tuple[int, ...], **params: Any) -> Any:
        out0 = prim.bind(u.primal, axes=axes, **params)
        hit = (u.primal == jnp.expand_dims(out0, axes)).astype(u.primal.dtype)
        share = lead(hit / jnp.sum(hit, axis=axes, keepdims=True))
        shifted = tuple(a + 1 for a in axes)
        return Jet(
            out0, tuple(None if c is None else jnp.sum(c * share, axis=shifted) for c in u.coeffs)
        )

    return rule


def _map_linear(fn: Callable[[Any], Any], u: Jet) -> Jet:
    """Apply a linear array function to a jet (primal and every coefficient row)."""
    return Jet(fn(u.primal), tuple(None if c is None else jax.vmap(fn)(c) for c in u.coeffs))


def _reduce_prod_rule(ctx: RuleContext, u: Jet, *, axes: tuple[int, ...], **params: Any) -> Any:
    """Product over ``axes`` as a chain of products (Leibniz rule at each step)."""
    nd = u.primal.ndim
    kept = [n for i, n in enumerate(u.primal.shape) if i not in axes]
    last = tuple(range(nd - len(axes), nd))
    flat = _map_linear(lambda a: jnp.moveaxis(a, axes, last).reshape((*kept, -1)), u)
    n = flat.primal.shape[-1]
    if n == 0:
        return jnp.ones(kept, u.primal.dtype)
    acc = _map_linear(lambda a: a[..., 0], flat)
    for i in range(1, n):
        acc = _mul_rule(ctx, acc, _map_linear(lambda a, i=i: a[..., i], flat), **_MUL_PARAMS)
    return acc


def _zero_rule(prim: Any) -> Rule:
    def rule(ctx: RuleContext, *args: Any, **params: Any) -> Any:
        return prim.bind(*(primal(a) for a in args), **params)

    return rule


def _rem_rule(ctx: RuleContext, a: Any, b: Any) -> Any:
    # rem(a, b) = a - b * trunc(a / b), the quotient piecewise constant (JAX's rule:
    # d/db = -sign(a / b) floor(|a / b|)).
    out0 = lax.rem(primal(a), primal(b))
    ratio = primal(a) / primal(b)
    quot = lead(jnp.sign(ratio) * jnp.floor(jnp.abs(ratio)))
    per_order = [
        add(coeff(a, k), None if coeff(b, k) is None else -quot * coeff(b, k))
        for k in range(1, ctx.order + 1)
    ]
    return _jet_or_plain(out0, per_order)


# --------------------------------------------------------------------------- composites


def _pow_rule(ctx: RuleContext, x: Any, p: Any) -> Any:
    """``x^p``: closed form for an input-independent exponent; through JAX's own rule (nested
    jvp, `jvp_series`) when the exponent depends on the input."""
    if isinstance(p, Jet):
        return jvp_series(ctx, lambda a, b: [lax.pow(a, b)], [x, p], [True])[0]
    y0 = lax.pow(x.primal, p)
    return elementwise_core(ctx, x, y0, lambda n: S.real_pow_derivatives(x.primal, p, n))


def _atan2_rule(ctx: RuleContext, a: Any, b: Any) -> Any:
    # atan2(a, b) = atan(a / b) + a branch constant.
    z = _div_rule(ctx, a, b) if isinstance(b, Jet) or isinstance(a, Jet) else None
    y0 = lax.atan2(primal(a), primal(b))
    if not isinstance(z, Jet):  # pragma: no cover
        return y0
    return elementwise_core(ctx, z, y0, lambda n: _ATAN(z.primal, None, n))


_ATAN = S.jvp_derivatives(lax.atan_p)


# --------------------------------------------------------------------------- solves


def _solve_rule(prim: Any, first_linear: Callable[[dict[str, Any]], int]) -> Rule:
    """A solve ``y = A^{-1} b``: linear when only the right-hand sides (operands from
    ``first_linear(params)`` on) depend on the input; otherwise through JAX's own rule."""
    linear = linear_rule(prim)

    def rule(ctx: RuleContext, *args: Any, **params: Any) -> Any:
        if not any(isinstance(a, Jet) for a in args[: first_linear(params)]):
            return linear(ctx, *args, **params)
        multiple = prim.multiple_results
        fn = lambda *ops: (lambda out: list(out) if multiple else [out])(prim.bind(*ops, **params))
        n_out = len(jax.eval_shape(fn, *(primal(a) for a in args)))
        outs = jvp_series(ctx, fn, args, [True] * n_out)
        return outs if multiple else outs[0]

    return rule


def _rhs_only(first_linear: Callable[[dict[str, Any]], int]) -> Callable[..., bool]:
    return lambda flags, params: not any(flags[: first_linear(params)])


def _register_solves() -> None:
    solves = {
        "triangular_solve_p": lambda params: 1,  # (a, b)
        # custom_linear_solve: the consts of matvec, vecmat, solve and transpose_solve, then b
        "linear_solve_p": lambda params: int(sum(params["const_lengths"])),
    }
    for name, first_linear in solves.items():
        if (prim := _jaxpr.primitive(name)) is not None:
            register_rule(
                prim, _solve_rule(prim, first_linear), order_preserving=_rhs_only(first_linear)
            )


# --------------------------------------------------------------------------- the table


def _register_defaults() -> None:
    P = _jaxpr.primitive
    for name in (
        "neg_p reshape_p broadcast_in_dim_p transpose_p squeeze_p expand_dims_p slice_p "
        "concatenate_p reduce_sum_p pad_p rev_p copy_p select_n_p dynamic_slice_p "
        "dynamic_update_slice_p gather_p scatter_add_p scatter_p cumsum_p reduce_window_sum_p "
        "split_p tile_p stack_p unstack_p reduce_precision_p sharding_constraint_p real_p imag_p "
        "complex_p conj_p fft_p device_put_p"
    ).split():
        if (prim := P(name)) is not None:
            register_linear(prim)
    linear = {"order_preserving": True}
    register_rule(lax.add_p, _add_sub(+1), **linear)
    if (add_any := P("add_jaxvals_p")) is not None:  # `add_any`: sums of tangents in jvp programs
        register_rule(add_any, _add_sub(+1), **linear)
    register_rule(lax.sub_p, _add_sub(-1), **linear)
    register_rule(lax.neg_p, _neg_rule, **linear)
    register_rule(lax.convert_element_type_p, _convert_rule, **linear)

    bilinear = {"order_preserving": _one_dependent}
    register_rule(lax.mul_p, _mul_rule, **bilinear)
    register_rule(
        lax.dot_general_p,
        bilinear_rule(lax.dot_general_p, stack=True, top=_dot_top),
        **bilinear,
    )
    register_rule(
        lax.conv_general_dilated_p,
        bilinear_rule(lax.conv_general_dilated_p, stack=True),
        **bilinear,
    )
    register_rule(lax.div_p, _div_rule, order_preserving=_numerator_only)

    closed_form = {
        "tanh_p": S.tanh_derivatives,
        "logistic_p": S.logistic_derivatives,
        "tan_p": S.tan_derivatives,
        "exp_p": S.exp_derivatives,
        "expm1_p": S.expm1_derivatives,
        "log_p": S.log_derivatives,
        "log1p_p": S.log1p_derivatives,
        "sin_p": S.sin_derivatives,
        "cos_p": S.cos_derivatives,
        "sinh_p": S.sinh_derivatives,
        "cosh_p": S.cosh_derivatives,
        "erf_p": S.erf_derivatives,
        "erfc_p": S.erfc_derivatives,
        "sqrt_p": S.root_derivatives(2, +1),
        "rsqrt_p": S.root_derivatives(2, -1),
        "cbrt_p": S.root_derivatives(3, +1),
    }
    for name, derivs in closed_form.items():
        if (prim := P(name)) is not None:
            register_elementwise(prim, derivs)
    for name in (
        "atan_p asin_p acos_p asinh_p acosh_p atanh_p erf_inv_p lgamma_p digamma_p exp2_p "
        "bessel_i0e_p bessel_i1e_p"
    ).split():
        if (prim := P(name)) is not None:
            register_elementwise(prim, S.jvp_derivatives(prim))
    register_rule(lax.integer_pow_p, _integer_pow_rule)
    if (p := P("square_p")) is not None:
        register_rule(p, _square_rule)
    register_rule(lax.pow_p, _pow_rule)  # the interpreter broadcasts x and p
    register_rule(lax.atan2_p, _atan2_rule)

    # Piecewise-linear selections: coefficient k of the result is a selection of coefficients k
    # (order-preserving, but not linear maps of the input: the reduction pass must see them).
    piecewise = {"order_preserving": True, "piecewise": True}
    register_rule(lax.max_p, _max_rule, **piecewise)
    register_rule(lax.min_p, _min_rule, **piecewise)
    register_rule(lax.clamp_p, _clamp_rule, **piecewise)
    register_rule(lax.abs_p, _abs_rule, **piecewise)
    register_rule(lax.reduce_max_p, _reduce_choose(lax.reduce_max_p), **piecewise)
    register_rule(lax.reduce_min_p, _reduce_choose(lax.reduce_min_p), **piecewise)
    register_rule(lax.rem_p, _rem_rule, **piecewise)
    register_rule(lax.reduce_prod_p, _reduce_prod_rule)
    for name in "sign_p floor_p ceil_p round_p stop_gradient_p nextafter_p".split():
        if (prim := P(name)) is not None:
            register_rule(prim, _zero_rule(prim))

    _register_solves()


_register_defaults()
