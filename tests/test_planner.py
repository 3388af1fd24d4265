"""The planner's decisions: cheapest modelled candidate, explicit methods, ``explain``'s text.

These test the cost *model* (``nestax._planner``), never timings: the decisions asserted for
particular shapes are the ones the calibration measurements on this machine support (see the
table in ``nestax._planner``'s docstring and ``benchmarks/results/planner.md``), restated as
properties of the model so that a change of the model that flips them is noticed. Nothing here
differentiates a network: ``explain`` only traces ``f``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import nestax as nx
from nestax._strategies import _nested

from ._helpers import init_mlp, mlp

SECOND = (
    "forward-over-reverse",
    "forward-over-forward",
    "reverse-over-forward",
    "reverse-over-reverse",
)


def _square_primitive():
    """A primitive JAX differentiates (jvp, batching) whose Taylor rule knows one derivative
    only: the engine declines it from order 2 on, nested AD works -- a stand-in for any
    construct the engine cannot run."""
    from jax.extend.core import Primitive
    from jax.interpreters import ad, batching

    from nestax._taylor import register_elementwise

    prim = Primitive("nestax_test_first_order_only")
    prim.def_impl(lambda x: x * x)
    prim.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    ad.defjvp(prim, lambda g, x: 2.0 * x * g)
    batching.defvectorized(prim)
    register_elementwise(prim, [lambda x: 2.0 * x])
    return prim


_SQUARE = _square_primitive()


def _declined(x):
    return jnp.sum(jnp.tanh(_SQUARE.bind(x)))


def _net(d: int, m: int = 1, width: int = 16):
    """A small tanh MLP ``R^d -> R`` (``m == 1``) or ``R^d -> R^m``.

    ``width >= d`` keeps the first layer from reducing the input space, so the "reduced"
    strategy does not apply and the candidates are the general ones.
    """
    params = init_mlp(jax.random.key(d + 10 * m), [d, max(width, d), max(width, d), m])
    if m == 1:
        return lambda x: mlp(params, x)[0]
    return lambda x: mlp(params, x)


def _scalar_net():
    params = init_mlp(jax.random.key(0), [1, 16, 16, 1])
    return lambda t: mlp(params, jnp.reshape(t, (1,)))[0]


def _plans():
    """``(label, plan)`` for auto on a spread of operators and shapes."""
    out = []
    for d in (1, 2, 4, 16, 64):
        out.append((f"gradient d={d}", nx.explain(nx.gradient, _net(d), jnp.ones(d))))
    for d, m in ((2, 2), (2, 16), (16, 2)):
        out.append((f"jacobian {d}->{m}", nx.explain(nx.jacobian, _net(d, m), jnp.ones(d))))
    for d in (1, 2, 16):
        out.append((f"hessian d={d}", nx.explain(nx.hessian, _net(d), jnp.ones(d))))
        out.append((f"laplacian d={d}", nx.explain(nx.laplacian, _net(d), jnp.ones(d))))
    for k in (1, 2, 4):
        out.append((f"derivative {k}", nx.explain(nx.derivative, _scalar_net(), 0.3, order=k)))
    for op, d in ((nx.Biharmonic(), 2), (nx.Biharmonic(), 5), (nx.Partial((2, 1)), 2)):
        out.append((f"{op!r} d={d}", nx.explain(op, _net(d), jnp.ones(d))))
    return out


PLANS = None


def plans():
    global PLANS
    if PLANS is None:
        PLANS = _plans()
    return PLANS


def test_auto_picks_the_cheapest_modelled_candidate():
    for label, plan in plans():
        assert plan.requested == "auto", label
        assert plan.costs, label
        assert all(c > 0 for c in plan.costs.values()), (label, plan.costs)
        assert plan.costs[plan.method] == min(plan.costs.values()), (label, plan.costs)


def test_ties_go_to_the_candidate_listed_first():
    """The Hessian at d = 1 and 2 costs forward-over-forward and reverse-over-forward the same:
    the one listed first in the registry (forward-over-forward) is picked; so is taylor over
    collapsed for a first derivative (both 2 passes)."""
    for d in (1, 2):
        plan = nx.explain(nx.hessian, lambda x: jnp.sum(x**3), jnp.ones(d))
        assert plan.costs["forward-over-forward"] == plan.costs["reverse-over-forward"]
        assert plan.method == "forward-over-forward"
    names = list(nx.METHODS)
    assert names.index("forward-over-forward") < names.index("reverse-over-forward")
    plan = nx.explain(nx.Partial((1, 0)), lambda x: jnp.sum(jnp.sin(x)), jnp.ones(2))
    assert plan.costs["taylor"] == plan.costs["collapsed"]
    assert names.index("taylor") < names.index("collapsed")


@pytest.mark.parametrize(
    ("operator", "d", "method", "options"),
    [
        (nx.gradient, 64, "forward", {}),
        (nx.gradient, 1, "reverse", {}),
        (nx.hessian, 3, "reverse-over-reverse", {}),
        (nx.laplacian, 16, "forward-over-forward", {}),
        (nx.laplacian, 16, "taylor", {}),
        (nx.laplacian, 2, "nested", {}),
        (nx.derivative, 0, "reverse", {"order": 3}),
        (nx.partial, 2, "nested", {"alpha": (2, 1)}),
    ],
)
def test_an_explicit_method_is_respected(operator, d, method, options):
    f, x = (_scalar_net(), 0.3) if d == 0 else (_net(d), jnp.ones(d))
    plan = nx.explain(operator, f, x, method=method, **options)
    assert plan.method == method and plan.requested == method
    text = str(plan)
    assert "requested explicitly" in text and "chosen by auto" not in text
    (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(f"{method}:")]
    assert "<- picked" in line


def test_explicit_method_on_an_operator_object():
    plan = nx.explain(nx.Biharmonic(), _net(2), jnp.ones(2), method="taylor")
    assert plan.method == "taylor" and "requested explicitly" in str(plan)
    assert {"nested", "taylor", "collapsed"} <= set(plan.costs)


def test_explain_lists_every_candidate_and_marks_the_pick():
    plan = nx.explain(nx.laplacian, _net(4), jnp.ones(4))
    text = str(plan)
    assert text.startswith("laplacian: method=") and "(chosen by auto)" in text
    assert "why:" in text and "estimated cost" in text
    lines = text.splitlines()
    for name in plan.costs:
        (line,) = [ln for ln in lines if ln.strip().startswith(f"{name}:")]
        assert ("<- picked" in line) == (name == plan.method), line
    assert set(SECOND) <= set(plan.costs)
    assert {"nested", "taylor", "collapsed"} <= set(plan.costs)


def test_explain_says_why_it_falls_back_when_the_engine_declines():
    u = _declined  # the engine's rule knows one derivative; a Laplacian needs two
    x = jnp.array([0.3, -0.2, 0.1])
    for operator in (nx.laplacian, nx.Laplacian()):
        plan = nx.explain(operator, u, x)
        assert plan.method in ("nested", *SECOND)
        assert not {"taylor", "collapsed"} & set(plan.costs)
        text = str(plan)
        assert "note:" in text and "nestax_test_first_order_only" in text
        assert "falling back to nested AD" in text
        assert plan.costs[plan.method] == min(plan.costs.values())


# ----------------------------------------------------------------------- measured decisions
# Each decision below is what the calibration measured as fastest (training step, tanh MLP
# 128 x 3, batch 256, float32, this machine); the model must keep reproducing it.


@pytest.mark.parametrize("d", [2, 4, 16, 64])
def test_gradient_is_reverse_from_two_inputs(d):
    assert nx.explain(nx.gradient, _net(d), jnp.ones(d)).method == "reverse"


def test_jacobian_follows_the_narrow_side():
    assert nx.explain(nx.jacobian, _net(2, 16), jnp.ones(2)).method == "forward"
    assert nx.explain(nx.jacobian, _net(16, 2), jnp.ones(16)).method == "reverse"


@pytest.mark.parametrize(
    ("d", "method"),
    [
        (1, "forward-over-forward"),
        (2, "forward-over-forward"),
        (4, "forward-over-reverse"),
        (16, "forward-over-reverse"),
        (64, "forward-over-reverse"),
    ],
)
def test_hessian_nesting(d, method):
    # Measured: with one or two inputs, pushing tangents only (forward-over-forward) beats the
    # Hessian-vector products (1.6x at d = 2); from d = 4 on the HVPs win (2x, 7x at d = 16).
    assert nx.explain(nx.hessian, _net(d), jnp.ones(d)).method == method


@pytest.mark.parametrize("d", [2, 16, 64])
def test_laplacian_is_collapsed(d):
    assert nx.explain(nx.laplacian, _net(d), jnp.ones(d)).method == "collapsed"


@pytest.mark.parametrize("d", [2, 16])
def test_laplacian_fallback_nesting_is_forward_over_forward(d):
    # Measured (training step): forward-over-forward beats forward-over-reverse for a scalar
    # Laplacian at every d tried (1.6x at d = 2, 2x at d = 4, 1.2x at d = 16).
    assert nx.explain(nx.laplacian, _declined, jnp.ones(d)).method == "forward-over-forward"


@pytest.mark.parametrize("d", [2, 3, 4])
def test_biharmonic_is_collapsed(d):
    assert nx.explain(nx.Biharmonic(), _net(d), jnp.ones(d)).method == "collapsed"


@pytest.mark.parametrize("d", [5, 8])
def test_biharmonic_is_iterated_from_five_dimensions(d):
    # Measured (operators suite, d = 5): nested collapsed Laplacians 1.17x faster than collapsed
    # in the training step, 1.57x in the value; collapsed stays ahead at d = 2-4.
    assert nx.explain(nx.Biharmonic(), _net(d), jnp.ones(d)).method == "iterated"


def test_heat_operator_is_collapsed():
    op = nx.Partial((1, 0, 0)) - 0.1 * (nx.Partial((0, 2, 0)) + nx.Partial((0, 0, 2)))
    assert nx.explain(op, _net(3), jnp.ones(3)).method == "collapsed"


@pytest.mark.parametrize("alpha", [(1, 1, 1), (2, 2)])
def test_low_order_mixed_partials_use_nested_jvps(alpha):
    # XLA merges the repeated tangents of nested jvps: measured 1.27x faster than collapsed
    # for (1, 1, 1) and 1.28x for (2, 2) in a training step.
    d = len(alpha)
    plan = nx.explain(nx.partial, _net(d), jnp.ones(d), alpha=alpha)
    assert plan.method == "nested", plan.costs


def test_u_xxy_uses_collapsed():
    # Measured: a tie with nested in the training step (1.00), collapsed 1.31x faster in the value.
    plan = nx.explain(nx.partial, _net(2), jnp.ones(2), alpha=(2, 1))
    assert plan.method == "collapsed", plan.costs


def test_derivatives_of_a_scalar():
    f = _scalar_net()
    assert nx.explain(nx.derivative, f, 0.3, order=1).method == "forward"
    for k in (3, 4):
        plan = nx.explain(nx.derivative, f, 0.3, order=k)
        assert plan.method in ("taylor", "collapsed"), (k, plan.costs)
        assert plan.costs["forward"] > plan.costs[plan.method]
        assert plan.costs["reverse"] > plan.costs["forward"]


# ----------------------------------------------------------------------- the model's formulas


def test_first_and_second_order_formulas():
    r, r2 = _nested.REVERSE_FACTOR, _nested.NESTED_REVERSE_FACTOR
    f = lambda x: jnp.sum(x**3)
    costs = nx.explain(nx.gradient, f, jnp.ones(4)).costs
    assert costs == {"forward": 5.0, "reverse": 1.0 + r}
    costs = nx.explain(nx.hessian, f, jnp.ones(3)).costs
    assert costs["forward-over-reverse"] == pytest.approx(4 * (1 + r2))
    assert costs["forward-over-forward"] == pytest.approx(1 + 6 + 9)
    assert nx.explain(nx.laplacian, f, jnp.ones(3)).costs["forward-over-forward"] == 10
    costs = nx.explain(nx.jacobian, lambda x: jnp.sin(x[:2]), jnp.ones(5)).costs
    assert costs == {"forward": 6.0, "reverse": 1.0 + 2 * r}


def test_nested_chains_share_repeated_tangents():
    w = _nested.NESTED_JVP_WEIGHT
    # d^4/dt^4: 5 distinct tangents (orders 0..4), 16 pushed
    assert _nested.derivative_cost("forward", 4, 1) == pytest.approx(w * (5 + 16) / 2)
    costs = nx.explain(nx.derivative, jnp.sin, 0.5, order=4).costs
    assert costs["forward"] == pytest.approx(w * (5 + 16) / 2)
    assert costs["reverse"] == pytest.approx(16 * _nested.REVERSE_FACTOR)
    # distinct axes: nothing to share, 8 and 8
    assert _nested.nested_chain_cost([(1, 1, 1)]) == pytest.approx(w * 8)
    # the biharmonic in 2-D: 13 distinct sub-multi-indices, 1 + 3 * 15 pushed
    terms = nx.Biharmonic().terms(2)
    assert _nested.nested_chain_cost(terms) == pytest.approx(w * (13 + 46) / 2)
    c = _nested.NESTED_CHAIN_OVERHEAD
    assert _nested.nested_linear_cost(terms, 2) == pytest.approx(1 + c + w * (12 + 45) / 2)


@pytest.mark.parametrize(
    "d, operator",
    [
        (300, lambda u, m: nx.laplacian(u, method=m)),
        (16, lambda u, m: nx.apply(nx.Biharmonic(), u, method=m)),
    ],
    ids=["laplacian-d300", "biharmonic-d16"],
)
def test_auto_traces_no_more_than_the_method_it_picks(d, operator, monkeypatch):
    """Under auto, one lowering traces the user's function and runs the Taylor interpreter no
    more often than the picked method, named explicitly, does (no trial runs on top)."""
    from nestax._taylor import _interpreter

    counts = {"f": 0, "interpreter": 0}
    propagate = _interpreter.propagate

    def counting(*args, **kwargs):
        counts["interpreter"] += 1
        return propagate(*args, **kwargs)

    monkeypatch.setattr(_interpreter, "propagate", counting)
    W = jax.random.normal(jax.random.key(0), (d, 16)) / d**0.5
    v = jax.random.normal(jax.random.key(1), (16,))

    def u(x):
        counts["f"] += 1  # a Python call of f: one trace
        return jnp.tanh(1.3 * jnp.tanh(x @ W)) @ v

    x = jnp.linspace(-1.0, 1.0, d)
    picked = operator(u, "auto").plan(x).method
    assert picked in ("reduced", "iterated", "collapsed", "taylor")
    seen = {}
    for method in ("auto", picked):
        counts.update(f=0, interpreter=0)
        jax.make_jaxpr(operator(u, method))(x)
        seen[method] = dict(counts)
    assert seen["auto"]["f"] <= seen[picked]["f"], seen
    assert seen["auto"]["interpreter"] <= seen[picked]["interpreter"], seen
    assert seen[picked]["interpreter"] >= 1
