r"""Strategy "taylor": univariate Taylor propagation along directions, then interpolation.

For each total order k of the operator, the engine pushes the Taylor series of
``t -> f(x + t v_r)`` up to order k along every direction of a small exact set (see
`_directions`), all directions at once, and the operator is recovered as

.. math::  L f(x) = \sum_k \sum_r w_{k,r} \frac{d^k}{dt^k} f(x + t v_{k,r}) \Big|_{t=0}

(mixed partials by interpolation of directional derivatives, Griewank--Utke--Walther 2000, as
STDE does). Cost in vectors pushed through the network per point: one primal plus k per
direction and order-group, ``1 + sum_k k R_k``. Examples: Laplacian ``1 + 2d``; biharmonic
``1 + 4 R`` with ``R = 3`` (d = 2), ``6`` (d = 3), ``12`` (d = 4), ``d^2`` otherwise -- below
the ``6d^2 - 2d + 1`` of plain GUW interpolation.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sin(x[0]) * x[1] ** 2
    >>> float(apply_taylor({(2, 0): 1.0, (0, 2): 1.0}, f, jnp.array([0.5, 2.0])))  # Laplacian
    ... # doctest: +ELLIPSIS
    -0.958...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._taylor import taylor_directional_top
from .._validate import as_array, check_rank, split_aux
from ._directions import DirectionGroup, count_directions, counts, plan
from ._protocol import LINEAR_KINDS, Declined, Problem, Proposal

GroupFn = Callable[[Callable[..., Any], jax.Array, DirectionGroup], tuple[Any, Any]]


def apply_groups(
    terms: Any,
    f: Callable[..., Any],
    x: Any,
    has_aux: bool,
    per_group: GroupFn,
    op: str,
    planned: tuple[float, tuple[DirectionGroup, ...]] | None = None,
) -> Any:
    """Sum ``per_group``'s contributions over the operator's order-groups (shared by strategies).

    ``per_group(f, x, group) -> (f(x), contribution)`` with pytrees shaped like ``f``'s output;
    ``planned``: the terms' `plan` when already made.
    """
    x = as_array(x, op=op)
    check_rank(x, 1, op=op)
    c0, groups = planned if planned is not None else plan(terms, x.shape[0], op=op)
    out0, total = None, None
    for group in groups:
        y0, part = per_group(f, x, group)
        out0 = y0 if out0 is None else out0
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    if out0 is None:
        out0 = f(x)
    y0, aux = split_aux(out0, has_aux, op=op)
    if total is None:
        value = jax.tree_util.tree_map(lambda y: c0 * y if c0 else jnp.zeros_like(y), y0)
    else:
        value, _ = split_aux(total, has_aux, op=op)
        if c0:
            value = jax.tree_util.tree_map(lambda v, y: v + c0 * y, value, y0)
    return (value, aux) if has_aux else value


def _taylor_group(f: Callable[..., Any], x: jax.Array, group: DirectionGroup) -> tuple[Any, Any]:
    y0, top = taylor_directional_top(f, x, group.directions, group.order)

    def combine(c: Any) -> Any:
        if not jnp.issubdtype(c.dtype, jnp.inexact):
            return jnp.zeros(c.shape[1:], c.dtype)
        return jnp.tensordot(jnp.asarray(group.weights, c.dtype), c, axes=1)

    return y0, jax.tree_util.tree_map(combine, top)


def apply_taylor(terms: Any, f: Callable[..., Any], x: Any, *, has_aux: bool = False) -> Any:
    """``L f(x) = sum_alpha c_alpha d^alpha f(x)`` by standard Taylor mode.

    Args:
        terms: ``{alpha: c_alpha}``, multi-indices of length ``d = x.size``, constant numbers.
        f: ``x -> y`` (or ``(y, aux)`` with ``has_aux``); the operator acts per component of y.
        x: one point, shape ``(d,)``.

    Returns:
        ``L f(x)`` with ``y``'s shape, or ``(L y, aux)`` with ``aux`` the primal value (``f`` is
        traced once per order-group; under `jax.jit` the shared primal work is merged).
    """
    return apply_groups(terms, f, x, has_aux, _taylor_group, "taylor")


def cost_taylor(terms: Any, d: int) -> float:
    """Vectors pushed through the network per point: ``1 + sum_k k * R_k``."""
    return taylor_passes(count_directions(terms, d))


def taylor_passes(counts: dict[int, int]) -> float:
    """``1 + sum_k k R_k`` from ``{k: R_k}``, the directions of each order."""
    return 1.0 + float(sum(k * r for k, r in counts.items()))


# --------------------------------------------------------------------------- the protocol

NAMES = ("taylor",)
KINDS = {"taylor": LINEAR_KINDS}
NEEDS_ENGINE = True
EXACT = True
BUILDS_TERMS = frozenset(NAMES)
LAZY = False


def propose(problem: Problem, name: str) -> Proposal | Declined:
    """Declines where the engine cannot run ``f``; else ``1 + sum_k k R_k``."""
    return problem.engine_declined(name) or Proposal(
        name, taylor_passes(counts(problem.directions[1])), problem
    )


def run(proposal: Proposal, f: Callable[..., Any], x: Any) -> tuple[Any, Any]:
    """``(value, aux)`` along the problem's planned directions."""
    return run_groups(proposal, f, x, _taylor_group)


def run_groups(proposal: Proposal, f: Callable[..., Any], x: Any, per_group: GroupFn):
    """`apply_groups` for a proposal (shared with "collapsed")."""
    p = proposal.problem
    lf, lx = p.linear_view(f, x)
    out = apply_groups(p.terms, lf, lx, p.has_aux, per_group, proposal.name, p.directions)
    return out if p.has_aux else (out, None)
