"""Randomized Laplacian estimators (Hutchinson, STDE): unbiasedness within 3 standard errors on
10⁴ probes, their variance against closed forms, and exact limits. The reference Laplacian is
the trace of ``jax.hessian`` in float64."""

import jax
import jax.numpy as jnp
import pytest

import nestax as nx
from nestax._strategies import _randomized as rnd

from ._helpers import assert_close, init_mlp, mlp

D = 6
N_PROBES = 10_000


@pytest.fixture(scope="module")
def setup():
    params = init_mlp(jax.random.key(0), [D, 16, 16, 1])
    f = lambda x: mlp(params, x)[0]  # noqa: E731
    x = jax.random.normal(jax.random.key(1), (D,)) * 0.7
    h = jax.hessian(f)(x)
    a = jnp.array([1.0, 2.0, 0.5, 1.0, 3.0, 0.25])
    return f, x, h, a


def _terms(a):
    return {tuple(2 if j == i else 0 for j in range(D)): float(a[i]) for i in range(D)}


@pytest.mark.parametrize(
    "method, options",
    [
        ("hutchinson", {"probe": "rademacher"}),
        ("hutchinson", {"probe": "gaussian"}),
        ("hutchinson", {"probe": "rademacher", "mode": "forward-over-reverse"}),
        ("stde", {}),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_estimators_are_unbiased_within_three_standard_errors(setup, method, options, weighted):
    f, x, h, a = setup
    a = a if weighted else jnp.ones(D)
    exact = jnp.sum(a * jnp.diag(h))
    terms = _terms(a)
    stats = jax.jit(
        lambda k: rnd.estimator_variance(method, terms, f, x, key=k, samples=N_PROBES, **options)
    )(jax.random.key(2))
    assert stats["std_error"] > 0
    assert abs(float(stats["mean"] - exact)) <= 3 * float(stats["std_error"]), (stats, exact)


def test_variance_matches_the_closed_forms(setup):
    f, x, h, _ = setup
    off = h - jnp.diag(jnp.diag(h))
    closed = {
        "rademacher": 2 * jnp.sum(off**2),  # Var vᵀHv, v ∈ {±1}^d
        "gaussian": 2 * jnp.sum(h**2),  # Var vᵀHv, v ~ N(0, I)
    }
    for probe, expected in closed.items():
        stats = rnd.estimator_variance(
            "hutchinson", None, f, x, key=jax.random.key(3), samples=N_PROBES, probe=probe
        )
        # the sample variance of 10⁴ draws is within ~5% (its own relative s.e. ~ sqrt(2/n)·κ)
        assert_close(stats["variance"], expected, rtol=0.15)
    g = jnp.diag(h)
    stats = rnd.estimator_variance("stde", None, f, x, key=jax.random.key(4), samples=N_PROBES)
    assert_close(stats["variance"], D * jnp.sum(g**2) - jnp.sum(g) ** 2, rtol=0.15)


def test_exact_limits(setup):
    f, x, h, a = setup
    exact = jnp.sum(a * jnp.diag(h))
    # STDE with every coordinate drawn is the exact weighted Laplacian.
    value, aux = rnd.apply_stde(_terms(a), f, x, key=jax.random.key(0), samples=D)
    assert aux is None
    assert_close(value, exact, rtol=1e-12)
    # Rademacher probes are exact for a function with a diagonal Hessian.
    sep = lambda y: jnp.sum(jnp.sin(y) * jnp.arange(1.0, D + 1))  # noqa: E731
    val, _ = rnd.apply_hutchinson(None, sep, x, key=jax.random.key(0), samples=3)
    assert_close(val, -jnp.sum(jnp.sin(x) * jnp.arange(1.0, D + 1)), rtol=1e-12)


def test_modes_agree_and_aux_passes_through(setup):
    f, x, _, a = setup
    k = jax.random.key(7)
    fof, _ = rnd.apply_hutchinson(_terms(a), f, x, key=k, samples=8)
    for_, aux = rnd.apply_hutchinson(
        _terms(a),
        lambda y: (f(y), y[0]),
        x,
        key=k,
        samples=8,
        mode="forward-over-reverse",
        has_aux=True,
    )
    assert_close(fof, for_, rtol=1e-12)
    assert_close(aux, x[0])


def test_vector_valued_functions_estimate_each_component(setup):
    _, x, _, _ = setup
    g = lambda y: jnp.stack([jnp.sum(y**2), jnp.sum(y**3)])  # noqa: E731
    val, _ = rnd.apply_stde(None, g, x, key=jax.random.key(0), samples=D)
    assert_close(val, jnp.stack([2.0 * D, 6 * jnp.sum(x)]), rtol=1e-12)


def test_parameter_gradients_flow_through_the_estimator(setup):
    _, x, _, _ = setup
    # With a fixed key the estimate is a fixed linear functional of the Hessian: its gradient in
    # a scale parameter s of f_s = s·f equals the estimate for f.
    f = lambda y: jnp.sum(jnp.tanh(y) ** 2)  # noqa: E731
    k = jax.random.key(5)
    est = lambda s: rnd.apply_stde(None, lambda y: s * f(y), x, key=k, samples=3)[0]  # noqa: E731
    assert_close(jax.grad(est)(2.0), est(1.0), rtol=1e-12)


def test_bad_input_raises_naming_the_argument(setup):
    f, x, _, _ = setup
    mixed = {(1, 1, 0, 0, 0, 0): 1.0}
    with pytest.raises(ValueError, match="Laplacian-type"):
        rnd.apply_hutchinson(mixed, f, x, key=jax.random.key(0))
    with pytest.raises(ValueError, match="PRNG key"):
        rnd.apply_stde(None, f, x, key=None)
    with pytest.raises(ValueError, match="exceeds the dimension"):
        rnd.apply_stde(None, f, x, key=jax.random.key(0), samples=D + 1)
    with pytest.raises(ValueError, match="probe"):
        rnd.apply_hutchinson(None, f, x, key=jax.random.key(0), probe="sphere")
    with pytest.raises(ValueError, match="samples"):
        rnd.apply_hutchinson(None, f, x, key=jax.random.key(0), samples=0)


def test_cost_is_independent_of_the_dimension():
    f = lambda x: jnp.sum(jnp.sin(x))
    costs = [
        nx.explain(nx.laplacian, f, jnp.ones(d), method="stde", key=jax.random.key(0)).costs
        for d in (10, 10_000)
    ]
    assert costs[0] == costs[1] == {"stde": 18.0}
