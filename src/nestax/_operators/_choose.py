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


def settle(
    plan: Plan,
    compute: Compute,
    x: Any,
    f: Callable[..., Any],
    has_aux: bool,
    engine_methods: Iterable[str],
) -> Plan:
    """The plan with the cheapest candidate that traces (under ``auto``; else ``plan``)."""
    if plan.requested != "auto" or not plan.costs:
        return plan
    engine = set(engine_methods)
    found = None
    ranked = sorted(plan.costs, key=lambda m: plan.costs[m])
    ranked.remove(plan.method)
    ranked.insert(0, plan.method)  # the planner's pick first (it breaks ties)
    declined = []
    for method in ranked:
        if method not in engine:
            if found is None:
                found = constructs(_y_only(f, has_aux), x)
            if not found:
                break
        reason = _trial(compute, method, x)
        if reason is None:
            break
        declined.append(f"{method} declined: it cannot trace f ({reason})")
    else:
        return plan  # nothing traces: run the pick, whose own error will surface
    if method == plan.method and not declined:
        return plan
    notes = (*plan.notes, *(f"f holds {c}" for c in found or ()), *declined)
    why = f"{plan.reason}; {method} is the cheapest candidate that can differentiate f"
    return dataclasses.replace(plan, method=method, reason=why, notes=notes)


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
