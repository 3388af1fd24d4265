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

Budget: ``NESTAX_PROGRAMS`` programs per test function (60 in CI, derandomized, two
functions in two files so that both xdist workers share them); a longer run, e.g.
``NESTAX_PROGRAMS=2000 .venv/bin/python -m pytest -q tests/test_generated_programs*.py``.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import nestax as nx
from nestax._taylor import unsupported_reason

from ._programs import CHECKS, Program, programs

#: Programs per test function (two functions, one per xdist worker). Each program costs about
#: 1-3 s on this machine, nearly all of it tracing and XLA compilation; the reference, both
#: methods and the gradients are compiled as one jit (eagerly, every jit-wrapped jnp function
#: is compiled anew under each transformation: 2-3x slower).
BUDGET = int(os.environ.get("NESTAX_PROGRAMS", "60"))
ENGINE = ("taylor", "collapsed", "iterated")
ORDER = {"laplacian": 2, "hessian": 2, "partial": 3, "derivative": 3, "biharmonic": 4}


def _close(actual, expected, what, other=None):
    """``actual`` equals ``expected`` to float64 round-off. Where it does not, and ``other``
    (a thunk) gives the reference nested the other way, a difference within ten times the two
    references' own disagreement is round-off too: an exactly cancelling quantity (the sum of a
    layer norm's outputs) has a fourth derivative of pure noise at the 1e-8 level."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = 1.0 + float(np.max(np.abs(expected))) if expected.size else 1.0
    # float64 round-off of up to fourth derivatives through ~10 operations
    tol = 1e-7 * np.abs(expected) + 1e-8 * scale
    if np.all(np.abs(actual - expected) <= tol) or other is None:
        np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-8 * scale, err_msg=what)
        return
    spread = np.abs(np.asarray(other()) - expected)
    np.testing.assert_array_less(
        np.abs(actual - expected), tol + 10 * spread + 1e-300, err_msg=f"{what} (spread {spread})"
    )


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
def test_every_method_matches_nested_ad(prog: Program, data):
    check_program(prog, data)


def check_program(prog: Program, data) -> None:
    """Check one drawn operator on ``prog``: auto and one explicit method, values, and every
    third program the parameter gradient of auto -- all evaluated in one ``jax.jit``."""
    names = [n for n, c in CHECKS.items() if not (c.scalar_only and prog.vector_out)]
    check = CHECKS[data.draw(st.sampled_from(names), label="operator")]
    methods = ("auto", data.draw(st.sampled_from(check.methods[1:]), label="method"))
    with_gradient = data.draw(st.integers(0, 2), label="gradient") == 0
    # parameter gradient of auto (forward over the parameters where a while_loop forbids
    # reverse mode)
    grad = jax.jacfwd if prog.has_while else jax.grad

    def total(fn):
        return lambda p: jnp.sum(fn(p))

    refused: dict[str, nx.MethodNotApplicableError] = {}

    def everything(p):
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

    out = jax.jit(everything)(prog.params)
    ref = out["reference"]
    assume(bool(np.all(np.isfinite(np.asarray(ref)))))
    f = prog.point_fn()
    point = prog.x if check.name != "derivative" else jnp.zeros(())
    claims = (
        unsupported_reason(
            f if check.name != "derivative" else (lambda t: f(prog.x + t * jnp.ones(prog.d))),
            point,
            order=ORDER[check.name],
        )
        is None
    )
    alt = prog.other_nesting()
    other = None if alt is None else lambda: jax.jit(lambda p: check.reference(alt, p))(prog.params)
    for method in methods:
        what = f"{check.name} method={method} {prog.describe()}"
        if method in refused:
            if method == "auto" or not _nested_cannot(prog, method, check.name):
                raise refused[method]
            assert not (claims and method in ENGINE), what  # claimed, so it must run
            continue
        _close(out[method], ref, what, other)
    if not with_gradient:
        return
    expected = out["grad reference"]
    assume(all(bool(np.all(np.isfinite(np.asarray(v)))) for v in expected.values()))
    other_grad = None
    if alt is not None:
        other_grad = jax.jit(grad(total(lambda q: check.reference(alt, q))))
    for k in expected:
        _close(
            out["grad auto"][k],
            expected[k],
            f"d/d{k} of {check.name} auto {prog.describe()}",
            None if alt is None else (lambda k=k: other_grad(prog.params)[k]),
        )
