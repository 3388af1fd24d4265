"""How every operator settles on a method, and what it says when a named method cannot run.

Every operator builds one `Problem` per call (the user's ``f`` traced once) and hands it to
`operator_function`'s plan -> run path: the planner compares the strategies' proposals
(`nestax._planner.choose`) and the pick runs from its proposal. Under ``"auto"`` the
operator takes the cheapest candidate that JAX can trace for this ``f``: methods of the
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
from collections.abc import Callable, Sequence
from typing import Any

import jax

from .._planner import Plan, candidates, choose
from .._strategies import REGISTRY
from .._strategies._protocol import Problem, Proposal
from .._taylor import UnsupportedPrimitiveError, constructs
from .._validate import MethodNotApplicableError
from ._common import finish


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _run(proposal: Proposal) -> tuple[Any, Any]:
    p = proposal.problem
    return REGISTRY[proposal.name].run(proposal, p.traced, p.x)


def _trial(proposal: Proposal) -> str | None:
    """``None`` if ``proposal`` traces (abstractly: `jax.eval_shape`); else why not."""
    p = proposal.problem
    run = REGISTRY[proposal.name].run
    try:
        jax.eval_shape(lambda z: run(proposal, p.traced, z)[0], p.x)
    except Exception as err:  # any failure declines the candidate; the reason is kept
        return _first_line(err)
    return None


def _ranked(plan: Plan) -> list[str]:
    ranked = sorted(plan.costs, key=lambda m: plan.costs[m])
    ranked.remove(plan.method)
    ranked.insert(0, plan.method)  # the planner's pick first (it breaks ties)
    return ranked


def _search(
    plan: Plan, problem: Problem, attempt: Callable[[Proposal], tuple[bool, Any]]
) -> tuple[Plan, Any]:
    """Under ``auto``: ``attempt(proposal) -> (ok, result or reason)`` over the candidates, the
    cheapest first; returns the plan of the first that succeeds and its result. ``(plan,
    None)`` when the search ends at a method not attempted (a nested method where nothing
    forbids it, or none succeeded): that method is then to run as it is."""
    found = None
    declined = []
    for method in _ranked(plan):
        if not REGISTRY[method].NEEDS_ENGINE:
            if found is None:
                found = constructs(problem.traced_y, problem.x)
            if not found:
                result = None
                break
        ok, result = attempt(plan.proposals[method])
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


def settle(plan: Plan, problem: Problem) -> Plan:
    """The plan with the cheapest candidate that traces (under ``auto``; else ``plan``), each
    tried abstractly (`jax.eval_shape`): what `nestax.explain` reports."""
    if plan.requested != "auto":
        return plan

    def attempt(proposal):
        reason = _trial(proposal)
        return reason is None, reason

    return _search(plan, problem, attempt)[0]


def settle_and_run(plan: Plan, problem: Problem, names: Sequence[str]) -> tuple[Any, Any]:
    """``(value, aux)``: under ``auto`` the cheapest candidate that runs, each candidate run for
    real until one succeeds (the same choice as `settle`, with ``f`` traced only as often as
    the method that runs needs); an explicit method by `run_named`."""
    if plan.requested != "auto":
        return run_named(plan, problem, names)

    def attempt(proposal):
        try:
            return True, _run(proposal)
        except Exception as err:  # any failure declines the candidate
            return False, _first_line(err)

    settled, result = _search(plan, problem, attempt)
    if result is None:
        return _run(settled.proposals[settled.method])
    return result


def operator_function(
    method: str,
    build: Callable[[Any], Problem],
    names: Sequence[str],
    post: Callable[[Problem, Any], Any] | None = None,
) -> Callable[[Any], Any]:
    """The one plan -> run path of every operator.

    ``build(x) -> Problem`` checks the point and traces ``f`` once; the planner chooses among
    the strategies ``names`` (`nestax._planner.choose`); the pick runs from its proposal;
    ``post(problem, value)`` may check or adjust the value. The returned function carries
    ``.plan(x)`` (the settled `Plan`, for `nestax.explain`).
    """

    def op_f(x):
        problem = build(x)
        plan = choose(problem, method, names)
        value, aux = settle_and_run(plan, problem, names)
        if post is not None:
            value = post(problem, value)
        return finish(value, aux, problem.has_aux)

    def plan(x):
        problem = build(x)
        return settle(choose(problem, method, names, compare=True), problem)

    op_f.plan = plan
    return op_f


def not_applicable(
    plan: Plan, problem: Problem, err: BaseException, names: Sequence[str]
) -> MethodNotApplicableError | None:
    """The error for an explicit method that failed with ``err`` where others work (``None``
    if none does: then ``err`` is about ``f`` itself and stands as it is)."""
    method = plan.method
    if not REGISTRY[method].EXACT:
        return None
    others, _ = candidates(problem, [n for n in names if n != method])
    working = [n for n, proposal in others.items() if _trial(proposal) is None]
    if not working:
        return None
    try:
        found = constructs(problem.traced_y, problem.x)
    except Exception:  # best effort: the message falls back to JAX's own
        found = ()
    what = f"{'; '.join(found)} ({_first_line(err)})" if found else _first_line(err)
    cls = UnsupportedPrimitiveError if isinstance(err, UnsupportedPrimitiveError) else None
    return (cls or MethodNotApplicableError)(
        f"{problem.op}: method={method!r} cannot differentiate f: {what}. "
        f"Methods that apply here: {', '.join(map(repr, working))}, or method='auto'"
    )


def run_named(plan: Plan, problem: Problem, names: Sequence[str]) -> tuple[Any, Any]:
    """``(value, aux)`` by an explicitly named method; one that cannot run says why."""
    try:
        return _run(plan.proposals[plan.method])
    except Exception as err:
        if isinstance(err, MethodNotApplicableError) and "Methods that apply" in str(err):
            raise
        better = not_applicable(plan, problem, err, names)
        if better is None:
            raise
        raise better from err
