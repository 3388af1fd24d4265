"""The planner: which way of computing a derivative ``method="auto"`` picks, and why.

Every strategy (`nestax._strategies`) proposes itself for a `Problem` with a cost estimate, or
declines with a reason (`nestax._strategies._protocol`); `choose` compares the proposals and
keeps them, so the operator runs the pick from what its proposal already traced. The cost
formulas live beside each strategy; this docstring is their calibration.

Cost unit: one forward pass of the network at one point = 1. What is modelled is the operator's
share of a **training step** (its value and the gradient over the network's parameters, as in a
PINN loss), divided by the factor of about 3 that the reverse pass over the parameters puts on
everything; so a method made only of tangents pushed forward costs its number of vectors. The
formulas count vectors; three constants (in `nestax._strategies._nested`), measured on this
machine, turn counts into time:

- ``REVERSE_FACTOR`` ``r`` = 1.0: a cotangent of a first-order reverse pass, in tangents.
- ``NESTED_REVERSE_FACTOR`` ``r2`` = 2.5: a cotangent of the *inner* reverse pass of a
  second-order nesting (vmapped over the outer directions, then differentiated by the training
  gradient). Its flops are those of one tangent, but it runs 2-2.5 times slower per flop here.
- ``NESTED_JVP_WEIGHT`` ``w`` = 0.75: a vector of nested ``jax.jvp`` chains, in Taylor vectors.

With ``d`` inputs and ``m`` outputs:

==================================  ==========================================================
first derivatives, forward          ``1 + d``
first derivatives, reverse          ``1 + r m``
fwd-over-rev (Hessian, Laplacian)   ``(1 + d)(1 + r2 m)``
fwd-over-fwd, Laplacian             ``1 + 3d``
fwd-over-fwd, Hessian               ``1 + 2d + d²``
rev-over-fwd                        ``(1 + d)(1 + r m d)``
rev-over-rev                        ``(1 + r2 m)(1 + r m d)``
nested jvp chains for ``{α}``       ``w (U + raw) / 2``: ``U`` distinct sub-multi-indices
                                    ``β ≤ α`` (XLA merges repeated tangents in the value),
                                    ``raw = 1 + Σ (2^|α| - 1)`` vectors pushed (the training
                                    gradient's reverse pass sees them all); ``d^k/dt^k``:
                                    ``w (k + 1 + 2^k) / 2``
``d^k/dt^k``, nested reverse        ``2^k r m``
"nested" strategy (`apply_nested`)  ``1`` + one jvp for order 1 + a fwd-over-rev Hessian for
                                    order 2 + chains for orders >= 3 (plus
                                    ``NESTED_CHAIN_OVERHEAD`` = 2.75)
"iterated" (``c Δ^m``)              ``1.3 (d + 2)^m`` (nested collapsed Laplacians)
taylor, collapsed                   ``1 + Σ_k k R_k``, ``1 + Σ_k ((k - 1) R_k + 1)``
                                    (``cost_taylor``, ``cost_collapsed``; ``R_k`` directions
                                    of order ``k``); "reduced" costs itself from f's readers
==================================  ==========================================================

Ties go to the candidate listed first (forward before reverse: it stores nothing).

Calibration. Tanh MLP 128 × 3, batch 256, float32, this 2-core machine; the ``planner`` suite
(``nestax bench planner``) and the ``operators`` suite (``python -m
nestax.benchmarks.operators``), results in ``benchmarks/results/``. Each entry is a method's
training-step time ÷ the fastest method's (median of rounds, paired), then ``/`` the model's
cost ÷ the cheapest candidate's:

::

    gradient d=1       forward 1.00/1.00, reverse 1.05/1.00
    gradient d=2       reverse 1.00/1.00, forward 1.59/1.50
    gradient d=16      reverse 1.00/1.00, forward 10.23/8.50
    jacobian d=2 m=2   reverse 1.00/1.00, forward 1.11/1.00
    hessian d=2        fwd-fwd 1.00/1.00, rev-fwd 1.02/1.00, fwd-rev 1.73/1.17, rev-rev 1.90/1.17
    hessian d=4        fwd-rev 1.00/1.00, rev-rev 1.11/1.00, rev-fwd 1.69/1.43, fwd-fwd 1.81/1.43
    hessian d=16       fwd-rev 1.00/1.00, rev-rev 1.41/1.00, fwd-fwd 7.29/4.86, rev-fwd 7.45/4.86
    laplacian d=2      collapsed 1.00/1.00, taylor 1.30/1.25, fwd-fwd 1.92/1.75,
                       rev-fwd 2.67/2.25, nested 4.39/2.62, fwd-rev 4.46/2.62, rev-rev 4.81/2.62
    laplacian d=16     collapsed 1.00/1.00, taylor 3.33/1.83, fwd-fwd 4.57/2.72, nested 5.79/3.31,
                       fwd-rev 5.82/3.31, rev-rev 7.86/3.31, rev-fwd 40.66/16.06
    d^k/dt^k, k=2      taylor 1.00/1.14, collapsed 1.03/1.14, forward 1.05/1.00, nested 1.48/2.67,
                       reverse 1.53/1.52
    d^k/dt^k, k=3      collapsed 1.00/1.00, taylor 1.10/1.00, forward 1.37/1.12, nested 1.49/1.19,
                       reverse 2.75/2.00
    d^k/dt^k, k=4      collapsed 1.00/1.00, taylor 1.00/1.00, nested 1.44/1.62, forward 1.49/1.57,
                       reverse 5.40/3.20
    biharmonic d=3     collapsed 1.00/1.00, taylor 1.56/1.25, nested 2.19/2.19
    biharmonic d=4     collapsed 1.00/1.00, nested 1.16/1.90, taylor 1.17/1.29
    d³/dxdydz          nested 1.00/1.00, collapsed 1.50/1.60, taylor 2.04/2.08
    d⁴/dx²dy²          nested 1.00/1.00, collapsed 1.15/1.45, taylor 1.57/1.77
    laplacian d=64*    collapsed 1.00/1.00, taylor 2.05/1.95, fwd-fwd 2.63/2.92,
                       fwd-rev 6.11/3.45, nested 6.20/3.45
    laplacian d=256*   reduced 1.00/1.00, collapsed 1.30/1.96, taylor 2.49/3.90, fwd-fwd 4.48/5.85
    biharmonic d=2*    collapsed 1.00/1.00, taylor 1.21/1.18, nested 1.85/2.03,
                       iterated 2.31/1.89
    biharmonic d=5*    iterated 1.00/1.00, nested 1.04/1.74, collapsed 1.20/1.21,
                       taylor 1.31/1.59
    u_xxy 2-D*         nested 1.00/1.03, collapsed 1.05/1.00, taylor 1.30/1.25
    u_xxy value*       collapsed 1.00, nested 1.29, taylor 1.33
    heat 3-D*          collapsed 1.00/1.00, taylor 1.15/1.20, nested 7.65/3.00

(``*``: operators suite, the rest: planner suite; fwd-rev = forward-over-reverse etc.)

What the measurements changed (the model before: ``r`` = 1.5 everywhere, nested order ``k`` =
``2^k`` vectors per multi-index):

1. First-order reverse mode costs what forward mode costs per vector: flops are equal (XLA cost
   analysis) and nearly so are times (gradient d = 1: a tie; square Jacobians: reverse 8-11 %
   faster in three runs of four); fits of ``r`` from the first-order cases give 0.73-1.42,
   median 0.85. ``r`` = 1.0 keeps ``nestax.jacobian``'s documented rule (forward when
   ``d <= m``, so ties go to forward mode, which stores no activations); 0.9 would move square
   Jacobians to reverse mode, and also the 1 -> 1 Jacobian that ``tests/test_operators.py``
   expects in forward mode.
2. An inner reverse pass is slow: forward-over-forward beats forward-over-reverse for a scalar
   Laplacian at every d measured (2.3x at d = 2, 2.2x at 4, 1.3x at 16, 2.3x at 64) and for
   the Hessian at d <= 2 (1.7x at d = 2), though its flops are higher (XLA cost analysis,
   step: 19.5 against 18.5 passes at d = 2). ``r2`` = 2.5 reproduces every ranking; it moves
   ``hessian`` at d <= 2 and the nested Laplacian (the fallback when the Taylor engine cannot
   run f) to forward-over-forward.
3. Nested jvp chains: ``2^k`` was the cost of a chain without XLA's common-subexpression
   elimination. Measured flops per point (value / step ÷ 3): ``d^4/dt^4`` 5.2 / 9.8 (model
   before: 16), biharmonic d = 5 65 / 139 (before: 241), u_xxy 6.2 / 7.6 (before: 9). The
   chain formula above fits the step flops within 10 %, and ``w`` the time per vector (0.53-0.94
   over the cases measured, against Taylor vectors). It moves low-order mixed partials to
   "nested" (∂x∂y∂z: 1.5x faster than collapsed in the step; ∂x²∂y²: 1.0-1.36x; u_xxy: a tie,
   0.93-1.19x over three runs) and keeps Taylor mode for ``d^k/dt^k``, k >= 3 (nested 1.4x
   slower) and for the biharmonic (nested 1.85-2.3x slower at d = 2-3, 1.16-1.43x at d = 4,
   a tie at d = 5: 0.90-1.02x over four runs).
4. ``cost_taylor`` and ``cost_collapsed`` match the flops exactly (value; the step is 3.05x),
   and the time ratio taylor ÷ collapsed is as modelled (1.0-2.0) except the Laplacian at
   d = 16 (3.2 measured, 1.8 modelled), where collapsed wins anyway: unchanged.
5. Later: the biharmonic as a collapsed Laplacian of a collapsed Laplacian
   (``"iterated"``, ``1.3 (d + 2)^m``) beats the fourth-order collapsed pass from d = 5 on
   (step 1.20x, value 1.84x); a weighted collapse over more than 8 directions became a
   contraction (collapsed biharmonic d = 5 value 2.2x faster). A fixed overhead per set of
   nested jvp chains (``NESTED_CHAIN_OVERHEAD``) moves u_xxy to collapsed (a tie in the
   step, 1.29x faster in the value) and keeps ∂x∂y∂z and ∂x²∂y² nested.

Limits. The model ranks training steps; the value alone can rank otherwise (none of the
operators suite's shapes does now). Nested chains compile slowly (11 s for the biharmonic
d = 5). Differences below about 10 % are within the measurement noise on this shared machine:
two runs of the same optimized program differ by up to 10-17 % in some rounds (the operators
suite checks which contenders compile to identical programs, see ``operators_summary.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._strategies import REGISTRY
from ._strategies._protocol import FIRST_ORDER_KINDS, Declined, Problem, Proposal
from ._validate import MethodNotApplicableError

#: Above this many integers in the d-dimensional term list of a rotation-invariant operator
#: (a Laplacian in d = 1 024 has 1 024², a biharmonic 512 times more), the planner does not
#: build it just to cost the strategies that read it while a ``LAZY`` one (reduced, iterated)
#: applies.
MAX_COSTED_TERMS = 1 << 21


@dataclass(frozen=True)
class Plan:
    """A strategy choice: the method, the estimated cost of every candidate, and why.

    ``proposals`` holds what each candidate prepared (`nestax._strategies._protocol.Proposal`),
    so that running the pick traces nothing again.
    """

    operator: str
    method: str
    costs: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
    requested: str = "auto"
    notes: tuple[str, ...] = ()
    proposals: Mapping[str, Proposal] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        lines = [f"{self.operator}: method={self.method!r}"]
        if self.requested == "auto":
            lines[0] += " (chosen by auto)"
        else:
            lines[0] += " (requested explicitly)"
        if self.reason:
            lines.append(f"  why: {self.reason}")
        if self.costs:
            lines.append("  estimated cost, in forward passes of the network per point:")
            best = min(self.costs.values())
            for name, cost in sorted(self.costs.items(), key=lambda kv: kv[1]):
                mark = "  <- picked" if name == self.method else ""
                rel = f"({cost / best:.2f}x best)" if best > 0 else ""
                lines.append(f"    {name:>22}: {cost:10.1f} {rel}{mark}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def why(problem: Problem) -> str:
    """The sentence of ``auto``'s choice, with ``{method}`` for the pick."""
    d, m, kind = problem.d, problem.m, problem.kind
    if kind in FIRST_ORDER_KINDS:
        return (
            f"{d} input(s) and {m} output(s): forward mode pushes one tangent per input, reverse "
            "mode pulls one cotangent per output; {method} needs fewer passes"
        )
    if kind == "hessian":
        return (
            f"{d} input(s), {m} output(s): the inner pass gives first derivatives, the outer pass "
            "differentiates them once more; {method} has the lowest estimated cost "
            "(forward-over-reverse is the Hessian-vector product that Lux.jl switches to; "
            "forward-over-forward pushes only tangents, which wins for few inputs)"
        )
    terms = problem.terms
    summary = terms.summary() if hasattr(terms, "summary") else terms
    orders = sorted({sum(a) for a in summary})
    return f"{len(summary)} term(s) of order {orders} in d={d}: {{method}} is estimated cheapest"


