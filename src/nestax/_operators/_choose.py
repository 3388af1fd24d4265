"""How every operator settles on a method, and what it says when a named method cannot run.

The planner ranks the candidates by estimated cost (`nestax._planner`). Under ``"auto"`` the
operator then takes the cheapest candidate that JAX can trace for this ``f``: methods of the
Taylor engine are always tried abstractly first (`jax.eval_shape`: tracing, no computation),
nested first-order AD only when ``f`` holds a construct that some AD mode cannot
differentiate (a ``custom_vjp`` function: no forward mode; a ``while_loop`` over the input: no
reverse mode; see `nestax._taylor.constructs`). A candidate that fails is declined with its
reason in ``explain``. So ``auto`` never fails where some candidate works, and never hides a
failure: when none works, the planner's pick runs and its own error surfaces.

A method named explicitly runs as asked; when it cannot differentiate ``f`` while others can,
`MethodNotApplicableError` names the construct and the methods that apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import jax

from .._planner import Plan
from .._taylor import UnsupportedPrimitiveError, constructs
from .._validate import MethodNotApplicableError
from ._common import finish, with_plan

Compute = Callable[[str], Callable[[Any], tuple[Any, Any]]]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _trial(compute: Compute, method: str, x: Any) -> str | None:
    """``None`` if ``method`` traces at ``x``; else why not (one line)."""
    try:
        jax.eval_shape(lambda z: compute(method)(z)[0], x)
    except Exception as err:  # any failure declines the candidate; the reason is kept
        return _first_line(err)
    return None


def _y_only(f: Callable[..., Any], has_aux: bool) -> Callable[..., Any]:
    return (lambda z: f(z)[0]) if has_aux else f


def _ranked(plan: Plan) -> list[str]:
    ranked = sorted(plan.costs, key=lambda m: plan.costs[m])
    ranked.remove(plan.method)
    ranked.insert(0, plan.method)  # the planner's pick first (it breaks ties)
    return ranked


def _search(
    plan: Plan,
    attempt: Callable[[str], tuple[bool, Any]],
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
    engine_methods: Iterable[str],
) -> tuple[Plan, Any]:
    """Under ``auto``: ``attempt(method) -> (ok, result or reason)`` over the candidates, the
    cheapest first; returns the plan of the first that succeeds and its result. ``(plan,
    None)`` when the search ends at a method not attempted (a nested method where nothing
    forbids it, or none succeeded): that method is then to run as it is."""
    engine = set(engine_methods)
    found = None
    declined = []
    for method in _ranked(plan):
        if method not in engine:
            if found is None:
                found = constructs(_y_only(f, has_aux), x)
            if not found:
                result = None
                break
        ok, result = attempt(method)
        if ok:
            break
        declined.append(f"{method} declined: it cannot trace f ({result})")
    else:
        return plan, None  # nothing traces: the pick runs, and its own error surfaces
    if method == plan.method and not declined:
        return plan, result
    notes = (*plan.notes, *(f"f holds {c}" for c in found or ()), *declined)
    why = f"{plan.reason}; {method} is the cheapest candidate that can differentiate f"
    return dataclasses.replace(plan, method=method, reason=why, notes=notes), result


def settle(
    plan: Plan,
    compute: Compute,
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
    engine_methods: Iterable[str],
) -> Plan:
    """The plan with the cheapest candidate that traces (under ``auto``; else ``plan``), each
    tried abstractly (`jax.eval_shape`): what `nestax.explain` reports."""
    if plan.requested != "auto" or not plan.costs:
        return plan

    def attempt(method):
        reason = _trial(compute, method, x)
        return reason is None, reason

    return _search(plan, attempt, x, f, has_aux, engine_methods)[0]


def settle_and_run(
    op: str,
    plan: Plan,
    compute: Compute,
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
    engine_methods: Iterable[str],
) -> tuple[Any, Any]:
    """``(value, aux)``: under ``auto`` the cheapest candidate that runs, each candidate run for
    real until one succeeds (the same choice as `settle`, with ``f`` traced only as often as
    the method that runs needs); an explicit method by `run_plan`."""
    if plan.requested != "auto" or not plan.costs:
        return run_plan(op, plan, compute, x, f, has_aux)

    def attempt(method):
        try:
            return True, compute(method)(x)
        except Exception as err:  # any failure declines the candidate
            return False, _first_line(err)

    settled, result = _search(plan, attempt, x, f, has_aux, engine_methods)
    if result is None:
        return compute(settled.method)(x)
    return result


def operator_function(
    op: str,
    f: Callable[..., Any],
    has_aux: bool,
    prepare: Callable[[Any], tuple[Any, Plan]],
    compute: Compute,
    engine_methods: Iterable[str] = (),
    post: Callable[[Any, Any], Any] | None = None,
) -> Callable[[Any], Any]:
    """The one plan -> run path of every operator.

    ``prepare(x) -> (x, plan)`` checks the point and ranks the candidates (`nestax._planner`);
    ``compute(method)(x) -> (value, aux)`` computes by one method; ``post(x, value)`` may check
    or adjust the value. The returned function carries ``.plan(x)`` (the settled `Plan`, for
    `nestax.explain`).
    """
    engine = tuple(engine_methods)

    def plan(x):
        x, p = prepare(x)
        return x, settle(p, compute, x, f, has_aux, engine)

    def op_f(x):
        x, p = prepare(x)
        value, aux = settle_and_run(op, p, compute, x, f, has_aux, engine)
        if post is not None:
            value = post(x, value)
        return finish(value, aux, has_aux)

    return with_plan(op_f, plan)


def applicable(compute: Compute, methods: Iterable[str], x: Any) -> list[str]:
    """The methods among ``methods`` that trace at ``x``."""
    return [m for m in methods if _trial(compute, m, x) is None]


def not_applicable(
    op: str,
    method: str,
    err: BaseException,
    compute: Compute,
    candidates: Iterable[str],
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
) -> MethodNotApplicableError | None:
    """The error for an explicit ``method`` that failed with ``err`` where others work
    (``None`` if none does: then ``err`` is about ``f`` itself and stands as it is)."""
    working = applicable(compute, [m for m in candidates if m != method], x)
    if not working:
        return None
    try:
        found = constructs(_y_only(f, has_aux), x)
    except Exception:  # best effort: the message falls back to JAX's own
        found = ()
    what = f"{'; '.join(found)} ({_first_line(err)})" if found else _first_line(err)
    cls = UnsupportedPrimitiveError if isinstance(err, UnsupportedPrimitiveError) else None
    return (cls or MethodNotApplicableError)(
        f"{op}: method={method!r} cannot differentiate f: {what}. "
        f"Methods that apply here: {', '.join(map(repr, working))}, or method='auto'"
    )


def run_plan(
    op: str,
    plan: Plan,
    compute: Compute,
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
) -> tuple[Any, Any]:
    """``(value, aux)`` by a settled plan; an explicit method that cannot run says why."""
    if plan.requested == "auto":
        return compute(plan.method)(x)
    try:
        return compute(plan.method)(x)
    except Exception as err:
        if isinstance(err, MethodNotApplicableError) and "Methods that apply" in str(err):
            raise
        better = not_applicable(op, plan.method, err, compute, plan.costs, x, f, has_aux)
        if better is None:
            raise
        raise better from err
