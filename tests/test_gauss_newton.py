"""Residual-form losses and the Gauss–Newton stage.

References: ``numpy.linalg.lstsq`` (linear least squares), the damped normal equations built
by hand from ``jax.jacfwd`` of the whole stacked residual and solved with numpy, and the
closed-form PDE residuals of the examples — never the stage's own linear algebra.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import nestax as nx
from nestax import pinn
from nestax.examples import heat

from ._helpers import assert_close


def _one_step(loss, theta, **settings):
    result = nx.fit(loss, theta, nx.Stage("gauss-newton", 1, **settings), progress=False)
    return result.params


def _linear(n, p, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), rng.normal(size=n), rng.normal(size=p)


# ----------------------------------------------------------------------------- residual form
@pytest.fixture(scope="module")
def heat_problem():
    return heat.build(n_interior=48, seed=0)


@pytest.fixture(scope="module")
def small_net():
    return pinn.mlp(jax.random.key(1), 2, width=6, depth=2)


def test_problem_residuals_sum_to_the_scalar_loss(heat_problem, small_net):
    weights = {"initial": 2.5, "dirichlet": 0.3}
    res = heat_problem.residuals(weights)
    vectors = res.residuals(small_net, res.data)
    scalar = heat_problem.loss(weights)(small_net)
    assert set(vectors) == set(scalar) == {"residual", "initial", "dirichlet"}
    for name, r in vectors.items():
        assert r.shape == (heat_problem.points[name].shape[0],)
        assert_close(jnp.sum(r**2), scalar[name])
        assert_close(res(small_net)[name], scalar[name])
    # the interior vector entry by entry: sqrt(1/n) (u_t - κ u_xx), by nested jax.jacfwd
    u = heat_problem.trial(small_net)
    hess = jax.vmap(jax.jacfwd(jax.jacfwd(u)))(heat_problem.points["residual"])
    grad = jax.vmap(jax.jacfwd(u))(heat_problem.points["residual"])
    direct = (grad[:, 0] - heat.KAPPA * hess[:, 1, 1]) / np.sqrt(48)
    assert_close(vectors["residual"], direct, rtol=1e-9, atol=1e-12)


def test_vector_residuals_are_flattened_point_by_point(small_net):
    box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    two = lambda u, x: jnp.stack([nx.laplacian(u)(x), u(x) - x[0]])  # noqa: E731
    problem = pinn.Problem(two, box, n_interior=10)
    res = problem.residuals()
    r = res.residuals(small_net, res.data)["residual"]
    u = problem.trial(small_net)
    rows = jax.vmap(lambda x: two(u, x))(problem.points["residual"])  # (10, 2)
    assert_close(r, rows.reshape(-1) / np.sqrt(10))
    assert_close(jnp.sum(r**2), problem.loss()(small_net)["residual"])


def test_terms_that_are_not_vectors_are_refused():
    bad = nx.Residuals(lambda p: {"fit": jnp.reshape(p, (2, 2))})
    with pytest.raises(ValueError, match=r"term 'fit' must be a vector .*got shape \(2, 2\)"):
        nx.fit(bad, jnp.ones(4), nx.Stage("gauss-newton", 2), progress=False)
    scalar = nx.Residuals(lambda p: jnp.sum(p))
    with pytest.raises(ValueError, match=r"'the residual' must be a vector .*got shape \(\)"):
        scalar(jnp.ones(3))
    with pytest.raises(TypeError, match="argument `fn` must be a function"):
        nx.Residuals(3.0)


def test_gauss_newton_needs_a_residual_form():
    loss = lambda p: jnp.sum(p**2)  # noqa: E731
    stages = [nx.Stage("adam", 2), nx.Stage("gauss-newton", 2)]
    with pytest.raises(TypeError, match=r"stage 1 \('gauss-newton'\) needs a loss with a resid"):
        nx.fit(loss, jnp.ones(2), stages, progress=False)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"damping": -1.0}, "setting `damping` must be a number >= 0; got -1.0"),
        ({"damping": float("nan")}, "setting `damping` must be a number >= 0; got nan"),
        ({"increase": 0.5}, "setting `increase` must be a number > 1; got 0.5"),
        ({"decrease": 1.5}, "setting `decrease` must be a number in (0, 1); got 1.5"),
        ({"linesearch": -2}, "setting `linesearch` must be an integer >= 0; got -2"),
        ({"min_gain": 1.0}, "setting `min_gain` must be in [0, 1); got 1.0"),
        ({"space": "data"}, "setting `space` must be one of"),
        ({"solver": "cg", "space": "sample"}, "setting `space` must be 'parameter' or 'auto'"),
        ({"learning_rate": 0.1}, "setting `learning_rate` does not apply"),
    ],
)
def test_settings_out_of_range_name_the_setting(settings, message):
    with pytest.raises(ValueError, match=r"Stage\('gauss-newton'\)") as info:
        nx.Stage("gauss-newton", 3, **settings)
    assert message in str(info.value)
    with pytest.raises(TypeError, match=r"Stage\('gauss-newton'\): bad setting"):
        nx.Stage("gauss-newton", 3, dampnig=1.0)
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1"):
        nx.Stage("gauss-newton", 0)


# ----------------------------------------------------------------------------- linear algebra
@pytest.mark.parametrize("jacobian", ["fwd", "rev"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_linear_least_squares_in_one_step(jacobian, solver):
    A, b, theta0 = _linear(20, 5)
    loss = nx.Residuals(lambda t: jnp.asarray(A) @ t - jnp.asarray(b))
    step = _one_step(
        loss, jnp.asarray(theta0), damping=0.0, adaptive=False, space="parameter",
        solver=solver, jacobian=jacobian, cg_rtol=1e-13,
    )  # fmt: skip
    expected = np.linalg.lstsq(A, b, rcond=None)[0]
    # CG stops at a relative residual of 1e-13 on a system of condition ~10
    assert_close(step, expected, rtol=1e-9 if solver == "cg" else 1e-10)


@jax.custom_vjp
def _scaled(t):
    """2 t with a custom reverse rule and so no forward mode (as a checkpointed solve)."""
    return 2.0 * t


_scaled.defvjp(lambda t: (2.0 * t, None), lambda _, g: (2.0 * g,))


def test_auto_jacobian_falls_back_to_reverse_mode_without_a_forward_rule():
    # N = 20 > P = 5 would pick forward mode; the custom_vjp has none
    A, b, theta0 = _linear(20, 5)
    loss = nx.Residuals(lambda t: jnp.asarray(A) @ _scaled(t) - jnp.asarray(b))
    step = _one_step(loss, jnp.asarray(theta0), damping=0.0, adaptive=False, space="parameter")
    assert_close(2.0 * step, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-10)
    with pytest.raises(ValueError, match="setting `jacobian` is 'fwd'.*custom_vjp"):
        _one_step(loss, jnp.asarray(theta0), jacobian="fwd")


def test_underdetermined_woodbury_step_is_the_minimum_norm_correction():
    A, b, theta0 = _linear(4, 9, seed=1)  # N < P: J Jᵀ is invertible, Jᵀ J is not
    loss = nx.Residuals(lambda t: {"fit": jnp.asarray(A) @ t - jnp.asarray(b)})
    step = _one_step(loss, jnp.asarray(theta0), damping=0.0, adaptive=False, space="sample")
    correction = np.linalg.lstsq(A, b - A @ theta0, rcond=None)[0]  # the minimum-norm δ
    assert_close(step, theta0 + correction)
    assert_close(A @ np.asarray(step), b)


def _nonlinear(t):
    return {
        "a": jnp.stack([t[0] ** 2 + t[1] - 1.0, jnp.sin(t[1] * t[2]), t[0] * t[2] - 0.3]),
        "b": 0.5 * jnp.tanh(t) - 0.2,
    }


def _hand_built_step(fun, theta, lam):
    flat = lambda t: jnp.concatenate(list(fun(t).values()))  # noqa: E731
    J = np.asarray(jax.jacfwd(flat)(theta))
    r = np.asarray(flat(theta))
    return np.asarray(theta) - np.linalg.solve(J.T @ J + lam * np.eye(J.shape[1]), J.T @ r)


@pytest.mark.parametrize("space", ["parameter", "sample"])
def test_damped_step_is_the_hand_built_normal_equations(space):
    theta = jnp.array([0.7, -0.4, 1.3])
    lam = 0.37
    step = _one_step(nx.Residuals(_nonlinear), theta, damping=lam, adaptive=False, space=space)
    assert_close(step, _hand_built_step(_nonlinear, theta, lam))


def test_woodbury_parameter_space_and_cg_agree():
    theta = jnp.linspace(-1.0, 1.0, 3)
    loss = nx.Residuals(_nonlinear)
    steps = [
        _one_step(loss, theta, damping=1e-2, adaptive=False, space=space, solver=solver)
        for space, solver in (("parameter", "cholesky"), ("sample", "cholesky"), ("auto", "cg"))
    ]
    assert_close(steps[0], steps[1])
    assert_close(steps[0], steps[2], rtol=1e-7)  # CG to its default relative tolerance 1e-8


def test_pinn_step_uses_the_pointwise_jacobian_correctly(heat_problem, small_net):
    """The per-point jax.vmap(jax.jacrev) Jacobian against jax.jacfwd of the whole stacked
    residual, through one damped step of a PINN with a second derivative inside."""
    res = heat_problem.residuals({"initial": 2.0})
    dyn, static = eqx.partition(small_net, eqx.is_inexact_array)
    theta, unravel = ravel_pytree(dyn)

    def fun(t):
        out = res.residuals(eqx.combine(unravel(t), static), res.data)
        return {k: out[k] for k in heat_problem.terms}

    lam = 1e-3
    step = _one_step(res, small_net, damping=lam, adaptive=False)
    got = ravel_pytree(eqx.filter(step, eqx.is_inexact_array))[0]
    assert_close(got, _hand_built_step(fun, theta, lam), rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------- damping rule
def test_a_step_that_raises_the_loss_is_rejected_and_the_damping_grows():
    # r = atan θ at θ = 2: the Gauss-Newton step θ - r/J lands at -3.55, |atan| grows
    loss = nx.Residuals(lambda t: jnp.arctan(t))
    theta = jnp.array([2.0])
    one = _one_step(loss, theta, damping=1e-10)
    assert float(one[0]) == 2.0  # rejected: the parameters stay
    result = nx.fit(loss, theta, nx.Stage("gauss-newton", 40, damping=1e-10), progress=False)
    total = result.history["total"]
    assert np.all(np.diff(total) <= 0)  # only steps that reduce the loss are taken
    assert total[-1] < 1e-20 and abs(float(result.params[0])) < 1e-10


def test_line_search_picks_a_shorter_step():
    loss = nx.Residuals(lambda t: jnp.arctan(t))
    theta = jnp.array([2.0])
    step = _one_step(loss, theta, damping=0.0, adaptive=False, linesearch=6)
    full = 2.0 - float(np.arctan(2.0)) * (1 + 4.0)  # δ = -r / J, J = 1 / (1 + θ²)
    etas = 2.0 ** -np.arange(6)
    best = etas[np.argmin(np.abs(np.arctan(2.0 + etas * (full - 2.0))))]
    assert_close(step, [2.0 + best * (full - 2.0)])


def test_a_non_finite_step_stops_training_with_the_last_good_parameters():
    # step 0 moves t[0] to 0 exactly, where d|t|/dt is nan: step 1 is not finite
    loss = nx.Residuals(lambda t: jnp.stack([t[1] - 1.0, jnp.sqrt(t[0] ** 2)]))
    theta = jnp.array([0.5, 0.0])
    stage = nx.Stage("gauss-newton", 5, damping=0.0, adaptive=False, space="parameter")
    with pytest.raises(nx.NonFiniteLossError, match="Gauss–Newton step") as info:
        nx.fit(loss, theta, stage, progress=False)
    err = info.value
    assert err.of == "step" and err.step == 1 and err.stage_name == "gauss-newton"
    assert_close(err.params, theta)
    assert err.history["total"].shape == (1,)


def test_adam_then_gauss_newton_on_a_pinn(heat_problem, small_net):
    res = heat_problem.residuals()
    stages = [nx.Stage("adam", 5, learning_rate=1e-2), nx.Stage("gauss-newton", 15)]
    result = nx.fit(res, small_net, stages, progress=False)
    total = result.history["total"]
    assert result.stage_steps == (5, 15) and set(result.history) == {*heat_problem.terms, "total"}
    assert np.all(np.diff(total[5:]) <= 0) and total[-1] < 0.05 * total[5]


def test_interrupted_gauss_newton_resumes_to_the_uninterrupted_parameters(tmp_path):
    # the damping is part of the checkpointed state: a resumed run takes the same steps
    loss = nx.Residuals(_nonlinear)
    theta = jnp.array([0.7, -0.4, 1.3])
    stages = [nx.Stage("sgd", 3, learning_rate=1e-2), nx.Stage("gauss-newton", 9, damping=10.0)]
    ref = nx.fit(loss, theta, stages, progress=False)

    def callback(k, params, terms):
        if k == 7:
            raise KeyboardInterrupt

    kwargs = dict(checkpoint_dir=tmp_path, progress=False)
    first = nx.fit(loss, theta, stages, callback=callback, every=1, **kwargs)
    assert first.stopped == "interrupted" and first.steps == 8
    resumed = nx.fit(loss, theta, stages, resume=True, **kwargs)
    assert resumed.stopped == "completed" and resumed.steps == 12
    np.testing.assert_array_equal(resumed.params, ref.params)
    np.testing.assert_array_equal(resumed.history["total"], ref.history["total"])
