"""lotka-volterra's equation discovery (SINDy with pysindy), its residual form and the
discovered model's solve, against closed forms: functions whose polynomial terms are known
exactly are fed in place of the trained network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nestax.examples import lotka_volterra

from ._helpers import assert_close


@pytest.fixture(scope="module")
def states():
    """A cloud of 200 states in the box the trajectory visits, [0.5, 5] x [0.4, 3.5]."""
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(0.5, 5.0, 200), rng.uniform(0.4, 3.5, 200)], axis=1)


def test_discover_recovers_the_true_missing_term_exactly(states):
    found = lotka_volterra.discover(lotka_volterra.missing_term, states)
    # noise-free data in the span of the library: the refit on the support is exact to
    # round-off of a least-squares solve on the quadratic library
    assert found.equations == ("U1 = -0.9000 u1 u2", "U2 = 0.8000 u1 u2")
    assert_close(found.coefficient(0, "u1 u2"), -0.9, rtol=1e-9)
    assert_close(found.coefficient(1, "u1 u2"), 0.8, rtol=1e-9)
    j = found.features.index("u1 u2")
    assert np.all(np.delete(found.coefficients, j, axis=1) == 0.0)
    report = lotka_volterra.coefficient_report(found)
    assert report["discovered_terms_exact"] and report["discovered_max_other_coefficient"] == 0
    assert report["discovered_max_rel_coefficient_error"] < 1e-9


def test_discover_finds_several_cubic_terms_and_drops_small_ones(states):
    # U1 = 0.5 - 0.3 u2^3 + 1.5 u1^2 ; U2 = -2 u1 + 0.7 u1 u2^2, plus 1e-3 u2 (below the
    # threshold 0.1: STLSQ removes it, the refit absorbs the little it explained)
    def fn(u):
        return jnp.stack([0.5 - 0.3 * u[1] ** 3 + 1.5 * u[0] ** 2,
                          -2.0 * u[0] + 0.7 * u[0] * u[1] ** 2 + 1e-3 * u[1]])  # fmt: skip

    found = lotka_volterra.discover(fn, states, degree=3)
    support = [{found.features[i] for i in np.flatnonzero(found.coefficients[k])} for k in range(2)]
    assert support == [{"1", "u2^3", "u1^2"}, {"u1", "u1 u2^2"}]
    assert_close(found.coefficient(0, "u2^3"), -0.3, rtol=1e-9)
    assert_close(found.coefficient(0, "u1^2"), 1.5, rtol=1e-9)
    assert_close(found.coefficient(0, "1"), 0.5, rtol=1e-9)
    # the dropped 1e-3 u2 moves the others by at most ~1e-3 (u2 <= 3.5)
    assert_close(found.coefficient(1, "u1"), -2.0, atol=5e-3)
    assert_close(found.coefficient(1, "u1 u2^2"), 0.7, atol=5e-3)


def test_discovery_library_and_prediction_are_the_monomials(states):
    found = lotka_volterra.discover(lotka_volterra.missing_term, states, degree=2)
    u = jnp.asarray(states[3])
    u1, u2 = float(u[0]), float(u[1])
    expected = {"1": 1.0, "u1": u1, "u2": u2, "u1^2": u1**2, "u1 u2": u1 * u2, "u2^2": u2**2}
    assert found.features == tuple(expected)
    assert_close(found.library(u), list(expected.values()))
    assert_close(found(u), [-0.9 * u1 * u2, 0.8 * u1 * u2], rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(states=np.zeros((5, 3))), "argument `states` must have shape (n >= 2, 2)"),
        (dict(degree=0), "argument `degree` must be an integer >= 1"),
        (dict(threshold=-1.0), "argument `threshold` must be a finite number > 0"),
        (dict(threshold=float("nan")), "argument `threshold`"),
    ],
)
def test_discover_names_the_bad_argument(states, kwargs, message):
    args = {"states": states, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lotka_volterra.discover(lotka_volterra.missing_term, **args)


def test_discovered_model_with_the_true_terms_is_the_true_system(states):
    jax.config.update("jax_enable_x64", True)
    found = lotka_volterra.discover(lotka_volterra.missing_term, states)
    problem = lotka_volterra.build(seed=0, dtype=jnp.float64)
    ts = jnp.linspace(0.0, 10.0, 11)
    got = (
        lotka_volterra.discovered_ude(found)
        .solve(jnp.asarray(found.coefficients), problem.clean[0], ts, problem.p)
        .ys
    )
    # Tsit5 at 1e-10 against Dopri8 at 1e-12 over two periods
    assert_close(got, problem.true_trajectory(ts), rtol=1e-7, atol=1e-8)


def test_residuals_are_the_loss_terms_and_vanish_in_smoothness_for_the_true_term():
    jax.config.update("jax_enable_x64", True)
    problem = lotka_volterra.build(seed=0, dtype=jnp.float64, regularize=True)
    r = problem.residuals((lotka_volterra.missing_term, problem.clean[0]))
    # the true term is bilinear: every third derivative is 0 (exactly, in AD)
    assert r["smoothness"].shape == (2 * 4 * 21,) and float(jnp.max(jnp.abs(r["smoothness"]))) == 0
    # the noise alone: the true system from the true initial state vs the noisy data
    # (the UDE solves at rtol 1e-6: an error ~1e-6 against noise ~1e-2 moves the mean of
    # squares by ~2e-4 relatively)
    noise = jnp.mean((problem.clean - problem.data) ** 2)
    assert_close(jnp.sum(r["mse"] ** 2), noise, rtol=1e-3)
    # ∇U₁ of -0.9 u1 u2 at (x, 1) is (-0.9, -0.9 x): the seed's sum, weight 1
    x = problem.points[:, 0]
    assert_close(jnp.sum(r["derivative_penalty"] ** 2), jnp.sum(0.81 + 0.81 * x**2))
    net = problem.network
    r_net = problem.residuals((net, problem.data[0]))
    terms = problem.loss_terms(net)
    assert_close(jnp.sum(r_net["mse"] ** 2), terms["mse"])
    assert_close(jnp.sum(r_net["derivative_penalty"] ** 2), terms["derivative_penalty"])
