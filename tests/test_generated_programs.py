"""The correctness contract on generated programs: every method of every operator equals
nested first-order AD (float64), values and parameter gradients.

Programs come from the grammar in ``tests/_programs.py``. For each one, an operator is drawn
(Laplacian, Hessian, a third-order mixed partial, a third derivative along a line, the
biharmonic) and ``auto`` plus two explicit methods are compared with the nested ``jacfwd``
reference (``jacrev`` where a ``custom_vjp`` function forbids forward mode). ``auto`` must
always be right. An explicit method is right or raises nestax's named error
(`MethodNotApplicableError`, of which `UnsupportedPrimitiveError` is one) -- and only where
nested AD itself cannot run that nesting (a ``custom_vjp`` under forward mode, a
``while_loop`` under reverse mode): anything else is a failure.

Where the engine claims a program (``unsupported_reason`` is ``None``), its explicit methods
must succeed: the fallback of ``auto`` is never how an engine bug passes.

Two kinds of programs:

- *single programs* (hypothesis, derandomized, shrinkable): each is traced and compiled on its
  own, 1-3 s each, nearly all of it XLA compilation;
- *program families* (`Family`, numbered by a seed): each slot of the network takes one of 3-4
  steps through ``lax.switch`` on an integer argument, so one compilation serves every member
  (up to ``NESTAX_MEMBERS`` = 100 distinct choices, each with its own parameters and point):
  ~0.25 s per program. The steps run inside ``cond`` branches, with the mode restrictions of
  all of them; the single programs check the steps at the top level.

Budget: ``NESTAX_PROGRAMS`` single programs and ``NESTAX_FAMILIES`` families per test function
(30 and 20 in CI: about 2 300 programs; two functions in two files so that both xdist workers
share them). The number checked is printed at the end of the run. A longer run, e.g.
``NESTAX_FAMILIES=180 .venv/bin/python -m pytest -q -n 2 -k families
tests/test_generated_programs*.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import nestax as nx
from nestax._taylor import unsupported_reason

from ._programs import CHECKS, Check, Family, Program, _Draws, _Seeded, programs
from ._programs import family as make_family

#: Single programs per test function (two functions, one per xdist worker). The reference, both
#: methods and the gradients are compiled as one jit (eagerly, every jit-wrapped jnp function
#: is compiled anew under each transformation: 2-3x slower).
BUDGET = int(os.environ.get("NESTAX_PROGRAMS", "30"))
#: Program families per test function (see `Family`: ~0.3 s per program, one compilation per
#: family), and the members checked of each.
FAMILIES = int(os.environ.get("NESTAX_FAMILIES", "20"))
MEMBERS = int(os.environ.get("NESTAX_MEMBERS", "100"))
ENGINE = ("taylor", "collapsed", "iterated")
ORDER = {"laplacian": 2, "hessian": 2, "partial": 3, "derivative": 3, "biharmonic": 4}


def _close(actual, expected, what, spread=None):
    """``actual`` equals ``expected`` to float64 round-off. Where it does not, and ``spread``
    (a thunk) gives how far the reference nested the other way lies from ``expected``, a
    difference within ten times that is round-off too: an exactly cancelling quantity (the sum
    of a layer norm's outputs) has a fourth derivative of pure noise at the 1e-8 level."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = 1.0 + float(np.max(np.abs(expected))) if expected.size else 1.0
    # float64 round-off of up to fourth derivatives through ~10 operations
    tol = 1e-7 * np.abs(expected) + 1e-8 * scale
    if np.all(np.abs(actual - expected) <= tol) or spread is None:
        np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-8 * scale, err_msg=what)
        return
    noise = spread()
    np.testing.assert_array_less(
        np.abs(actual - expected), tol + 10 * noise + 1e-300, err_msg=f"{what} (spread {noise})"
    )


def _largest_gap(other, expected) -> float:
    """The largest disagreement of ``other()`` and ``expected`` over every leaf and entry: the
    round-off of a computation does not stay in the entry it starts in (family 439: the two
    references of a gradient 1.5e-6 apart at the failing entry, 1.1e-4 at another leaf)."""
    gaps = jax.tree.map(
        lambda a, b: np.max(np.abs(np.asarray(a) - np.asarray(b))), other(), expected
    )
    return float(max(jax.tree.leaves(gaps), default=0.0))


def _nested_cannot(prog: Program, method: str, check: str) -> bool:
    """Whether this method's nesting of JAX's AD cannot run on the program: forward mode
    applied to a custom_vjp function, or reverse mode anywhere over a while_loop."""
    chains = method == "nested" and check in ("partial", "biharmonic", "derivative")
    forward_inside = chains or method in ("forward", "forward-over-forward", "reverse-over-forward")
    if prog.has_custom_vjp and (forward_inside or method in ENGINE):
        return True
    reverse = method in (
        "reverse",
        "forward-over-reverse",
        "reverse-over-forward",
        "reverse-over-reverse",
        "nested-reverse",
    ) or (method == "nested" and not chains)
    return prog.has_while and reverse


SETTINGS = settings(
    max_examples=BUDGET,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    # no shrinking unless asked for (NESTAX_SHRINK=1): a failure prints its program as drawn
    phases=[Phase.explicit, Phase.generate]
    + ([Phase.shrink] if os.environ.get("NESTAX_SHRINK") else []),
)


