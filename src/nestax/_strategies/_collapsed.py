r"""Strategy "collapsed": Taylor mode with the top coefficient summed during propagation.

Same directions and weights as the "taylor" strategy, but each order-group of order k is one
`collapsed_directional` call: coefficients of orders < k travel per direction, the order-k
coefficient travels already summed, ``sum_r w_r y_k^(r)`` (collapsed Taylor mode, Dangel,
Siebert, Zeinhofer & Walther 2025; for the Laplacian this is the forward Laplacian of Li et al.
2023). Cost per point: ``1 + sum_k ((k - 1) R_k + 1)``. Examples: Laplacian ``d + 2``;
biharmonic ``3 R + 2`` with ``R = 3`` (d = 2), ``6`` (d = 3), ``12`` (d = 4), ``d^2`` otherwise
(``3d^2 + 2``; the reference ``4.5 d^2 - 1.5 d + 4`` is for GUW directions); an order-1 group
is one jvp.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sin(x[0]) * x[1] ** 2
    >>> float(apply_collapsed({(2, 0): 1.0, (0, 2): 1.0}, f, jnp.array([0.5, 2.0])))
    ... # doctest: +ELLIPSIS
    -0.958...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from .._taylor import collapsed_directional
from ._directions import DirectionGroup, count_directions, counts
from ._protocol import LINEAR_KINDS, Declined, Problem, Proposal
from ._taylor import apply_groups, run_groups


def _collapsed_group(f: Callable[..., Any], x: jax.Array, group: DirectionGroup) -> tuple[Any, Any]:
    return collapsed_directional(f, x, group.directions, group.weights, group.order)


def apply_collapsed(terms: Any, f: Callable[..., Any], x: Any, *, has_aux: bool = False) -> Any:
    """``L f(x) = sum_alpha c_alpha d^alpha f(x)`` by collapsed Taylor mode.

    Arguments and result as in `apply_taylor`.
    """
    return apply_groups(terms, f, x, has_aux, _collapsed_group, "collapsed")


def cost_collapsed(terms: Any, d: int) -> float:
    """Vectors pushed through the network per point: ``1 + sum_k ((k - 1) R_k + 1)``."""
    return collapsed_passes(count_directions(terms, d))


def collapsed_passes(counts: dict[int, int]) -> float:
    """``1 + sum_k ((k - 1) R_k + 1)`` from ``{k: R_k}``, the directions of each order."""
    return 1.0 + float(sum((k - 1) * r + 1 for k, r in counts.items()))


# --------------------------------------------------------------------------- the protocol

NAMES = ("collapsed",)
KINDS = {"collapsed": LINEAR_KINDS}
NEEDS_ENGINE = True
EXACT = True
BUILDS_TERMS = frozenset(NAMES)
LAZY = False


def propose(problem: Problem, name: str) -> Proposal | Declined:
    """Declines where the engine cannot run ``f``; else ``1 + sum_k ((k - 1) R_k + 1)``."""
    return problem.engine_declined(name) or Proposal(
        name, collapsed_passes(counts(problem.directions[1])), problem
    )


def run(proposal: Proposal, f: Callable[..., Any], x: Any) -> tuple[Any, Any]:
    """``(value, aux)`` along the problem's planned directions, top order collapsed."""
    return run_groups(proposal, f, x, _collapsed_group)
