"""The strategy protocol (`nestax._strategies._protocol`) and the one plan -> run path.

- every registered strategy module offers the same protocol;
- a strategy added to the registry appears in every operator whose kind it computes, and is
  run from its own proposal;
- one lowering under ``auto`` traces the user's function and runs the Taylor interpreter no
  more often than the picked method named explicitly does (counted, for a Laplacian at
  d = 300 and a biharmonic at d = 16), and the user's function is traced once.
"""

from __future__ import annotations

import collections
import types

import jax
import jax.numpy as jnp
import pytest

import nestax as nx
from nestax import _strategies
from nestax._strategies import _nested, _protocol, _terms
from nestax._strategies._protocol import LINEAR_KINDS, Declined, Problem, Proposal
from nestax._taylor import _interpreter

from ._helpers import assert_close


def test_every_strategy_module_has_the_protocol():
    seen = set()
    for module in _strategies.MODULES:
        assert callable(module.propose) and callable(module.run), module.__name__
        assert isinstance(module.NEEDS_ENGINE, bool) and isinstance(module.EXACT, bool)
        assert isinstance(module.LAZY, bool)
        assert set(module.BUILDS_TERMS) <= set(module.NAMES), module.__name__
        assert set(module.KINDS) == set(module.NAMES), module.__name__
        assert not seen & set(module.NAMES)
        seen |= set(module.NAMES)
    assert tuple(_strategies.REGISTRY) == nx.METHODS


def test_proposals_and_declines_carry_their_reasons():
    f = lambda x: jnp.sum(jnp.tanh(x @ jnp.ones((5, 2))))
    p = Problem.linear("partial", f, jnp.ones(5), False, nx.Partial((2, 0, 0, 0, 0)).terms(5))
    out = _strategies.REGISTRY["reduced"].propose(p, "reduced")
    assert isinstance(out, Declined) and "singles out coordinates" in out.reason
    out = _strategies.REGISTRY["collapsed"].propose(p, "collapsed")
    assert isinstance(out, Proposal) and out.cost == 3.0  # one direction of order 2: 1 + (1 + 1)
    value, aux = _strategies.REGISTRY["collapsed"].run(out, p.traced, p.x)
    assert aux is None
    assert_close(value, jax.hessian(f)(jnp.ones(5))[0, 0])


def _toy_module():
    """A strategy in a dozen lines: nested AD under another name, claiming to be cheapest."""

    def propose(problem, name):
        return Proposal(name, 0.5, problem, "the toy strategy")

    def run(proposal, f, x):
        p = proposal.problem
        inner = Proposal("nested", 0.0, p)
        return _nested.run(inner, f, x)

    return types.SimpleNamespace(
        NAMES=("toy",),
        KINDS={"toy": LINEAR_KINDS},
        NEEDS_ENGINE=False,
        EXACT=True,
        BUILDS_TERMS=frozenset({"toy"}),
        LAZY=False,
        propose=propose,
        run=run,
    )


def test_a_registered_strategy_appears_wherever_it_applies(monkeypatch):
    monkeypatch.setitem(_strategies.REGISTRY, "toy", _toy_module())
    f = lambda x: jnp.sin(x[0]) * jnp.cos(x[1]) ** 2
    x = jnp.array([0.3, -0.4])
    for op, ref in [
        (nx.laplacian, lambda z: jnp.trace(jax.hessian(f)(z))),
        (lambda g, method: nx.partial(g, (1, 1), method), lambda z: jax.hessian(f)(z)[0, 1]),
        (lambda g, method: nx.apply(nx.Biharmonic(), g, method), None),
    ]:
        plan = op(f, method="auto").plan(x)
        assert plan.method == "toy" and "the toy strategy" in plan.notes
        got = op(f, method="toy")(x)
        assert_close(got, op(f, method="nested")(x))
        if ref is not None:
            assert_close(got, ref(x))
    assert "toy" not in nx.explain(nx.hessian, f, x).costs  # not a kind it computes
    with pytest.raises(ValueError, match="toy"):
        nx.gradient(f, method="toy")


# ----------------------------------------------------------------------- what a lowering costs