def offer(problem: Problem, name: str) -> Proposal | Declined:
    """``name``'s proposal for ``problem`` (or its decline)."""
    return REGISTRY[name].propose(problem, name)


def _too_big(problem: Problem, proposals: Mapping[str, Proposal]) -> bool:
    terms = problem.terms
    return (
        hasattr(terms, "materialized_size")
        and terms.materialized_size() > MAX_COSTED_TERMS
        and any(REGISTRY[n].LAZY for n in proposals)
    )


def candidates(
    problem: Problem, names: Iterable[str]
) -> tuple[dict[str, Proposal], tuple[str, ...]]:
    """The exact strategies' proposals among ``names`` (registry order), and the notes: each
    proposal's and each decline's reason, once."""
    proposals: dict[str, Proposal] = {}
    notes: list[str] = []
    skipped = False
    for name in names:
        module = REGISTRY[name]
        if not module.EXACT:
            continue
        if name in module.BUILDS_TERMS and _too_big(problem, proposals):
            skipped = True
            continue
        out = offer(problem, name)
        if isinstance(out, Declined):
            notes.append(out.reason)
        else:
            proposals[name] = out
            if out.note:
                notes.append(out.note)
    if skipped:
        notes.append(
            f"the strategies that read the operator's {len(problem.terms)} terms in d="
            f"{problem.d} were not costed: each pushes at least d + 2 = {problem.d + 2} vectors "
            "per point"
        )
    return proposals, tuple(dict.fromkeys(notes))


