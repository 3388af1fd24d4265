"""The three seed problems: their mathematics, their gradients (finite differences, forward
mode) and a short training run each. References are independent of nestax's operators."""

import json
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import nestax as nx
import nestax.examples as examples_package
from nestax.examples import EXAMPLES, Entry, Registry, seed_batchnorm, seed_cos, seed_ude

from ._helpers import assert_close


def _arrays(tree):
    return jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(eqx.filter(tree, eqx.is_array))])


def test_registry_lists_the_seeds():
    assert {"seed-batchnorm", "seed-cos", "seed-ude"} <= set(EXAMPLES)
    for example in EXAMPLES.values():
        module = example.load()
        assert callable(module.run) and module.DEFAULT_ITERS >= 1
        # what was read from the source without importing is what the module says
        assert (module.NAME, module.SUMMARY) == (example.name, example.summary)


def test_every_example_file_is_found():
    """Each public module that has a ``run`` is registered: an example is its file alone."""
    directory = pathlib.Path(examples_package.__file__).parent
    with_run = {
        path.stem
        for path in directory.glob("[!_]*.py")
        if "\ndef run(" in path.read_text(encoding="utf-8")
    }
    assert with_run == {e.module.rsplit(".", 1)[1] for e in EXAMPLES.values()}


def test_discover_registers_a_new_file_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "my_examples"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_helper.py").write_text('NAME = "hidden"\nSUMMARY = "private: skipped"\n')
    (package / "notes.py").write_text('NAME = "no-summary"\n')  # not an example: skipped
    (package / "wave.py").write_text(
        'raise RuntimeError("imported")\nNAME: str = "wave"\n'
        'SUMMARY = ("u_tt = c² u_xx "\n    "on a string")\n'
    )
    (package / "seed_x.py").write_text('NAME = "seed-x"\nSUMMARY = "a seed"\n')
    registry = Registry("example")
    registry.discover("my_examples", package)
    assert list(registry) == ["seed-x", "wave"]  # seeds first, then by name
    assert registry["wave"] == Entry("wave", "my_examples.wave", "u_tt = c² u_xx on a string")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="imported"):  # the module runs only on load
        registry["wave"].load()


# ----------------------------------------------------------------------------- seed-cos
@pytest.fixture(scope="module")
def cos():
    return seed_cos.build(seed=0)


def test_cos_prediction_is_the_derivative_of_the_squared_network(cos):
    # ŷ(t) = d/dt N(t)², by central differences of N(t)² (step 1e-5: error ~1e-10).
    sq = jax.vmap(lambda s: cos.model(s) ** 2)
    h = 1e-5
    fd = (sq(cos.t + h) - sq(cos.t - h)) / (2 * h)
    assert_close(seed_cos.predict(cos.model, cos.t), fd, rtol=1e-8, atol=1e-9)


def test_cos_gradient_matches_finite_differences(cos):
    report = nx.check_gradients(lambda p: seed_cos.loss(p[0], p[1]), (cos.model, cos.t))
    assert report.ok and report.max_rel_error <= 1e-6, str(report)
    assert report.n_checked == 349 + 16  # every weight and every t


def test_cos_gradient_matches_forward_mode_only(cos):
    """The weight gradient, computed with forward mode only: jax.jvp for d/dt inside, and
    jax.jacfwd (one tangent per weight) outside."""
    params, static = eqx.partition(cos.model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)

    def loss_forward(theta):
        model = eqx.combine(unravel(theta), static)
        dsq = lambda s: jax.jvp(lambda u: model(u) ** 2, (s,), (jnp.ones_like(s),))[1]
        return jnp.sum((jax.vmap(dsq)(cos.t) - jnp.cos(cos.t)) ** 2)

    reference = jax.jit(jax.jacfwd(loss_forward))(flat)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: seed_cos.loss(m, cos.t)))(cos.model)
    assert_close(ravel_pytree(eqx.filter(grads, eqx.is_array))[0], reference)


def test_cos_training_reduces_the_loss(cos):
    result = nx.fit(
        lambda m: seed_cos.loss(m, cos.t),
        cos.model,
        stages=[nx.Stage("adam", steps=30, learning_rate=1e-2)],
        progress=False,
    )
    total = result.history["total"]
    assert total.shape == (30,) and total[-1] < 0.5 * total[0]


