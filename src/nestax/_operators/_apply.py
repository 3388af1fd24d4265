r"""``apply``: a linear differential operator applied to a point function, by any strategy.

The operator's terms :math:`\{\alpha: c_\alpha\}` go to a strategy together with ``f`` and the
point. The strategies are registered here with their cost models; ``auto`` asks the planner,
which also hears whether the Taylor engine can propagate through ``f`` (it falls back to nested
AD where it cannot, and ``explain`` says why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from .. import _planner
from .._custom_types import Array, Point, PointFunction
from .._strategies import _nested
from .._strategies._collapsed import apply_collapsed, cost_collapsed
from .._strategies._iterated import plan_iterated, run_iterated
from .._strategies._randomized import apply_hutchinson, apply_stde, cost_randomized
from .._strategies._reduced import InvariantTerms, plan_reduced, run_reduced
from .._strategies._taylor import apply_taylor, cost_taylor
from .._taylor import unsupported_reason
from .._validate import as_array, check_method, check_rank, output_shape
from ._algebra import LinearOperator, Terms
from ._choose import operator_function
from ._common import POINT_HINT, check_callable, with_aux


class Strategy(NamedTuple):
    """How to compute ``Σ c_α ∂^α f(x)``: ``run(terms, f, x, has_aux) -> (value, aux)``,
    ``cost(terms, d)`` in forward passes per point, and whether it needs the Taylor engine.

    ``plan``, when given, replaces ``cost`` for strategies whose cost depends on ``f`` itself:
    ``plan(terms, f, x, has_aux) -> (cost or None, note)``; ``None`` means it does not apply
    (the note, shown by ``explain``, says why)."""

    run: Callable[..., tuple[Any, Any]]
    cost: Callable[[Terms, int], float]
    needs_engine: bool
    plan: Callable[..., tuple[float | None, str]] | None = None


def _run_nested(terms, f, x, has_aux):
    return _nested.apply_nested(terms, with_aux(f, has_aux, "apply"), x)


def _run_nested_reverse(terms, f, x, has_aux):
    return _nested.apply_nested(terms, with_aux(f, has_aux, "apply"), x, innermost="reverse")


def _with_aux_pair(apply_fn):
    """Adapt a Taylor strategy (value, or (value, aux) with has_aux) to ``(value, aux)``."""

    def run(terms, f, x, has_aux):
        out = apply_fn(terms, f, x, has_aux=has_aux)
        return out if has_aux else (out, None)

    return run


def _not_a_power(terms, d):
    raise ValueError(
        "apply: method='iterated' needs an operator of the form c * Laplacian^m with m >= 2 "
        "(such as Biharmonic()); this one is not"
    )


STRATEGIES: dict[str, Strategy] = {
    "nested": Strategy(_run_nested, _planner.nested_linear_cost, False),
    "nested-reverse": Strategy(_run_nested_reverse, _planner.nested_reverse_cost, False),
    "taylor": Strategy(_with_aux_pair(apply_taylor), cost_taylor, True),
    "collapsed": Strategy(_with_aux_pair(apply_collapsed), cost_collapsed, True),
    "reduced": Strategy(run_reduced, cost_collapsed, True, plan=plan_reduced),
    "iterated": Strategy(run_iterated, _not_a_power, True, plan=plan_iterated),
}

#: The strategies that run the Taylor engine (the planner tries them before it trusts them).
ENGINE_METHODS = tuple(name for name, s in STRATEGIES.items() if s.needs_engine)

#: Unbiased but inexact estimators: used only when named, never by ``auto``. They take extra
#: keyword arguments (``key``, ``samples``, and for Hutchinson ``probe`` and ``mode``).
RANDOMIZED: dict[str, Callable[..., tuple[Any, Any]]] = {
    "hutchinson": apply_hutchinson,
    "stde": apply_stde,
}


def check_options(method: str, options: dict[str, Any], op: str) -> None:
    """Extra keyword arguments are for the randomized estimators only."""
    if options and method not in RANDOMIZED:
        raise TypeError(
            f"{op}: unexpected keyword argument(s) {sorted(options)} for method={method!r}; only "
            f"the randomized estimators ({', '.join(RANDOMIZED)}) take options such as key= and "
            "samples="
        )


def plan_randomized(operator: str, method: str, options: dict[str, Any]) -> _planner.Plan:
    """The plan of a named randomized estimator (its cost does not depend on d)."""
    samples = options.get("samples", 16)
    return _planner.Plan(
        operator,
        method,
        {method: cost_randomized(samples)(None, 0)},
        f"the caller named this randomized estimator: unbiased, not exact ({samples} samples)",
        method,
    )


def run_randomized(method, terms, f, x, has_aux, options):
    """``(value, aux)`` of a randomized estimate; ``terms=None`` means the Laplacian."""
    return RANDOMIZED[method](terms, f, x, has_aux=has_aux, **options)


#: Above this many integers in the d-dimensional term list of a rotation-invariant operator
#: (a Laplacian in d = 1 024 has 1 024², a biharmonic 512 times more), the planner does not
#: build it just to cost the unreduced strategies while the reduced one applies.
MAX_COSTED_TERMS = 1 << 21


def _engine_reason(f, x, order: int) -> str | None:
    """Why the Taylor engine declines ``f`` at ``x`` to ``order`` (``None`` if it claims it can:
    then `settle` still tries it before it is trusted)."""
    return unsupported_reason(f, x, order=order)


def plan_terms(
    operator: str,
    terms: Terms,
    f,
    x: jax.Array,
    has_aux: bool,
    method: str,
    extra: dict[str, float] | None = None,
) -> _planner.Plan:
    """The planner's choice among the registered strategies (plus ``extra`` candidates).

    ``terms`` may be lazy (`InvariantTerms`, for rotation-invariant operators): strategies
    with a ``plan`` (``"reduced"``) cost themselves without building the d-dimensional term
    list, and the others are costed from it only while it is small enough
    (``MAX_COSTED_TERMS``) or when no strategy with a ``plan`` applies.
    """
    d = max(x.size, 1)
    candidates: dict[str, float] = dict(extra or {})
    notes: list[str] = []
    engine_names = [n for n, s in STRATEGIES.items() if s.needs_engine]
    reason = None
    lazy = isinstance(terms, InvariantTerms)
    if method in ("auto", *engine_names):
        top = (
            max((2 * m for m in terms.profile), default=1)
            if lazy
            else max((sum(a) for a in terms), default=1)
        )
        reason = _engine_reason(f, x, top or 1)
    planned = [n for n, s in STRATEGIES.items() if s.plan is not None]
    if reason is None and method in ("auto", *planned):
        for name in planned:
            cost, note = STRATEGIES[name].plan(terms, f, x, has_aux)
            notes.append(note)
            if cost is not None:
                candidates[name] = cost
            elif method == name:
                candidates[name] = STRATEGIES[name].cost(terms, d)
    skip_big = (
        lazy
        and terms.materialized_size() > MAX_COSTED_TERMS
        and any(n in candidates for n in planned)
    )
    for name, strat in STRATEGIES.items():
        if strat.needs_engine and reason is not None or strat.plan is not None:
            continue
        if skip_big and name != method:
            continue
        candidates[name] = strat.cost(terms, d)
    if skip_big:
        notes.append(
            f"the unreduced strategies were not costed: the operator has {len(terms)} terms in "
            f"d={d}, and each pushes at least d + 2 = {d + 2} vectors per point"
        )
    if reason is not None:
        notes.append(f"the Taylor engine cannot run f ({reason}); falling back to nested AD")
    summary = terms.summary() if lazy else terms
    return _planner.linear(operator, summary, d, method, candidates, tuple(notes))


def run_terms(terms: Terms, f, x: jax.Array, has_aux: bool, method: str):
    """Compute ``(value, aux)`` with the named registered strategy."""
    return STRATEGIES[method].run(terms, f, x, has_aux)


def apply(
    op: LinearOperator,
    f: PointFunction,
    method: str = "auto",
    has_aux: bool = False,
    **options: Any,
) -> Callable[[Point], Array]:
    r"""Apply the linear operator ``op`` to the point function ``f``: :math:`x \mapsto (L f)(x)`.

    For vector-valued ``f`` the operator acts on each output component.

    Args:
        op: a :class:`nestax.LinearOperator` — ``Partial(alpha)``, ``Laplacian()``,
            ``Biharmonic()`` or a linear combination of them.
        f: maps one point ``x`` of shape ``(d,)`` to an array (or ``(y, aux)``).
        method: ``"auto"`` or one of ``nestax.METHODS`` that apply to linear operators
            (``"nested"``, ``"taylor"``, ``"collapsed"``, ``"reduced"``: exact input-subspace
            reduction of the operator's rotation-invariant block; ``"iterated"``: a power of
            the Laplacian as nested collapsed Laplacians).
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``((L y)(x), aux)``.
        options: for the randomized estimators of second-order diagonal operators (the
            Laplacian, ``Σ a_i ∂_i²``) only: ``method="hutchinson"`` or ``"stde"`` with
            ``key=`` (a PRNG key; one per point under ``vmap``) and ``samples=`` (and for
            Hutchinson ``probe="rademacher"|"gaussian"``). ``auto`` never picks them.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> u = lambda x: jnp.sin(x[0]) * x[1] ** 2
        >>> float(nx.apply(nx.Laplacian(), u)(jnp.array([0.3, 2.0])))  # (2 - y²) sin x
        -0.5910404...
    """
    name = "apply"
    if not isinstance(op, LinearOperator):
        raise TypeError(
            f"{name}: argument `op` must be a nestax operator (Partial, Laplacian, Biharmonic or "
            f"a linear combination of them); got {type(op).__name__}"
        )
    check_callable(f, name)
    check_method(method, (*STRATEGIES, *RANDOMIZED), op=name)
    check_options(method, options, name)

    def compute(m):
        if m in RANDOMIZED:
            return lambda x: run_randomized(m, op.terms(x.size), f, x, has_aux, options)
        # lazy for rotation-invariant operators
        return lambda x: run_terms(InvariantTerms.of(op, x.size), f, x, has_aux, m)

    def prepare(x):
        x = as_array(x, op=name)
        check_rank(x, 1, op=name, what=POINT_HINT.format(op="nestax.apply(op, f)"))
        output_shape(f, x, has_aux, op=name)
        if method in RANDOMIZED:
            return x, plan_randomized(repr(op), method, options)
        return x, plan_terms(repr(op), InvariantTerms.of(op, x.size), f, x, has_aux, method)

    return operator_function(name, f, has_aux, prepare, compute, ENGINE_METHODS)
