r"""Taylor coefficients through control flow: ``scan``, ``while`` and ``cond``.

Each is rebuilt as the same control flow over jets: the loop carries and the branch results are
jets with every coefficient present (`full_jet`: one fixed structure, as a loop needs), and the
body is propagated by the interpreter. Coefficients of a loop's scanned inputs and outputs keep
the time axis first inside the loop and the direction axis first outside. Which carries depend
on the input is found by a fixed point over the body (a carry that is constant on entry may
depend on the input after one step). Conditions and branch indices are computed from primal
values only, as nested ``jax.jvp`` does: Taylor mode needs no trip count that depends on a
tangent.

Example -- a Laplacian through a scan over layers equals the unrolled one:

    >>> import jax, jax.numpy as jnp
    >>> from ._interpreter import taylor_directional
    >>> W = jnp.array([[0.5, -0.3], [0.2, 0.8]])
    >>> def net(x):
    ...     return jnp.sum(jax.lax.scan(lambda h, _: (jnp.tanh(h @ W), None), x, None, 3)[0])
    >>> def unrolled(x):
    ...     for _ in range(3):
    ...         x = jnp.tanh(x @ W)
    ...     return jnp.sum(x)
    >>> x, dirs = jnp.array([0.1, 0.4]), jnp.eye(2)
    >>> a, b = taylor_directional(net, x, dirs, 2)[1], taylor_directional(unrolled, x, dirs, 2)[1]
    >>> bool(jnp.allclose(a, b))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
from jax import lax

from . import _jaxpr
from ._jet import Jet, RuleContext, full_jet, primal

Propagate = Callable[..., list[Any]]


def _is_jet(a: Any) -> bool:
    return isinstance(a, Jet)


def _carry_dependence(
    body: _jaxpr.Program, before: Sequence[bool], carry: Sequence[bool], after: Sequence[bool]
) -> list[bool]:
    """Fixed point: which carries depend on the input at some iteration."""
    dep = list(carry)
    n = len(dep)
    while True:
        _, out = _jaxpr.dependence(body, [*before, *dep, *after])
        new = [a or b for a, b in zip(dep, out[:n], strict=True)]
        if new == dep:
            return dep
        dep = new


def _fix(ctx: RuleContext, values: Sequence[Any], dep: Sequence[bool]) -> list[Any]:
    return [full_jet(ctx, v) if d else v for v, d in zip(values, dep, strict=True)]


def _move(v: Any, source: int, dest: int) -> Any:
    if not _is_jet(v):
        return v
    return Jet(
        v.primal, tuple(None if c is None else jnp.moveaxis(c, source, dest) for c in v.coeffs)
    )


def scan_rule(eqn: Any, ctx: RuleContext, args: Sequence[Any], propagate: Propagate) -> list[Any]:
    parts = _jaxpr.scan_parts(eqn)
    nc, nk = parts.num_consts, parts.num_carry
    consts, init, xs = list(args[:nc]), list(args[nc : nc + nk]), list(args[nc + nk :])
    dep = _carry_dependence(
        parts.body,
        [_is_jet(a) for a in consts],
        [_is_jet(a) for a in init],
        [_is_jet(a) for a in xs],
    )
    # Inside the loop the time axis leads (scan slices axis 0); the direction axis follows.
    xs = [_move(a, 1, 0) for a in xs]

    def body(carry: list[Any], x: list[Any]) -> tuple[list[Any], list[Any]]:
        outs = propagate(parts.body, ctx, [*consts, *carry, *x])
        return _fix(ctx, outs[:nk], dep), outs[nk:]

    carry, ys = lax.scan(
        body,
        _fix(ctx, init, dep),
        xs,
        length=parts.length,
        reverse=parts.reverse,
        unroll=parts.unroll,
    )
    return [*carry, *(_move(y, 0, 1) for y in ys)]


def while_rule(eqn: Any, ctx: RuleContext, args: Sequence[Any], propagate: Propagate) -> list[Any]:
    parts = _jaxpr.while_parts(eqn)
    cn, bn = parts.cond_nconsts, parts.body_nconsts
    cond_consts = [primal(a) for a in args[:cn]]
    body_consts, init = list(args[cn : cn + bn]), list(args[cn + bn :])
    dep = _carry_dependence(
        parts.body, [_is_jet(a) for a in body_consts], [_is_jet(a) for a in init], []
    )
    plain = RuleContext(order=0, n_directions=1)

    def cond(carry: list[Any]) -> Any:
        return propagate(parts.cond, plain, [*cond_consts, *(primal(c) for c in carry)])[0]

    def body(carry: list[Any]) -> list[Any]:
        return _fix(ctx, propagate(parts.body, ctx, [*body_consts, *carry]), dep)

    return list(lax.while_loop(cond, body, _fix(ctx, init, dep)))


def cond_rule(eqn: Any, ctx: RuleContext, args: Sequence[Any], propagate: Propagate) -> list[Any]:
    branches = _jaxpr.cond_branches(eqn)
    index, ops = primal(args[0]), tuple(args[1:])
    flags = [_is_jet(a) for a in ops]
    dep = [any(d) for d in zip(*(_jaxpr.dependence(b, flags)[1] for b in branches), strict=True)]

    def branch(program: _jaxpr.Program) -> Callable[[tuple[Any, ...]], list[Any]]:
        return lambda operands: _fix(ctx, propagate(program, ctx, list(operands)), dep)

    return list(lax.switch(index, [branch(b) for b in branches], ops))


RULES = {"scan": scan_rule, "while": while_rule, "cond": cond_rule}