# ----------------------------------------------------------------------------- seed-batchnorm
@pytest.fixture(scope="module")
def bn():
    return seed_batchnorm.build(seed=0)


def _bn_by_hand(model, x):
    """Dense → tanh → BatchNorm with the batch's mean and biased variance → Dense, in numpy."""
    d1, norm, d2 = model.dense1, model.norm, model.dense2
    h = np.tanh(np.asarray(x) @ np.asarray(d1.weight).T + np.asarray(d1.bias))
    mu, var = h.mean(axis=0), h.var(axis=0)
    z = (h - mu) / np.sqrt(var + norm.eps) * np.asarray(norm.weight) + np.asarray(norm.bias)
    return z @ np.asarray(d2.weight).T + np.asarray(d2.bias)


def test_bn_model_is_batch_coupled_batchnorm(bn):
    y_hat, state = seed_batchnorm.apply(bn.model, bn.state, bn.x)
    assert y_hat.shape == (10, 2)
    assert_close(y_hat, _bn_by_hand(bn.model, bn.x))
    # Changing one sample changes every other sample's output (batch statistics).
    moved, _ = seed_batchnorm.apply(bn.model, bn.state, bn.x.at[0, 0].add(0.5))
    assert np.all(np.abs(np.asarray(moved - y_hat))[1:] > 0)


def test_bn_full_jacobian_matches_finite_differences(bn):
    jac, new_state = seed_batchnorm.input_jacobian(bn.model, bn.state, bn.x)
    assert jac.shape == (10, 2, 10, 2)
    # The aux output is the updated BatchNorm state (running statistics moved).
    _, expected_state = seed_batchnorm.apply(bn.model, bn.state, bn.x)
    for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(expected_state), strict=True):
        assert_close(a, b)
    h = 1e-6
    fd = np.zeros((10, 2, 10, 2))
    for c in range(10):
        for j in range(2):
            e = np.zeros((10, 2))
            e[c, j] = h
            fd[:, :, c, j] = (_bn_by_hand(bn.model, bn.x + e) - _bn_by_hand(bn.model, bn.x - e)) / (
                2 * h
            )
    # Central differences with h = 1e-6: truncation ~1e-12, round-off ~1e-10.
    assert_close(jac, fd, rtol=1e-7, atol=1e-8)
    off_diagonal = np.asarray(jac)[0, :, 1, :]
    assert np.max(np.abs(off_diagonal)) > 1e-3  # BatchNorm couples the samples


def test_bn_gradient_in_weights_and_inputs_matches_finite_differences(bn):
    report = nx.check_gradients(
        lambda mx: seed_batchnorm.loss(mx[0], mx[1], bn.state, bn.y), (bn.model, bn.x)
    )
    assert report.ok and report.max_rel_error <= 1e-6, str(report)
    assert report.n_checked == 30 + 20  # 30 weights and the 10 × 2 inputs


def test_bn_training_reduces_the_loss(bn):
    result = nx.fit(
        lambda m: seed_batchnorm.loss_terms(m, bn.x, bn.state, bn.y),
        bn.model,
        stages=[nx.Stage("adam", steps=30, learning_rate=1e-2)],
        progress=False,
    )
    assert set(result.history) == {"data", "jacobian", "total"}
    assert result.history["total"][-1] < result.history["total"][0]


# ----------------------------------------------------------------------------- seed-ude
@pytest.fixture(scope="module")
def ude():
    return seed_ude.build(seed=0)


def _rk4(u0, t_end, n):
    """Classical RK4 in numpy: an independent reference for the Lotka–Volterra data."""
    a, b, c, d = seed_ude.P_TRUE
    f = lambda u: np.array([a * u[0] - b * u[0] * u[1], c * u[0] * u[1] - d * u[1]])
    u, h, out = np.asarray(u0, float), t_end / n, [np.asarray(u0, float)]
    for _ in range(n):
        k1 = f(u)
        k2 = f(u + h / 2 * k1)
        k3 = f(u + h / 2 * k2)
        k4 = f(u + h * k3)
        u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(u)
    return np.array(out)


