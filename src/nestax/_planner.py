"""The planner: which way of computing a derivative ``method="auto"`` picks, and why.

Cost unit: one evaluation of the network at one point (a forward pass) = 1. A tangent pushed
forward costs about one more pass, a cotangent pulled back about ``REVERSE_FACTOR`` passes (the
backward sweep of a network reads its stored activations and does one matmul per layer per
cotangent, the same as a tangent, but its memory traffic makes it slower in practice). With
``d`` inputs and ``m`` outputs:

================================  ==============================================
first derivatives, forward         ``1 + d``
first derivatives, reverse         ``1 + r m``
Hessian / Laplacian, fwd-over-rev  ``(1 + d)(1 + r m)``  (``2 + 2d`` for a scalar, the
                                   design's ``1 + 2d`` up to the shared primal)
Laplacian, fwd-over-fwd            ``1 + 3d``  (three extra vectors per direction)
Hessian, fwd-over-fwd              ``1 + 2d + d²``
rev-over-fwd                       ``(1 + d)(1 + r m d)``
rev-over-rev                       ``(1 + r m)(1 + r m d)``
``k``-th derivative, nested        ``2^k`` per multi-index
================================  ==============================================

Taylor strategies add their own cost functions (``cost_taylor``, ``cost_collapsed`` in the
strategies layer). ``r`` was measured on this machine by ``benchmarks`` (see the README): the
ratio of a reverse-mode input gradient to one jvp, for a tanh MLP 128×3 under ``vmap`` and
``jit``. Ties go to the method listed first (forward before reverse: it stores nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._strategies import _nested

REVERSE_FACTOR = 1.5


@dataclass(frozen=True)
class Plan:
    """A strategy choice: the method, the estimated cost of every candidate, and why."""

    operator: str
    method: str
    costs: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
    requested: str = "auto"
    notes: tuple[str, ...] = ()

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


def _pick(
    operator: str, costs: dict[str, float], requested: str, why: str, notes: tuple[str, ...] = ()
) -> Plan:
    if requested != "auto":
        return Plan(operator, requested, costs, "the caller named this method", requested, notes)
    method = min(costs, key=lambda k: costs[k])  # dicts keep order: ties go to the first
    return Plan(operator, method, costs, why.format(method=method), requested, notes)


def first_order(operator: str, d: int, m: int, requested: str) -> Plan:
    """Forward or reverse for a Jacobian-type operator of ``f: R^d -> R^m``."""
    r = REVERSE_FACTOR
    costs = {"forward": 1.0 + d, "reverse": 1.0 + r * m}
    why = (
        f"{d} input(s) and {m} output(s): forward mode pushes one tangent per input, reverse "
        "mode pulls one cotangent per output; {method} needs fewer passes"
    )
    return _pick(operator, costs, requested, why)


def second_order(operator: str, d: int, m: int, requested: str) -> Plan:
    """One of the four nestings for a Hessian or a Laplacian of ``f: R^d -> R^m``."""
    r = REVERSE_FACTOR
    fwd_fwd = 1.0 + 3 * d if operator == "laplacian" else 1.0 + 2 * d + d * d
    costs = {
        "forward-over-reverse": (1.0 + d) * (1.0 + r * m),
        "forward-over-forward": fwd_fwd,
        "reverse-over-forward": (1.0 + d) * (1.0 + r * m * d),
        "reverse-over-reverse": (1.0 + r * m) * (1.0 + r * m * d),
    }
    why = (
        f"{d} input(s), {m} output(s): the inner pass gives first derivatives, the outer pass "
        "differentiates them once more; {method} pushes the fewest vectors "
        "(forward-over-reverse is the Hessian-vector product that Lux.jl switches to)"
    )
    return _pick(operator, costs, requested, why)


def nested_order(order: int) -> float:
    """Vectors pushed by ``order`` nested first-order passes."""
    return float(2**order)


def derivative(order: int, m: int, requested: str) -> Plan:
    """Nested forward or reverse for ``d^k f/dt^k`` of a function of a scalar."""
    r = REVERSE_FACTOR
    costs = {
        "forward": nested_order(order),
        "reverse": nested_order(order) * r * max(m, 1),
    }
    why = (
        f"order {order} of a function of one scalar: each nesting doubles the vectors, and "
        "reverse mode pays once per output; {method} is cheaper"
    )
    return _pick("derivative", costs, requested, why)


def linear(
    operator: str,
    terms: Mapping[tuple[int, ...], float],
    d: int,
    requested: str,
    candidates: Mapping[str, float],
    notes: tuple[str, ...] = (),
) -> Plan:
    """Choose among strategies for ``Σ_α c_α ∂^α f`` given each candidate's estimated cost."""
    orders = sorted({sum(a) for a in terms})
    why = f"{len(terms)} term(s) of order {orders} in d={d}: {{method}} pushes the fewest vectors"
    return _pick(operator, dict(candidates), requested, why, notes)


def nested_linear_cost(terms: Mapping[tuple[int, ...], float], d: int) -> float:
    """Vectors pushed by ``_nested.apply_nested`` for these terms."""
    cost = 1.0
    orders = {sum(a) for a in terms}
    if 1 in orders:
        cost += 1.0
    if 2 in orders:
        cost += (1.0 + d) * (1.0 + REVERSE_FACTOR)
    cost += sum(nested_order(sum(a)) for a in terms if sum(a) >= 3)
    return cost


FIRST_ORDER = _nested.FIRST_ORDER
SECOND_ORDER = _nested.SECOND_ORDER