def _mlp(d, width=32):
    k = jax.random.split(jax.random.key(0), 3)
    w1 = jax.random.normal(k[0], (d, width)) / d**0.5
    w2 = jax.random.normal(k[1], (width, width)) / width**0.5
    w3 = jax.random.normal(k[2], (width,))
    calls = collections.Counter()

    def u(x):
        calls["f"] += 1
        return jnp.tanh(jnp.tanh(x @ w1) @ w2) @ w3

    return u, calls


def _count(monkeypatch, build, d):
    """``{"f": traces of the user's function, "interpreter": Taylor interpreter runs}`` in one
    lowering of ``build(u)`` under `jax.jit`."""
    u, calls = _mlp(d)
    run = _interpreter._run

    def counted(*args, **kwargs):
        calls["interpreter"] += 1
        return run(*args, **kwargs)

    monkeypatch.setattr(_interpreter, "_run", counted)
    jax.jit(build(u)).lower(jnp.linspace(-1.0, 1.0, d))
    monkeypatch.setattr(_interpreter, "_run", run)
    return dict(calls)


@pytest.mark.parametrize(
    "label, build, d, picked",
    [
        ("laplacian", lambda m: lambda u: nx.laplacian(u, method=m), 300, "reduced"),
        ("biharmonic", lambda m: lambda u: nx.apply(nx.Biharmonic(), u, method=m), 16, "iterated"),
    ],
)
def test_auto_traces_no_more_than_the_picked_method(monkeypatch, label, build, d, picked):
    u, _ = _mlp(d)
    assert (
        nx.explain(nx.laplacian if label == "laplacian" else nx.Biharmonic(), u, jnp.ones(d)).method
        == picked
    )
    auto = _count(monkeypatch, build("auto"), d)
    named = _count(monkeypatch, build(picked), d)
    assert auto["f"] <= named["f"] and auto["interpreter"] <= named["interpreter"], (auto, named)
    # the user's function is traced once; the engine runs once per nested Laplacian
    assert auto["f"] == 1, auto
    assert auto["interpreter"] == (1 if picked == "reduced" else 2), auto


@pytest.mark.parametrize("profile", [{1: 1.0}, {2: 1.0}, {3: -2.0}, {0: 2.0, 1: 1.0, 2: 0.5}])
@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_nested_cost_of_a_laplacian_power_counts_without_listing_its_terms(profile, d):
    """The nested cost from the profile alone equals the count over the listed terms; it
    leaves the terms unbuilt (a Laplacian in d = 20 000 once took 36 s to plan)."""
    terms = _terms.InvariantTerms(profile, d)
    lazy = _nested.nested_linear_cost(terms, d)
    assert terms._terms is None
    assert lazy == pytest.approx(_nested.nested_linear_cost(dict(terms), d), rel=1e-12)


def test_a_declined_reduction_plans_its_fallback_only_when_named(monkeypatch):
    """Reduction declines where f reads x through as many functionals as there are inputs;
    its unreduced fallback (run when "reduced" is named anyway) plans the d-dimensional
    directions, which ``auto`` does not need when it picks another method: a biharmonic at
    d = 200 (20 100 terms) once took 15 s to plan for that alone."""
    planned = []
    real = _protocol.plan
    monkeypatch.setattr(
        _protocol, "plan", lambda terms, d, **kw: planned.append(d) or real(terms, d, **kw)
    )
    u, _ = _mlp(200, width=256)
    assert nx.explain(nx.Biharmonic(), u, jnp.ones(200)).method == "iterated"
    assert planned == []
    # named, in few dimensions: the fallback is built, costed and run (collapsed, unreduced)
    u, _ = _mlp(3, width=8)
    x = jnp.linspace(-0.5, 0.5, 3)
    plan = nx.explain(nx.Biharmonic(), u, x, method="reduced")
    assert "declined" in " ".join(plan.notes) and plan.costs["reduced"] == plan.costs["collapsed"]
    assert_close(
        nx.apply(nx.Biharmonic(), u, method="reduced")(x),
        nx.apply(nx.Biharmonic(), u, method="nested")(x),
    )