@SETTINGS
@given(prog=programs(), data=st.data())
def test_every_method_matches_nested_ad(prog: Program, data, record_property):
    check_program(prog, data, record_property)


def check_program(prog: Program, data, record) -> None:
    """Check one drawn operator on ``prog``: auto and one explicit method, values, and every
    third program the parameter gradient of auto -- all evaluated in one ``jax.jit``."""
    members = [(np.zeros(0, np.int32), prog.params, prog.x)]
    make = lambda choice, p, x: dataclasses.replace(prog, params=p, x=x)  # noqa: E731
    checked = check_members(make, members, _draw_checks(prog, _Draws(data.draw)))
    assume(checked > 0)
    record("generated_programs", checked)


def check_family(seed: int, record) -> None:
    """`check_program` on `MEMBERS` members of the family ``seed``: one compilation."""
    family = make_family(seed)
    check, methods, with_gradient = _draw_checks(family, _Seeded(np.random.default_rng([seed, 2])))
    # Compilation grows with the order times the branches: fewer branches for higher orders,
    # and no parameter gradient of a fourth order (2-3 min to compile; the single programs
    # check it).
    order = ORDER[check.name]
    family = family.smaller(*SIZE[order])
    checks = (check, methods, with_gradient and order < 4)
    members = family.members(MEMBERS)
    checked = check_members(family.program, members, checks, family.describe, family.member)
    assert checked > 0, f"no member of family {seed} has a finite reference"
    record("generated_programs", checked)


#: (slots, branches per slot) of a family, by the order of the operator checked on it
SIZE = {2: (5, 4), 3: (4, 3), 4: (3, 3)}


def _draw_checks(prog: Program | Family, pick) -> tuple[Check, tuple[str, str], bool]:
    """The operator, ``auto`` and one explicit method, and whether to check the gradient."""
    names = [n for n, c in CHECKS.items() if not (c.scalar_only and prog.vector_out)]
    check = CHECKS[pick.choice(names)]
    methods = ("auto", pick.choice(list(check.methods[1:])))
    return check, methods, pick.integers(0, 2) == 0


def check_members(make, members, checks, describe=None, plain=None) -> int:
    """The checks of `check_program` on every ``make(choice, params, x)`` of ``members``, the
    programs sharing one jitted function of ``(params, choice, x)``; returns how many were
    checked (a program whose reference is not finite is skipped). ``plain(choice, params, x)``
    is a member written without the shared switch (for the round-off yardstick)."""
    first = make(*members[0])
    check, methods, with_gradient = checks
    # parameter gradient of auto (forward over the parameters where a while_loop forbids
    # reverse mode)
    grad = jax.jacfwd if first.has_while else jax.grad

    def total(fn):
        return lambda p: jnp.sum(fn(p))

    refused: dict[str, nx.MethodNotApplicableError] = {}

    def everything(p, choice, x):
        prog = make(choice, p, x)
        out = {"reference": check.reference(prog, p)}
        for method in methods:
            try:  # a refusal is raised while tracing: catch it here, keep the rest
                out[method] = check.nestax(prog, method, p)
            except nx.MethodNotApplicableError as error:
                refused[method] = error
        if with_gradient:
            out["grad auto"] = grad(total(lambda q: check.nestax(prog, "auto", q)))(p)
            out["grad reference"] = grad(total(lambda q: check.reference(prog, q)))(p)
        return out

    def nested_other_way(prog):  # the round-off yardstick of `_close`, compiled on demand
        alt = prog.other_nesting()
        if alt is None:
            return None, None
        value = jax.jit(lambda p: check.reference(alt, p))
        gradient = jax.jit(grad(total(lambda p: check.reference(alt, p))))
        return (lambda: value(prog.params)), (lambda: gradient(prog.params))

    run = jax.jit(everything)
    f = first.point_fn()
    point = first.x if check.name != "derivative" else jnp.zeros(())
    claims = (
        unsupported_reason(
            f if check.name != "derivative" else (lambda t: f(first.x + t * jnp.ones(first.d))),
            point,
            order=ORDER[check.name],
        )
        is None
    )
    checked = 0
    for choice, params, x in members:
        out = run(params, choice, x)
        ref = out["reference"]
        if not np.all(np.isfinite(np.asarray(ref))):
            continue
        checked += 1
        prog = make(choice, params, x)
        label = prog.describe() if describe is None else f"{describe(choice)} x={x}"
        # the member on its own (a family's switch holds every branch's custom_vjp/while)
        other, other_grad = nested_other_way(prog if plain is None else plain(choice, params, x))
        for method in methods:
            what = f"{check.name} method={method} {label}"
            if method in refused:
                if method == "auto" or not _nested_cannot(prog, method, check.name):
                    raise refused[method]
                assert not (claims and method in ENGINE), what  # claimed, so it must run
                continue
            _close(out[method], ref, what, other and functools.partial(_largest_gap, other, ref))
        if not with_gradient:
            continue
        expected = out["grad reference"]
        if not all(bool(np.all(np.isfinite(np.asarray(v)))) for v in expected.values()):
            continue
        for k in expected:
            _close(
                out["grad auto"][k],
                expected[k],
                f"d/d{k} of {check.name} auto {label}",
                other_grad and functools.partial(_largest_gap, other_grad, expected),
            )
    return checked


@pytest.mark.parametrize("seed", range(FAMILIES))
def test_program_families_match_nested_ad(seed: int, record_property):
    check_family(seed, record_property)
