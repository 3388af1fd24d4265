r"""Taylor coefficients where no closed-form rule applies.

Two mechanisms, both exact in the sense of the correctness contract (they compute what nested
``jax.jvp`` computes, because they *are* nested ``jax.jvp`` where it matters):

**custom_jvp functions, through their rule.** Nested AD never differentiates the body of a
``jax.custom_jvp`` function: its first derivative is the rule ``T(u, u')`` and every higher one
is a derivative of the rule. Along a line, ``y(t) = g(u(t))`` has ``y'(t) = T(u(t), u'(t))``, so

.. math::  y_k = \frac{d^{k-1}}{dt^{k-1}} T\big(u(t), u'(t)\big)\Big|_{t=0},

the coefficients of order ``k - 1`` of the rule's tangent output when the rule is fed the jet
of ``u`` (orders ``0 .. K-1``) and the jet of ``u'`` (``u_1`` as primal, ``u_2 .. u_K`` as
coefficients). The tangent ``u'`` differs per direction, so the rule is propagated once per
direction (`jax.vmap` over the direction axis). In collapsed mode the top coefficient of ``u``
is stored summed over directions; since ``T`` is linear in ``u'``,
``y_K = T(u_0, u_K) + R(u_0, u_1, ..., u_{K-1})``: ``R`` per direction (with ``u_K = 0``),
summed, plus one evaluation of the rule on the summed top. A rule that is not linear in its
tangents declines there.

**Any primitive JAX can differentiate, by nested jvp.** ``d^k/dt^k p(u(t))`` at ``t = 0``
depends only on the first ``k`` coefficients of ``u``, so evaluating ``p`` on the Taylor
polynomial ``u(t) = u_0 + sum_j u_j t^j / j!`` and differentiating ``k`` times with
``jax.jvp`` gives the coefficients exactly, with JAX's own derivative rules (ties, special
values and all). It costs ``2^K`` evaluations of ``p`` per direction, so the rule table keeps
closed forms for what networks use often; this covers the rest (``lu``, ``sort``, ``cumprod``,
``custom_linear_solve``, ``eigh``, scatters, ...).

Example -- softplus' rule is honoured (its second derivative at 0 is 1/4):

    >>> import jax, jax.numpy as jnp
    >>> from ._interpreter import taylor_directional
    >>> _, (d1, d2) = taylor_directional(jax.nn.softplus, jnp.zeros(()), jnp.ones((1,)), 2)
    >>> float(d1[0]), float(d2[0])
    (0.5, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _jaxpr
from ._jet import Jet, RuleContext, add, primal
from ._rules import UnsupportedPrimitiveError, _jet_or_plain, get_rule, is_linear

Propagate = Callable[..., list[Any]]


def _real_dtype(dtype: Any) -> Any:
    return jnp.finfo(dtype).dtype


# --------------------------------------------------------------------------- any primitive


def _nested_derivatives(fn: Callable[[Any], Any], t0: Any, order: int) -> list[Any]:
    """``[fn'(t0), ..., fn^(order)(t0)]`` by ``order`` nested `jax.jvp` calls (one chain)."""
    g = fn
    for _ in range(order):
        g = (lambda h: lambda t: jax.jvp(h, (t,), (jnp.ones_like(t),)))(g)
    nested = g(t0)
    out = []
    for k in range(1, order + 1):
        v = nested
        for _ in range(order - k):
            v = v[0]
        for _ in range(k):
            v = v[1]
        out.append(v)
    return out


def jvp_series(
    ctx: RuleContext, fn: Callable[..., list[Any]], args: Sequence[Any], float_out: Sequence[bool]
) -> list[Any]:
    """Coefficients of ``fn(*args)`` (a list of outputs) by nested jvp along the jets' paths.

    ``float_out[i]`` says whether output ``i`` is floating (the others are passed through).
    """
    K = ctx.order
    primals = [primal(a) for a in args]
    outs0 = list(fn(*primals))
    jet_idx = [i for i, a in enumerate(args) if isinstance(a, Jet)]
    if not jet_idx:
        return outs0

    def floats(*jet_ops: Any) -> list[Any]:
        ops = list(primals)
        for i, v in zip(jet_idx, jet_ops, strict=True):
            ops[i] = v
        return [o for o, fl in zip(fn(*ops), float_out, strict=True) if fl]

    # In collapsed mode the top coefficient is summed over directions: the path uses orders
    # below K only, and the top's linear part is added below (JVPs are linear in tangents).
    n_path = K - 1 if ctx.collapsed else K

    def one(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
        def path(t: Any) -> list[Any]:
            ops = []
            for i, r in zip(jet_idx, rows, strict=True):
                acc = primals[i]
                for j, c in enumerate(r, start=1):
                    if c is not None:
                        scale = (t**j / math.factorial(j)).astype(_real_dtype(c.dtype))
                        acc = acc + c * scale
                ops.append(acc)
            return floats(*ops)

        t0 = jnp.zeros((), _real_dtype(jnp.result_type(primals[jet_idx[0]])))
        return _nested_derivatives(path, t0, K)

    rows = [tuple(args[i].coeffs[:n_path]) for i in jet_idx]
    # [k][output] of shape (R, ...); nothing per direction when every row is a symbolic zero
    per = jax.vmap(one)(rows) if jax.tree_util.tree_leaves(rows) else None
    top_linear = None
    if ctx.collapsed:
        tops = [args[i].coeffs[K - 1] for i in jet_idx]
        tangents = [
            jnp.zeros_like(primals[i]) if c is None else c[0]
            for i, c in zip(jet_idx, tops, strict=True)
        ]
        _, top_linear = jax.jvp(floats, tuple(primals[i] for i in jet_idx), tuple(tangents))
    result, n = [], 0
    for y0, fl in zip(outs0, float_out, strict=True):
        if not fl:
            result.append(y0)
            continue
        coeffs = [None if per is None else per[k][n] for k in range(K)]
        if ctx.collapsed:
            coeffs[K - 1] = add(ctx.collapse(K, coeffs[K - 1]), top_linear[n][None])
        result.append(Jet(y0, tuple(coeffs)))
        n += 1
    return result


def generic_rule(eqn: Any, ctx: RuleContext, args: Sequence[Any]) -> list[Any]:
    """The rule for a primitive without a closed-form one: `jvp_series` with JAX's own jvp."""
    if not _jaxpr.has_jvp(eqn.primitive):
        raise UnsupportedPrimitiveError(
            f"primitive `{eqn.primitive.name}`{_at(eqn)} depends on the input and neither the "
            "Taylor engine nor JAX has a derivative rule for it"
        )
    return jvp_series(
        ctx,
        lambda *ops: _jaxpr.bind(eqn, ops),
        args,
        [_jaxpr.is_float_aval(v) for v in eqn.outvars],
    )


def _at(eqn: Any) -> str:
    where = _jaxpr.where(eqn)
    return f" (at {where})" if where else ""


# --------------------------------------------------------------------------- custom_jvp


def _zero_tangent(a: Any) -> Any:
    """The zero tangent JAX passes for an operand: float0 for integers and booleans."""
    if jnp.issubdtype(jnp.result_type(a), jnp.inexact):
        return jnp.zeros_like(a)
    return np.zeros(np.shape(a), dtype=jax.dtypes.float0)


def _linear_in(program: _jaxpr.Program, dependent: Sequence[bool]) -> bool:
    """Whether the outputs of ``program`` are linear in its inputs flagged ``dependent``.

    Structural: every equation touching a dependent value must be linear in it (the rule
    table's linear classification), with no non-floating result computed from it.
    """
    dep: dict[Any, bool] = dict(zip(program.invars, dependent, strict=True))
    for eqn in program.eqns:
        flags = tuple(not _jaxpr.is_literal(a) and dep.get(a, False) for a in eqn.invars)
        if not any(flags):
            continue
        if not all(_jaxpr.is_float_aval(v) for v in eqn.outvars):
            return False
        body = _jaxpr.call_body(eqn)
        if body is not None:
            if not _linear_in(body, flags):
                return False
        elif get_rule(eqn.primitive) is None or not is_linear(eqn.primitive, flags, eqn.params):
            return False
        for v in eqn.outvars:
            dep[v] = True
    return True


def custom_jvp_rule(
    eqn: Any, ctx: RuleContext, args: Sequence[Any], propagate: Propagate
) -> list[Any]:
    """Coefficients of a `custom_jvp` function's outputs, through its rule (module docstring)."""
    name = _jaxpr.custom_name(eqn)
    n_consts = _jaxpr.custom_jvp_consts(eqn)
    consts, ins = list(args[:n_consts]), list(args[n_consts:])
    if any(isinstance(a, Jet) for a in consts):
        raise UnsupportedPrimitiveError(
            f"the custom_jvp function `{name}`{_at(eqn)} closes over a value that depends on "
            "the input; JAX's own AD refuses this too (pass it as an argument)"
        )
    K = ctx.order
    outs0 = _jaxpr.bind(eqn, [primal(a) for a in args])
    zeros = [not isinstance(a, Jet) for a in ins]
    rule, out_zeros = _jaxpr.custom_jvp_rule(eqn, zeros)
    n_out = len(out_zeros)
    jets = [a for a in ins if isinstance(a, Jet)]
    # Tangents of the operands that do not depend on the input: zeros, unless the rule takes
    # symbolic zeros (then it has no slot for them).
    fixed = [] if _jaxpr.custom_jvp_symbolic_zeros(eqn) else [None] * len(ins)
    if fixed:
        fixed = [None if isinstance(a, Jet) else _zero_tangent(a) for a in ins]
    tangent_dep = [f is None for f in fixed] if fixed else [True] * len(jets)
    if ctx.collapsed and not _linear_in(rule, [False] * len(ins) + tangent_dep):
        raise UnsupportedPrimitiveError(
            f"the custom_jvp rule of `{name}`{_at(eqn)} is not linear in its tangents, which "
            "collapsed Taylor mode needs to sum over directions; method='taylor' applies"
        )
    inner = RuleContext(order=K - 1, n_directions=1)
    n_path = K - 1 if ctx.collapsed else K  # the collapsed top is added below

    def one(rows: list[tuple[Any, ...]]) -> list[tuple[Any, tuple[Any, ...]]]:
        primal_args, tangent_args, it = [], [], iter(rows)
        for i, a in enumerate(ins):
            if not isinstance(a, Jet):
                primal_args.append(a)
                if fixed:
                    tangent_args.append(fixed[i])
                continue
            r = next(it)
            row = lambda c: None if c is None else c[None]
            primal_args.append(_jet_or_plain(a.primal, [row(c) for c in r[: K - 1]]))
            t0 = jnp.zeros_like(a.primal) if r[0] is None else r[0]
            tangent_args.append(_jet_or_plain(t0, [row(c) for c in r[1:K]]))
        outs = propagate(rule, inner, [*primal_args, *tangent_args])
        res = []
        for t in outs[n_out:]:
            coeffs = t.coeffs if isinstance(t, Jet) else (None,) * (K - 1)
            res.append((primal(t), tuple(None if c is None else c[0] for c in coeffs)))
        return res

    rows = [tuple(a.coeffs[:n_path]) + (None,) * (K - n_path) for a in jets]
    per = jax.vmap(one)(rows) if jax.tree_util.tree_leaves(rows) else None
    top_linear = None
    if ctx.collapsed:
        tangents = [
            (fixed[i] if fixed else None)
            if not isinstance(a, Jet)
            else jnp.zeros_like(a.primal)
            if a.coeffs[K - 1] is None
            else a.coeffs[K - 1][0]
            for i, a in enumerate(ins)
        ]
        tangents = [t for t in tangents if t is not None]
        plain = RuleContext(order=0, n_directions=1)
        top_linear = propagate(rule, plain, [*(primal(a) for a in ins), *tangents])[n_out:]
    result, n = [], 0
    for y0, zero in zip(outs0, out_zeros, strict=True):
        if zero or not jnp.issubdtype(jnp.result_type(y0), jnp.inexact):
            result.append(y0)
            continue
        if per is None:
            coeffs = [None] * K
        else:
            y1, higher = per[n]
            coeffs = [y1, *higher]
        if ctx.collapsed:
            coeffs[K - 1] = add(ctx.collapse(K, coeffs[K - 1]), top_linear[n][None])
        result.append(_jet_or_plain(y0, coeffs))
        n += 1
    return result
