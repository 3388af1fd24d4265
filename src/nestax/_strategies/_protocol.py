r"""The one protocol every way of computing a derivative follows.

A strategy is a module with

- ``NAMES``: the method names it answers to (``"taylor"``; ``_nested`` answers to the modes
  and nestings of first-order AD) and ``KINDS``: ``{name: kinds of problem it computes}``;
- ``propose(problem, name) -> Proposal | Declined``: its cost estimate for this problem, in
  forward passes of the network per point, with what it traced or planned to get there
  (``artefacts``: a reduction's readers, an inner program) so that `run` does not do it again;
  or why it declines;
- ``run(proposal, f, x) -> (value, aux)``: the result, from the proposal's artefacts, for the
  problem's own ``f`` and ``x`` (normally ``problem.traced`` and ``problem.x``);
- flags: ``NEEDS_ENGINE`` (it runs the Taylor engine: ``auto`` tries it before trusting it),
  ``EXACT`` (``False``: a randomized estimate, only run when named), ``BUILDS_TERMS`` (the
  names that read the operator's full ``d``-dimensional term list) and ``LAZY`` (it plans from
  a rotation-invariant operator's profile alone, so the others need not be costed at large d).

The registry (`nestax._strategies.REGISTRY`) maps every name to its module; the planner
(`nestax._planner.choose`) only compares proposals, and `nestax.explain` prints them. A
`Problem` is built once per call of an operator and traces the user's function once: the
engine's checks, the reduction's reader walk and every run read that one program.

Example:
    >>> import jax.numpy as jnp
    >>> from nestax._strategies import _collapsed
    >>> p = Problem.linear("laplacian", lambda x: jnp.sum(x**3), jnp.ones(2), False,
    ...                    {(2, 0): 1.0, (0, 2): 1.0})
    >>> proposal = _collapsed.propose(p, "collapsed")
    >>> proposal.cost, float(_collapsed.run(proposal, p.traced, p.x)[0])
    (4.0, 12.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax

from .._taylor import Traced, unsupported_reason
from .._validate import shape_of, split_aux
from ._directions import DirectionGroup, plan

#: Kinds of problem. First order: `jacobian` (also the gradient), `batch_jacobian`,
#: `divergence`; second: `hessian`; the linear operators ``sum_alpha c_alpha d^alpha``.
FIRST_ORDER_KINDS = frozenset({"jacobian", "batch_jacobian", "divergence"})
LINEAR_KINDS = frozenset({"laplacian", "derivative", "partial", "apply"})


@dataclass(frozen=True)
class Proposal:
    """A strategy's offer: ``cost`` per point, a sentence for ``explain`` (``note``, may be
    empty) and what it prepared for `run` (``artefacts``)."""

    name: str
    cost: float
    problem: Problem = field(repr=False)
    note: str = ""
    artefacts: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Declined:
    """Why a strategy does not offer itself. ``proposal``: what it would do if named anyway
    (``None``: it cannot run at all, and ``error`` says why to the caller who named it), or a
    function that builds it, when costing it takes work that ``auto`` never needs."""

    name: str
    reason: str
    proposal: Proposal | Callable[[], Proposal] | None = None
    error: str | None = None

    def fallback(self) -> Proposal | None:
        """The proposal to use when the method is named anyway (built now if deferred)."""
        return self.proposal() if callable(self.proposal) else self.proposal


def pair(f: Callable[..., Any], has_aux: bool, op: str) -> Callable[..., tuple[Any, Any]]:
    """``f`` normalised to return ``(y, aux)``; ``aux`` is ``None`` without ``has_aux``."""
    return lambda z: split_aux(f(z), has_aux, op=op)


class Problem:
    """One derivative to compute at one point.

    ``op`` names the public operator (for messages), ``label`` the operator in `explain`
    (``"Biharmonic()"``), ``kind`` what is computed (`FIRST_ORDER_KINDS`, ``"hessian"``,
    `LINEAR_KINDS`). ``traced`` is the user's ``f`` traced once at ``x``; ``d`` and ``m`` the
    input and output sizes of the cost models. The linear kinds carry ``terms``
    ``{alpha: c_alpha}`` (possibly lazy: `InvariantTerms`), acting on the point function of
    `linear_view` (for ``derivative``, ``z -> f(z[0])`` at ``t.reshape(1)``, ``order`` = k).
    ``options`` are a randomized estimator's (``key``, ``samples``, ...).

    Nothing here outlives the call of the operator, so values ``f`` closes over are read afresh
    on the next call.
    """

    def __init__(
        self,
        op: str,
        kind: str,
        f: Callable[..., Any],
        x: jax.Array,
        has_aux: bool,
        *,
        label: str | None = None,
        terms: Mapping[tuple[int, ...], float] | None = None,
        order: int = 0,
        options: Mapping[str, Any] | None = None,
        d: int | None = None,
        m: int | None = None,
    ):
        self.op, self.kind, self.f, self.x, self.has_aux = op, kind, f, x, has_aux
        self.label = label or op
        self.terms, self.order = terms, order
        self.options = dict(options or {})
        self.traced = Traced(f, x)
        self.y_shape = shape_of(self.traced.out_shape, has_aux, op=op)
        self.d = d if d is not None else max(int(self.lx.size), 1)
        self.m = m if m is not None else math.prod(self.y_shape)
        self._cache: dict[Any, Any] = {}

    @classmethod
    def linear(cls, op: str, f, x, has_aux: bool, terms, **kw: Any) -> Problem:
        """A problem of kind ``op`` (``"apply"`` unless ``op`` is a linear kind) by its terms."""
        kind = op if op in LINEAR_KINDS else "apply"
        return cls(op, kind, f, x, has_aux, terms=terms, **kw)

    @property
    def lx(self) -> jax.Array:
        """The point the linear strategies see (``t.reshape(1)`` for ``derivative``)."""
        return self.x.reshape(1) if self.kind == "derivative" else self.x

    def linear_view(self, f: Callable[..., Any], x: jax.Array) -> tuple[Callable[..., Any], Any]:
        """``(point function, point)`` for the linear strategies: ``(f, x)`` itself, except for
        ``derivative`` (a function of one scalar as a point function in d = 1)."""
        if self.kind != "derivative":
            return f, x
        if f is self.traced and x is self.x:
            return self.traced_linear, self.lx
        return (lambda z: f(z[0])), x.reshape(1)

    @functools.cached_property
    def traced_linear(self) -> Traced:
        """The point function of the linear strategies, traced once."""
        if self.kind != "derivative":
            return self.traced
        f = self.f
        return Traced(lambda z: f(z[0]), self.lx)

    @functools.cached_property
    def traced_y(self) -> Traced:
        """``traced`` without the aux output (what the static walks look at)."""
        return self.traced.first() if self.has_aux else self.traced

    @functools.cached_property
    def top_order(self) -> int:
        """The highest total order among the terms (at least 1)."""
        terms = self.terms
        if hasattr(terms, "profile"):  # lazy: a polynomial in the Laplacian
            return max((2 * m for m in terms.profile), default=1) or 1
        return max((sum(a) for a in terms), default=1) or 1

    @functools.cached_property
    def engine_reason(self) -> str | None:
        """Why the Taylor engine declines the point function to the top order (``None``: it
        claims it can, and ``auto`` still tries it before trusting it)."""
        try:
            return unsupported_reason(self.traced_linear, self.lx, order=self.top_order)
        except Exception as err:  # the check itself failed: decline, visibly
            return f"its check of f failed: {type(err).__name__}: {err}"[:300]

    def engine_declined(self, name: str) -> Declined | None:
        """The common decline of the strategies that run the Taylor engine (``None``: none)."""
        reason = self.engine_reason
        if reason is None:
            return None
        why = f"the Taylor engine cannot run f ({reason}); falling back to nested AD"
        return Declined(name, why, Proposal(name, math.nan, self))

    @property
    def directions(self) -> tuple[float, tuple[DirectionGroup, ...]]:
        """The order-0 coefficient and the direction groups of the terms in ``d`` dimensions
        (planned once, shared by the Taylor strategies)."""
        return self.cached("directions", lambda: plan(self.terms, self.d, op=self.op))

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value computed once for this problem and shared by the strategies."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]