def choose(
    problem: Problem, requested: str, names: Iterable[str], *, compare: bool = False
) -> Plan:
    """The plan for ``problem``: under ``"auto"`` the cheapest proposal among ``names`` (ties:
    the first in registry order); a named method's own proposal otherwise (``compare``: with
    the others' costs beside it, for `nestax.explain`).

    Raises:
        MethodNotApplicableError: the named method cannot compute this problem at all.
    """
    label = problem.label
    if requested == "auto":
        proposals, notes = candidates(problem, names)
        costs = {n: p.cost for n, p in proposals.items()}
        method = min(costs, key=lambda k: costs[k])  # dicts keep order: ties go to the first
        reason = why(problem).format(method=method)
        return Plan(label, method, costs, reason, requested, notes, proposals)
    out = offer(problem, requested)
    notes: tuple[str, ...] = ()
    if isinstance(out, Declined):
        if out.proposal is None:
            others = list(candidates(problem, [n for n in names if n != requested])[0])
            raise MethodNotApplicableError(
                f"{out.error or out.reason}. Methods that apply here: "
                f"{', '.join(map(repr, others))}, or method='auto'"
            )
        notes, out = (out.reason,), out.fallback()
    proposals = {requested: out}
    if not REGISTRY[requested].EXACT:
        reason = f"the caller named this randomized estimator: unbiased, not exact ({out.note})"
        return Plan(label, requested, {requested: out.cost}, reason, requested, notes, proposals)
    costs = {}
    if compare:
        others, more = candidates(problem, [n for n in names if n != requested])
        costs = {n: p.cost for n, p in others.items()}
        notes = tuple(dict.fromkeys((*notes, *more)))
    if math.isfinite(out.cost):
        costs[requested] = out.cost
    return Plan(
        label, requested, costs, "the caller named this method", requested, notes, proposals
    )
