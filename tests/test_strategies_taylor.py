"""The "taylor" and "collapsed" strategies against nested `jax.jacfwd` (float64).

The reference contracts the derivative tensors of ``f`` (k nested `jax.jacfwd`) with the
operator's coefficients; it shares no code with the strategies.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nestax as nx
from nestax._strategies._collapsed import apply_collapsed, cost_collapsed
from nestax._strategies._directions import plan
from nestax._strategies._iterated import run_iterated
from nestax._strategies._taylor import apply_taylor, cost_taylor
from nestax._strategies._terms import InvariantTerms

from ._helpers import ACTIVATIONS, assert_close, init_mlp, mlp

ACTS = {**ACTIVATIONS, "logistic": jax.nn.sigmoid, "erf": jax.scipy.special.erf}
STRATEGIES = {"taylor": apply_taylor, "collapsed": apply_collapsed}
RTOL = 1e-8  # the bar


def close(actual, expected, rtol=RTOL):
    scale = float(jnp.max(jnp.abs(expected))) + 1e-300
    assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@functools.partial(jax.jit, static_argnums=(0, 1))
def reference(terms, f, x):
    """``sum_alpha c_alpha d^alpha f(x)`` from nested-jacfwd derivative tensors."""
    terms = dict(terms)
    y = f(x)
    total = jnp.zeros_like(y)
    tensors, g = {0: y}, f
    for k in range(1, max(sum(a) for a in terms) + 1):
        g = jax.jacfwd(g)
        tensors[k] = g(x)
    for alpha, c in terms.items():
        index = tuple(i for i, a in enumerate(alpha) for _ in range(a))
        t = tensors[len(index)]
        for i in index:
            t = t[..., i]
        total = total + c * t
    return total


def laplacian(d):
    return {tuple(2 * (j == i) for j in range(d)): 1.0 for i in range(d)}


def biharmonic(d):
    terms = {tuple(4 * (j == i) for j in range(d)): 1.0 for i in range(d)}
    for i, j in itertools.combinations(range(d), 2):
        terms[tuple(2 * (k in (i, j)) for k in range(d))] = 2.0
    return terms


@st.composite
def operators(draw, max_d=8):
    d = draw(st.integers(1, max_d))
    n_terms = draw(st.integers(1, 4))
    terms = {}
    for _ in range(n_terms):
        k = draw(st.integers(0, 4))
        alpha = [0] * d
        for _ in range(k):
            alpha[draw(st.integers(0, d - 1))] += 1
        terms[tuple(alpha)] = draw(st.sampled_from([1.0, -2.0, 0.5, 3.0, -0.25]))
    return d, terms


@st.composite
def problems(draw):
    d, terms = draw(operators())
    depth = draw(st.integers(1, 4))
    act = draw(st.sampled_from(sorted(ACTS)))
    seed = draw(st.integers(0, 2**16))
    return d, terms, depth, act, seed


def setup(d, depth, act, seed, m=2):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    params = init_mlp(k1, [d] + [4] * depth + [m])
    return params, jax.random.normal(k2, (d,)), functools.partial(mlp, act=ACTS[act])


def frozen(terms):
    return tuple(sorted(terms.items()))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(problems())
def test_strategies_match_nested_jacfwd(problem):
    d, terms, depth, act, seed = problem
    params, x, net = setup(d, depth, act, seed)
    f = lambda z: net(params, z)
    expected = reference(frozen(terms), f, x)
    got = jax.jit(lambda x: {k: s(terms, f, x) for k, s in STRATEGIES.items()})(x)
    for value in got.values():
        close(value, expected)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(problems())
def test_inside_grad_jit_vmap(problem):
    """jit(grad) over the parameters of a mean squared residual over a batch of points.

    Checked along a random parameter direction against forward-mode differentiation of the
    nested-jacfwd loss (any wrong gradient component shows in a random projection).
    """
    d, terms, depth, act, seed = problem
    params, _, net = setup(d, depth, act, seed, m=1)
    xs = jax.random.normal(jax.random.PRNGKey(seed + 1), (3, d))

    def loss(p, op):
        return jnp.mean(jax.vmap(lambda x: op(lambda z: net(p, z), x))(xs) ** 2)

    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 2), len(leaves))
    delta = tree.unflatten(
        [jax.random.normal(k, v.shape) for k, v in zip(keys, leaves, strict=True)]
    )
    ref = lambda f, x: reference(frozen(terms), f, x)
    _, slope = jax.jit(lambda p, t: jax.jvp(lambda p: loss(p, ref), (p,), (t,)))(params, delta)
    for strategy in STRATEGIES.values():
        g = jax.jit(jax.grad(lambda p, s=strategy: loss(p, lambda f, x: s(terms, f, x))))(params)
        close(sum(map(jnp.vdot, jax.tree.leaves(g), jax.tree.leaves(delta))), slope)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_named_operators_and_has_aux(name):
    apply = STRATEGIES[name]
    params, x, net = setup(3, 3, "tanh", 5)
    aux_f = lambda z: (net(params, z), {"norm": jnp.sum(z**2)})
    f = lambda z: net(params, z)
    cases = {
        "laplacian": laplacian(3),
        "biharmonic": biharmonic(3),
        "heat": {(1, 0, 0): 1.0, (0, 2, 0): -0.1, (0, 0, 2): -0.1},
        "u_xxy": {(2, 1, 0): 1.0},
        "mixed": {(1, 1, 0): 2.0, (0, 0, 0): -1.5},
    }
    for terms in cases.values():
        value, aux = apply(terms, aux_f, x, has_aux=True)
        close(value, reference(frozen(terms), f, x))
        close(aux["norm"], jnp.sum(x**2))
    assert_close(apply({}, f, x), jnp.zeros(2))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(operators())
def test_directions_are_an_exact_waring_decomposition(operator):
    """``sum_r w_r (v_r . xi)^k`` equals the symbol ``sum_alpha c_alpha xi^alpha`` of each group."""
    d, terms = operator
    c0, groups = plan(terms, d)
    assert c0 == sum(c for a, c in terms.items() if sum(a) == 0)
    assert sorted(g.order for g in groups) == sorted({sum(a) for a in terms if sum(a)})
    xi = np.random.default_rng(0).normal(size=(5, d))
    for g in groups:
        lhs = np.einsum("r,sr->s", g.weights, (xi @ g.directions.T) ** g.order)
        rhs = sum(
            c * np.prod(xi ** np.asarray(a), axis=1) for a, c in terms.items() if sum(a) == g.order
        )
        np.testing.assert_allclose(lhs, rhs, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8, 64])
def test_direction_counts_and_costs(d):
    assert cost_taylor(laplacian(d), d) == 1 + 2 * d
    assert cost_collapsed(laplacian(d), d) == d + 2
    n = {1: 1, 2: 3, 3: 6, 4: 12}.get(d, d * d)  # documented counts for the biharmonic
    assert [g.size for g in plan(biharmonic(d), d)[1]] == [n]
    assert cost_taylor(biharmonic(d), d) == 1 + 4 * n <= 6 * d * d - 2 * d + 1
    assert cost_collapsed(biharmonic(d), d) == 3 * n + 2 <= 4.5 * d * d - 1.5 * d + 4
    first_order = {tuple(int(i == j) for j in range(d)): 1.0 + i for i in range(d)}
    assert cost_taylor(first_order, d) == cost_collapsed(first_order, d) == 2
    assert math.isclose(cost_collapsed({**first_order, **laplacian(d)}, d), d + 3)


def test_bad_operators_are_named():
    f = jnp.sin
    with pytest.raises(ValueError, match="terms"):
        apply_taylor({(2, 0): 1.0}, f, jnp.ones(3))
    with pytest.raises(ValueError, match="terms"):
        apply_collapsed({(-1, 0, 1): 1.0}, f, jnp.ones(3))
    with pytest.raises(TypeError, match="terms"):
        apply_collapsed([((1, 0, 0), 1.0)], f, jnp.ones(3))
    with pytest.raises(ValueError, match="shape"):
        apply_collapsed({(1, 0, 0): 1.0}, f, jnp.ones((1, 3)))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    st.integers(1, 8),
    st.integers(1, 4),
    st.sampled_from(sorted(ACTS)),
    st.integers(0, 2**16),
    st.sampled_from([1.0, -0.5]),
)
def test_iterated_laplacians_match_nested_jacfwd(d, depth, act, seed, c):
    """Strategy "iterated" (c Δ² as nested collapsed Laplacians): value, aux, and the gradient
    over the parameters (random projection, as above) against nested jacfwd."""
    params, x, net = setup(d, depth, act, seed)
    terms = {a: c * v for a, v in biharmonic(d).items()}
    invariant = InvariantTerms({2: c}, d)
    f = lambda p: lambda z: (net(p, z), jnp.sum(z))
    value, aux = jax.jit(lambda x: run_iterated(invariant, f(params), x, True))(x)
    close(value, reference(frozen(terms), lambda z: net(params, z), x))
    close(aux, jnp.sum(x))

    loss = lambda p, op: jnp.sum(op(lambda z: net(p, z), x) ** 2)
    leaves, tree = jax.tree_util.tree_flatten(params)
    delta = tree.unflatten([jnp.cos(jnp.arange(v.size) + 1.0).reshape(v.shape) for v in leaves])
    ref = lambda g, z: reference(frozen(terms), g, z)
    _, slope = jax.jvp(lambda p: loss(p, ref), (params,), (delta,))
    g = jax.jit(jax.grad(lambda p: loss(p, lambda h, z: run_iterated(invariant, h, z, False)[0])))
    close(sum(map(jnp.vdot, jax.tree.leaves(g(params)), jax.tree.leaves(delta))), slope)


def test_iterated_third_power_and_refusals():
    """Δ³ (order 6) in 2-D against nested jacfwd; `auto` takes "iterated" only for c Δ^m."""
    params, x, net = setup(2, 2, "tanh", 3)
    f = lambda z: net(params, z)
    lap3 = {}
    for i, j, k in itertools.product(range(2), repeat=3):
        alpha = [0, 0]
        for n in (i, j, k):
            alpha[n] += 2
        lap3[tuple(alpha)] = lap3.get(tuple(alpha), 0.0) + 1.0
    close(run_iterated(InvariantTerms({3: 1.0}, 2), f, x, False)[0], reference(frozen(lap3), f, x))
    with pytest.raises(ValueError, match="iterated"):
        nx.apply(nx.Laplacian(), f, method="iterated")(x)
    with pytest.raises(ValueError, match="iterated"):
        nx.apply(nx.Biharmonic() + nx.Laplacian(), f, method="iterated")(x)
    assert "iterated" not in nx.explain(nx.Laplacian(), f, x).costs