def test_ude_data(ude):
    assert ude.ts.shape == (21,) and ude.data.shape == ude.clean.shape == (21, 2)
    assert_close(ude.ts, np.arange(21) * 0.25)
    u0 = np.asarray(ude.clean[0])
    assert np.all((u0 >= 0) & (u0 < 5))
    # RK4 with h = 1/4000: global error ~ h⁴ · 5 ≈ 1e-13 (relative to states of size ~5).
    reference = _rk4(u0, 5.0, 20_000)[::1000]
    assert_close(ude.clean, reference, rtol=1e-9, atol=1e-9)
    scaled_noise = (ude.data - ude.clean) / jnp.mean(ude.clean, axis=0, keepdims=True)
    assert 2e-3 < float(jnp.std(scaled_noise)) < 1e-2  # 5e-3 × the per-state mean


def test_ude_penalty_uses_the_input_gradient(ude):
    # Reference: nested jax.jacfwd (forward mode, not nestax) at every grid point.
    ref = jax.jit(jax.vmap(jax.jacfwd(lambda z: ude.model(z)[0])))(ude.points)
    assert ude.points.shape == (101, 2)
    assert_close(ude.points[:, 0], np.linspace(0.0, 10.0, 101))
    penalty = eqx.filter_jit(seed_ude.regularization)(ude.model, ude.points)
    assert_close(penalty, jnp.sum(ref**2))


def test_ude_gradient_matches_finite_differences(ude):
    report = seed_ude.check_gradient(ude)
    assert report.ok and report.max_rel_error <= 1e-6, str(report)
    assert report.n_checked == 87


def test_ude_adaptive_gradient_is_the_fixed_step_gradient(ude):
    """diffrax holds the step sizes fixed under differentiation, so the training gradient (the
    adaptive solve) equals the gradient of the loss with the accepted steps frozen, which is
    the function the finite-difference check above uses."""
    steps = seed_ude.accepted_steps(ude.model, ude.data[0], ude.ts)
    assert float(steps[0]) == 0.0 and float(steps[-1]) == 5.0
    loss = eqx.filter_jit(ude.loss)
    assert_close(loss(ude.model, steps), loss(ude.model), rtol=1e-13)
    adaptive = eqx.filter_jit(eqx.filter_grad(ude.loss))(ude.model)
    frozen = eqx.filter_jit(eqx.filter_grad(lambda m: ude.loss(m, steps)))(ude.model)
    assert_close(_arrays(adaptive), _arrays(frozen), rtol=1e-12, atol=0.0)


def test_ude_500_adam_steps_reduce_the_loss(ude):
    result = nx.fit(
        ude.loss_terms,
        ude.model,
        stages=[nx.Stage("adam", steps=500, learning_rate=seed_ude.LEARNING_RATE)],
        progress=False,
    )
    total = result.history["total"]
    assert total.shape == (500,) and np.all(np.isfinite(total))
    assert total[-1] < 1e-3 * total[0]
    assert set(result.history) == {"mse", "gradient_penalty", "total"}


def test_ude_window_loss_solves_each_window_from_its_first_observation(ude):
    terms = eqx.filter_jit(ude.window_loss_terms)(ude.model)
    w = seed_ude.WINDOW
    errors = []
    for k in range(ude.data.shape[0] - w + 1):  # one solve per window, by hand
        pred = seed_ude.predict(ude.model, ude.data[k], ude.ts[k : k + w] - ude.ts[k])
        errors.append((pred - ude.data[k : k + w]) ** 2)
    assert_close(terms["window_mse"], jnp.mean(jnp.stack(errors)), rtol=1e-10)
    assert_close(terms["gradient_penalty"], seed_ude.regularization(ude.model, ude.points))


def test_ude_run_writes_metrics_and_plots(tmp_path, monkeypatch):
    def adam_only(iters):  # the same warm-up, Adam instead of L-BFGS (compiles faster)
        warm, main = original(iters)
        return warm, [nx.Stage("adam", main[0].steps, learning_rate=1e-3)]

    original = seed_ude.stages
    monkeypatch.setattr(seed_ude, "stages", adam_only)
    metrics = seed_ude.run(iters=3, out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["iterations"] == 3 and saved["stages"] == [["warm-up adam", 1], ["adam", 2]]
    assert saved["data_rel_l2"] == metrics["data_rel_l2"] > 0
    assert set(saved["final_terms"]) == {"mse", "gradient_penalty", "total"}
    assert saved["gradient_check_ok"]
    assert {p.name for p in tmp_path.glob("*.png")} == {"fit.png", "loss.png"}
