"""check_gradients: closed-form gradients pass, wrong gradients are caught, bad input is named."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nestax._check import GradientCheckError, GradientCheckReport, check_gradients


def _loss(p):
    return jnp.sum(jnp.sin(p["w"]) ** 2) + p["b"] ** 3


PARAMS = {"w": jnp.array([0.3, -1.2, 2.0]), "b": jnp.array(1.5)}


def test_closed_form_gradient_passes():
    report = check_gradients(_loss, PARAMS)
    assert isinstance(report, GradientCheckReport)
    assert report.ok
    assert report.mode == "coordinates"
    assert report.n_checked == report.n_params == 4
    # Richardson-extrapolated central differences reach near round-off on this smooth loss.
    assert report.max_rel_error < 1e-9
    assert report.loss == pytest.approx(float(_loss(PARAMS)), rel=1e-14)
    # The AD side is jax.grad; make sure the FD side is right by the closed form 2 sin w cos w.
    w = np.asarray(PARAMS["w"])
    expected = {"['b']": 3 * 1.5**2, **{f"['w'][{i}]": np.sin(2 * w[i]) for i in range(3)}}
    assert report.worst_leaf in expected
    assert report.worst_fd == pytest.approx(expected[report.worst_leaf], rel=1e-9)
    assert "OK" in str(report) and "all 4 coordinates" in str(report)


def test_equinox_module_and_static_leaves():
    mlp = eqx.nn.MLP(3, 2, 6, 2, activation=jnp.tanh, key=jax.random.key(0))
    params = {"net": mlp, "steps": 3, "name": "static"}  # non-float leaves are held fixed
    x = jnp.array([0.1, -0.4, 0.8])

    def loss(p):
        return jnp.sum(p["net"](x) ** 2) * p["steps"]

    report = check_gradients(loss, params)
    n_float = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(mlp, eqx.is_inexact_array)))
    assert report.ok, str(report)
    assert report.n_params == n_float
    assert report.worst_leaf.startswith("['net'].layers[")


def test_float32_params_and_args_are_promoted():
    w32 = jnp.array([0.5, 1.0], jnp.float32)
    data = np.array([2.0, -1.0], np.float32)
    report = check_gradients(lambda w, d: jnp.sum(jnp.exp(w * d)), w32, args=(data,))
    assert report.ok and report.max_rel_error < 1e-9


def test_dict_of_terms_is_summed():
    terms = lambda p: {"a": jnp.sum(p**2), "b": jnp.sum(jnp.cos(p))}
    report = check_gradients(terms, jnp.array([0.2, 0.7]))
    assert report.ok
    assert report.loss == pytest.approx(0.04 + 0.49 + np.cos(0.2) + np.cos(0.7), rel=1e-14)


@jax.custom_vjp
def _sin_wrong(x):
    return jnp.sin(x)


def _sin_fwd(x):
    return jnp.sin(x), x


def _sin_bwd(x, g):
    return (g * jnp.cos(x) * (1 + 1e-4),)  # a deliberately wrong derivative: 1e-4 too large


_sin_wrong.defvjp(_sin_fwd, _sin_bwd)


def test_wrong_custom_vjp_is_caught():
    params = {"a": jnp.array([0.1, 0.2]), "b": jnp.array([0.3, 0.9, 1.4])}
    loss = lambda p: jnp.sum(p["a"] ** 2) + jnp.sum(_sin_wrong(p["b"]))
    report = check_gradients(loss, params)
    assert not report.ok
    assert report.max_rel_error == pytest.approx(1e-4, rel=1e-3)
    assert report.worst_leaf.startswith("['b']")
    assert "FAILED" in str(report)
    with pytest.raises(GradientCheckError, match="FAILED"):
        check_gradients(loss, params, raise_on_fail=True)
    # A looser tolerance accepts it; the report says which tolerance was used.
    assert check_gradients(loss, params, rtol=1e-3).ok


def test_random_directions():
    params = {"a": jnp.linspace(-1.0, 1.0, 30), "b": jnp.linspace(0.0, 2.0, 20)}
    good = lambda p: jnp.sum(jnp.sin(p["a"]) ** 2) + jnp.sum(jnp.sin(p["b"]) * p["b"])
    report = check_gradients(good, params, n_directions=6)
    assert report.ok and report.mode == "directions" and report.n_checked == 6
    # 1e-8, not 1e-9: a random direction's derivative can be much smaller than the loss.
    assert report.max_rel_error < 1e-8
    assert "6 random directions over 50 parameters" in str(report)
    bad = lambda p: jnp.sum(jnp.sin(p["a"]) ** 2) + jnp.sum(_sin_wrong(p["b"]) * p["b"])
    report = check_gradients(bad, params, n_directions=6)
    assert not report.ok and report.worst_leaf.startswith("['b']")
    # Fewer directions than leaves: each direction spans every parameter.
    assert not check_gradients(bad, params, n_directions=1).ok


def test_many_parameters_default_to_directions():
    w = jnp.linspace(-1.0, 1.0, 2001)
    report = check_gradients(lambda w: jnp.sum(jnp.tanh(w) ** 2), w)
    assert report.mode == "directions" and report.n_checked == 64 and report.ok


def test_zero_gradient_components():
    # d/dw2 = 0 exactly: the floor keeps it from dividing by zero.
    report = check_gradients(lambda w: w[0] ** 2 + 0.0 * w[1], jnp.array([1.0, 3.0]))
    assert report.ok and np.isfinite(report.max_rel_error)


def test_requires_x64():
    with jax.enable_x64(False):
        with pytest.raises(RuntimeError, match='jax.config.update\\("jax_enable_x64", True\\)'):
            check_gradients(lambda w: jnp.sum(w**2), jnp.ones(2))


def test_bad_input_is_named():
    w = jnp.ones(3)
    with pytest.raises(ValueError, match="`loss` must return a scalar"):
        check_gradients(lambda w: w**2, w)
    with pytest.raises(ValueError, match="float64"):
        check_gradients(lambda w: jnp.sum(w**2).astype(jnp.float32), w)
    with pytest.raises(ValueError, match="`eps`"):
        check_gradients(lambda w: jnp.sum(w**2), w, eps=2.0)
    with pytest.raises(ValueError, match="`n_directions`"):
        check_gradients(lambda w: jnp.sum(w**2), w, n_directions=0)
    with pytest.raises(ValueError, match="no inexact-array leaves"):
        check_gradients(lambda p: 1.0, {"n": 3})
    with pytest.raises(TypeError, match="`loss` must be callable"):
        check_gradients("loss", w)
    with pytest.raises(TypeError, match="`args` must be a tuple"):
        check_gradients(lambda w, d: jnp.sum(w * d), w, args=[w])
