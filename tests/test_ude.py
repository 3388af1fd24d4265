"""nestax.ude: hybrid ODE solves against closed forms, gradients through the solver against
closed forms and finite differences, solver failures, the physics regularizers against nested
``jax.jacfwd`` references, Hamiltonian flows against their closed form, and the two examples.
"""

import json

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nestax as nx
from nestax.examples import hamiltonian as hamiltonian_example
from nestax.examples import lotka_volterra
from nestax.ude import (
    ADJOINTS,
    UDE,
    SolverError,
    check_solution,
    conservation_penalty,
    derivative_penalty,
    divergence_penalty,
    hamiltonian_ude,
    monotonicity_penalty,
    sign_penalty,
    smoothness_penalty,
    symplectic_gradient,
)

from ._helpers import ACTIVATIONS, assert_close, init_mlp, mlp

TIGHT = dict(rtol=1e-11, atol=1e-11, max_steps=100_000)


def _decay(t, u, k, args):
    """u' = -k (1 + t) u: u(t) = u(t0) exp(-k (t - t0 + (t² - t0²) / 2))."""
    return -k * (1.0 + t) * u


def _decay_closed_form(u0, ts, k):
    return jnp.exp(-k * (ts - ts[0] + (ts**2 - ts[0] ** 2) / 2))[:, None] * u0[None, :]


@pytest.fixture(scope="module")
def lv():
    return lotka_volterra.build(seed=0, regularize=True)


# ----------------------------------------------------------------------------- solving
def test_zero_network_reproduces_the_known_physics(lv):
    # the example's hybrid model with its network's last layer zeroed: u₁' = α u₁, u₂' = −δ u₂
    last = lv.network.layers[-1]
    zero = eqx.tree_at(lambda n: (n.layers[-1].weight, n.layers[-1].bias), lv.network,
                       (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))  # fmt: skip
    ude = lotka_volterra.make_ude(**TIGHT)
    u0, ts = jnp.array([2.0, 1.0]), jnp.linspace(0.0, 2.0, 9)
    sol = ude.solve(zero, u0, ts, lv.p)
    expected = jnp.stack([2.0 * jnp.exp(1.3 * ts), jnp.exp(-1.8 * ts)], axis=1)
    # tolerance 1e-11 per step over ~100 steps: 1e-8 bounds the global error
    assert_close(sol.ys, expected, rtol=1e-8, atol=1e-10)
    assert sol.result == diffrax.RESULTS.successful


def test_solver_and_step_size_are_passed_through():
    # explicit Euler with a fixed step h on u' = -k u: u_n = (1 - k h)^n u_0, exactly
    ude = UDE(lambda t, u, k, args: -k * u, solver=diffrax.Euler(),
              stepsize_controller=diffrax.ConstantStepSize(), dt0=0.1)  # fmt: skip
    ys = ude.solve(2.0, jnp.array([1.0, 3.0]), jnp.linspace(0.0, 1.0, 6)).ys
    expected = (0.8 ** jnp.arange(0, 11, 2))[:, None] * jnp.array([1.0, 3.0])[None, :]
    assert_close(ys, expected, rtol=1e-12)


def test_solve_many_against_the_closed_form():
    ude = UDE(_decay, rtol=1e-10, atol=1e-10)
    u0s = jnp.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    ts = jnp.linspace(0.0, 1.0, 5)
    shared = ude.solve_many(0.7, u0s, ts).ys
    assert shared.shape == (3, 5, 2)
    tss = jnp.stack([ts, 2 * ts, ts + 1.0])  # one row of save times per trajectory
    rows = ude.solve_many(0.7, u0s, tss).ys
    for i in range(3):
        # tolerance 1e-10 per step: 1e-8 bounds the global error
        assert_close(shared[i], _decay_closed_form(u0s[i], ts, 0.7), rtol=1e-8, atol=1e-10)
        assert_close(rows[i], _decay_closed_form(u0s[i], tss[i], 0.7), rtol=1e-8, atol=1e-10)


def test_gradient_through_the_solve_matches_the_closed_form():
    # Σ u(T) = Σ u0 e^{-k c}, c = T + T²/2: d/dk = -c Σ u0 e^{-k c}
    u0, ts = jnp.array([1.0, 2.0]), jnp.array([0.0, 1.5])
    c = 1.5 + 1.5**2 / 2
    expected = -c * u0 * jnp.exp(-0.8 * c)
    # the gradient of the discrete solve differs from the exact one by about the tolerance
    for adjoint in ("checkpoint", "backsolve"):
        ude = UDE(_decay, adjoint=adjoint, rtol=1e-10, atol=1e-10)
        g = jax.grad(lambda k, ude=ude: jnp.sum(ude.solve(k, u0, ts).ys[-1]))(0.8)
        assert_close(g, jnp.sum(expected), rtol=1e-6, err_msg=adjoint)
    forward = UDE(_decay, adjoint="forward", rtol=1e-10, atol=1e-10)
    assert_close(jax.jacfwd(lambda k: forward.solve(k, u0, ts).ys[-1])(0.8), expected, rtol=1e-6)


def test_fixed_steps_reproduce_the_adaptive_solve_and_its_gradient(lv):
    steps = lv.ude.accepted_steps(lv.network, lv.data[0], lv.ts, lv.p)
    fixed = lv.ude.with_steps(steps)
    assert_close(lv.predict(lv.network, ude=fixed), lv.predict(lv.network), rtol=1e-12)
    grad = lambda ude: eqx.filter_grad(lambda m: lv.loss_terms(m, ude)["mse"])(lv.network)
    for a, b in zip(jax.tree.leaves(grad(fixed)), jax.tree.leaves(grad(lv.ude)), strict=True):
        assert_close(a, b, rtol=1e-9, atol=1e-12)
    # (test_lotka_volterra_run_... checks this gradient, with the penalty, against finite
    # differences through `Problem.check_gradient`, which uses these fixed steps)


# ----------------------------------------------------------------------------- failures
def _blow_up(t, u, k, args):
    return k * u**2  # u0 / (1 - k u0 t): blows up at t = 1 / (k u0)


def test_max_steps_raises_a_readable_error():
    ts = jnp.linspace(0.0, 10.0, 5)
    ude = UDE(_decay, max_steps=3)
    with pytest.raises(Exception, match=r"max_steps=3.*Increase `max_steps`"):
        jax.block_until_ready(ude.solve(1.0, jnp.ones(2), ts).ys)
    # the error survives differentiation, where the solution's values themselves are unused
    # (diffrax's own throw=True gives a silent zero gradient under jit(grad(...)))
    loss = jax.jit(jax.grad(lambda k: jnp.sum(ude.solve(k, jnp.ones(2), ts).ys)))
    with pytest.raises(Exception, match="maximum number of solver steps"):
        jax.block_until_ready(loss(1.0))
    forward = UDE(_decay, max_steps=3, adjoint="forward")
    tangent = jax.jit(jax.jacfwd(lambda k: forward.solve(k, jnp.ones(2), ts).ys))
    with pytest.raises(Exception, match="maximum number of solver steps"):
        jax.block_until_ready(tangent(1.0))


def test_flagged_failure_names_the_failed_trajectories():
    ude = UDE(_blow_up, max_steps=200, on_failure="flag")
    u0s = jnp.array([[0.1], [2.0], [0.2]])  # the second blows up at t = 0.5 < 1
    sol = ude.solve_many(1.0, u0s, jnp.linspace(0.0, 1.0, 4))
    codes = np.asarray(sol.result._value)
    assert codes[0] == codes[2] == 0 and codes[1] != 0
    assert np.all(np.isfinite(sol.ys[0])) and not np.all(np.isfinite(sol.ys[1]))
    with pytest.raises(SolverError, match=r"1 of 3 trajectories failed \(indices \[1\]\)"):
        check_solution(sol)
    assert check_solution(ude.solve_many(1.0, u0s[::2], jnp.linspace(0.0, 1.0, 4)))


def test_bad_arguments_name_the_argument():
    f = lambda t, u, k, args: -k * u
    for name, adjoint in ADJOINTS.items():
        assert type(UDE(f, adjoint=name).adjoint) is adjoint
    with pytest.raises(ValueError, match="adjoint='bogus'"):
        UDE(f, adjoint="bogus")
    with pytest.raises(ValueError, match="`on_failure`"):
        UDE(f, on_failure="ignore")
    with pytest.raises(ValueError, match="`max_steps` must be >= 1"):
        UDE(f, max_steps=0)
    with pytest.raises(ValueError, match=r"`ts` must .* shape \(T,\); got shape \(2, 2\)"):
        UDE(f).solve(1.0, jnp.ones(2), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="one row per initial state"):
        UDE(f).solve_many(1.0, jnp.ones((3, 2)), jnp.ones((2, 4)))


# ----------------------------------------------------------------------------- regularizers
@pytest.fixture(scope="module")
def net():
    params = init_mlp(jax.random.key(3), [3, 6, 6, 3])
    rbf = ACTIVATIONS["rbf"]
    return params, lambda x, p=params: mlp(p, x, rbf)


@pytest.fixture(scope="module")
def points():
    return jax.random.normal(jax.random.key(4), (7, 3), jnp.float64)


def test_derivative_penalty_is_the_seed_term(net, points):
    _, f = net
    jac = jax.vmap(jax.jacfwd(f))(points)  # (7, 3, 3)
    assert_close(derivative_penalty(f, points), jnp.sum(jac**2))
    assert_close(derivative_penalty(f, points, output=0), jnp.sum(jac[:, 0] ** 2))
    ref = jnp.mean(jnp.sum(jac[:, 1][:, [0, 2]] ** 2, axis=1))
    assert_close(derivative_penalty(f, points, output=1, inputs=[0, 2], reduction="mean"), ref)


def test_derivative_penalty_weight_gradient_matches_the_jacfwd_reference(net, points):
    params, _ = net
    rbf = ACTIVATIONS["rbf"]
    ours = jax.grad(lambda p: derivative_penalty(lambda x: mlp(p, x, rbf), points, output=0))
    ref = jax.grad(
        lambda p: jnp.sum(jax.vmap(jax.jacfwd(lambda x: mlp(p, x, rbf)[0]))(points) ** 2)
    )
    for a, b in zip(jax.tree.leaves(ours(params)), jax.tree.leaves(ref(params)), strict=True):
        assert_close(a, b)
    report = nx.check_gradients(
        lambda p: derivative_penalty(lambda x: mlp(p, x, rbf), points, output=0), params
    )
    assert report.ok, str(report)


def test_sign_and_monotonicity_penalties(net, points):
    _, f = net
    d1 = jax.vmap(jax.jacfwd(f))(points)[:, 2, 1]  # ∂f₂/∂x₁
    assert_close(sign_penalty(f, points, (0, 1, 0), output=2), jnp.sum(jnp.minimum(d1, 0) ** 2))
    assert_close(
        monotonicity_penalty(f, points, 1, increasing=False, output=2),
        jnp.sum(jnp.maximum(d1, 0) ** 2),
    )
    # a second-order multi-index: ∂²f₀/∂x₀∂x₂ ≤ 0
    mixed = jax.vmap(jax.jacfwd(jax.jacfwd(lambda x: f(x)[0])))(points)[:, 0, 2]
    assert_close(
        sign_penalty(f, points, (1, 0, 1), sign=-1, output=0), jnp.sum(jnp.maximum(mixed, 0) ** 2)
    )
    assert float(monotonicity_penalty(lambda x: jnp.sum(x**3), points, 0)) == 0.0


def test_smoothness_penalty_is_the_hessian_norm(net, points):
    _, f = net
    hess = jax.vmap(jax.jacfwd(jax.jacfwd(f)))(points)  # (7, 3, 3, 3)
    assert_close(smoothness_penalty(f, points), jnp.sum(hess**2))
    assert_close(smoothness_penalty(f, points, output=1, reduction="mean"),
                 jnp.mean(jnp.sum(hess[:, 1] ** 2, axis=(1, 2))))  # fmt: skip


def test_divergence_and_conservation_penalties(net, points):
    _, f = net
    div = jnp.trace(jax.vmap(jax.jacfwd(f))(points), axis1=1, axis2=2)
    assert_close(divergence_penalty(f, points), jnp.sum(div**2))
    energy = lambda u: jnp.sum(u**2) + jnp.sin(u[0])
    rate = jax.vmap(lambda u: jax.jacfwd(energy)(u) @ f(u))(points)
    assert_close(conservation_penalty(energy, f, points), jnp.sum(rate**2))
    # a rotation conserves |u|² and is divergence-free
    rot = lambda u: jnp.stack([u[1], -u[0], 0.0 * u[2]])
    assert float(conservation_penalty(lambda u: jnp.sum(u**2), rot, points)) < 1e-28
    assert float(divergence_penalty(rot, points)) == 0.0


def test_regularizer_errors_name_the_argument(net):
    _, f = net
    with pytest.raises(ValueError, match=r"`points` must be floats of shape \(N, d\)"):
        derivative_penalty(f, jnp.ones(3))
    with pytest.raises(ValueError, match="`alpha` must have one order per input coordinate, 3"):
        sign_penalty(f, jnp.ones((2, 3)), (1, 0), output=0)
    with pytest.raises(ValueError, match="`sign` must be"):
        sign_penalty(f, jnp.ones((2, 3)), (1, 0, 0), sign=0, output=0)
    with pytest.raises(ValueError, match=r"`inputs` must hold input coordinates in \[0, 3\)"):
        derivative_penalty(f, jnp.ones((2, 3)), inputs=[3])
    with pytest.raises(ValueError, match="`reduction`"):
        derivative_penalty(f, jnp.ones((2, 3)), reduction="max")
    with pytest.raises(ValueError, match=r"returns shape \(\)"):
        divergence_penalty(lambda x: x[0], jnp.ones((2, 3)))


# ----------------------------------------------------------------------------- Hamiltonian
def test_symplectic_gradient_closed_forms():
    u = jnp.array([0.7, -1.3])
    oscillator = lambda u: 0.5 * u[1] ** 2 + 0.5 * u[0] ** 2
    assert_close(symplectic_gradient(oscillator)(u), jnp.array([-1.3, -0.7]))  # (p, -q)
    # two degrees of freedom, coupled: H = p₁²/2 + p₂²/2 + q₁² q₂
    H = lambda u: 0.5 * (u[2] ** 2 + u[3] ** 2) + u[0] ** 2 * u[1]
    u4 = jnp.array([0.5, -2.0, 1.5, 0.25])
    expected = jnp.array([1.5, 0.25, -2 * 0.5 * -2.0, -(0.5**2)])
    assert_close(symplectic_gradient(H)(u4), expected)
    with pytest.raises(ValueError, match=r"\(q, p\) of shape \(2n,\); got shape \(3,\)"):
        symplectic_gradient(H)(jnp.ones(3))


def test_hamiltonian_flow_of_the_oscillator_and_energy_conservation():
    ude = hamiltonian_ude(**TIGHT)
    H = lambda u: 0.5 * u[1] ** 2 + 0.5 * u[0] ** 2
    u0, ts = jnp.array([1.0, 0.5]), jnp.linspace(0.0, 6.0, 25)
    ys = ude.solve(H, u0, ts).ys
    q = u0[0] * jnp.cos(ts) + u0[1] * jnp.sin(ts)
    p = -u0[0] * jnp.sin(ts) + u0[1] * jnp.cos(ts)
    assert_close(ys, jnp.stack([q, p], axis=1), rtol=1e-8, atol=1e-9)
    # a random network H conserves itself along its own flow, to the solver's tolerance
    params = init_mlp(jax.random.key(5), [2, 8, 1])
    Hn = lambda u: mlp(params, u, jnp.tanh)[0]
    h = jax.vmap(Hn)(ude.solve(Hn, u0, ts).ys)
    assert float(jnp.max(jnp.abs(h - h[0]))) < 1e-8


def test_hamiltonian_data_follow_the_pendulum():
    p = hamiltonian_example.build(seed=0)
    e = jax.vmap(jax.vmap(hamiltonian_example.true_energy))(p.windows)
    # noise 1e-3 on (q, p) moves the energy by ~1e-3 · |∇E| ≲ 3e-3 (6 σ)
    assert float(jnp.max(jnp.abs(e - e[:, :1]))) < 1e-2
    assert float(jnp.max(e)) < 2.0  # below the separatrix


# ----------------------------------------------------------------------------- examples
def _adam_only(module, monkeypatch):
    """Replace the examples' L-BFGS stages by Adam: compiling the line search's loop takes
    longer than the rest of a short run, and fit's tests cover L-BFGS."""
    from nestax._fit import Stage

    original = module.stages

    def stages(iters):
        out = original(iters)
        if isinstance(out, tuple):  # lotka-volterra: (warm-up, main, refine)
            main = [Stage("adam", sum(s.steps for s in out[1]), learning_rate=1e-3)]
            return (out[0], main, *out[2:])
        return [Stage("adam", iters, learning_rate=1e-3)]

    monkeypatch.setattr(module, "stages", stages)


def test_lotka_volterra_run_writes_metrics_and_plots(tmp_path, monkeypatch):
    _adam_only(lotka_volterra, monkeypatch)
    metrics = lotka_volterra.run(iters=4, out_dir=tmp_path, progress=False, regularize=True)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["missing_term_rel_l2"] == metrics["missing_term_rel_l2"] > 0
    assert saved["iterations"] == 4 and set(saved["final_terms"]) == {
        "mse", "derivative_penalty", "total"
    }  # fmt: skip
    # the regularised loss's gradient (fixed solver steps) against finite differences
    assert saved["gradient_check_ok"] and saved["gradient_check_max_rel_error"] < 1e-6
    assert saved["gradient_check_mode"] == "coordinates" and saved["gradient_check_n_checked"] == 87
    assert set(saved["final_refined_terms"]) == {
        "mse", "smoothness", "derivative_penalty", "total"
    }  # fmt: skip
    assert len(saved["discovered_equations"]) == 2
    assert np.isfinite(saved["discovered_max_rel_coefficient_error"])
    assert "extrapolation_rel_l2" in saved
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "fit.png", "loss.png", "missing_term.png", "extrapolation.png"
    }  # fmt: skip


def test_hamiltonian_run_writes_metrics_and_plots(tmp_path, monkeypatch):
    _adam_only(hamiltonian_example, monkeypatch)
    metrics = hamiltonian_example.run(iters=2, out_dir=tmp_path, progress=False)
    assert metrics["iterations"] == 2 and np.isfinite(metrics["energy_drift_rel"])
    # the gradient through the solver and through ∇H_θ, against finite differences
    assert metrics["gradient_check_ok"] and metrics["gradient_check_max_rel_error"] < 1e-6
    assert {p.name for p in tmp_path.glob("*.png")} == {"energy.png", "loss.png", "phase.png"}


# ------------------------------------------------------------------------- failing solves in fit
def _growing(on_failure):
    """u' = p u from u(0) = 1 on [0, 1]; the loss -log u(1) = -p pushes p up by 1 per sgd step
    until 20 solver steps no longer reach t = 1 at rtol 1e-8."""
    ude = UDE(lambda t, u, p, a: p[0] * u, max_steps=20, rtol=1e-8, atol=1e-8,
              on_failure=on_failure)  # fmt: skip
    ts = jnp.linspace(0.0, 1.0, 3)
    return lambda p: {"data": -jnp.log(ude.solve(p, jnp.ones(1), ts).ys[-1, 0])}


def test_solver_failure_in_fit_stops_with_step_params_and_checkpoint(tmp_path):
    from nestax._fit import _checkpoint

    stage = nx.Stage("sgd", 40, learning_rate=1.0)
    # reference: the same run with failures flagged (inf values) stops through the nan guard
    with pytest.raises(nx.NonFiniteLossError) as flagged:
        nx.fit(_growing("flag"), jnp.array([0.5]), stage, every=1, progress=False)
    k = flagged.value.step
    assert k >= 2  # every=1: steps 0 and 1 synced before the failure, re-run from the copy at 0
    loss = _growing("raise")
    for every in (1, 5):  # re-run from a copy taken chunks before (1) or at the chunk start (5)
        folder = tmp_path / str(every)
        with pytest.raises(nx.StepFailedError) as info:
            nx.fit(loss, jnp.array([0.5]), stage, every=every, checkpoint_dir=folder,
                   progress=False)  # fmt: skip
        err = info.value
        assert err.step == k and err.stage == 0 and "max" in str(err) and f"step {k}" in str(err)
        assert_close(err.params, flagged.value.params)  # θ_{k-1}, whose solve succeeded
        assert_close(err.history["data"], flagged.value.history["data"])
        meta, arrays = _checkpoint.load_latest(folder)
        assert meta["global_step"] == k and arrays["history"].shape == (k, 2)
        assert err.checkpoint is not None and err.checkpoint.exists()
    assert np.isfinite(float(jax.jit(loss)(err.params)["data"]))


def test_solver_failure_in_an_lbfgs_stage_keeps_the_last_good_parameters(tmp_path):
    loss = _growing("raise")
    with pytest.raises(nx.StepFailedError) as info:
        nx.fit(loss, jnp.array([0.5]), nx.Stage("lbfgs", 40), every=5, checkpoint_dir=tmp_path,
               progress=False)  # fmt: skip
    err = info.value
    assert err.stage_name == "lbfgs" and len(err.history["total"]) == err.step
    assert np.isfinite(np.asarray(err.params)).all()
    assert np.isfinite(float(jax.jit(loss)(err.params)["data"]))  # the solve at them succeeds
    assert err.checkpoint is not None


# ------------------------------------------------------------------------- inputs refused
_TS = jnp.linspace(0.0, 1.0, 3)


def test_non_finite_inputs_are_refused_before_the_solve():
    ude = UDE(_decay)
    with pytest.raises(ValueError, match=r"UDE.solve: argument `ts` must be finite.*nan"):
        ude.solve(1.0, jnp.ones(2), jnp.array([0.0, jnp.nan, 1.0]))
    with pytest.raises(ValueError, match=r"UDE.solve: argument `u0` must be finite"):
        ude.solve(1.0, jnp.array([1.0, jnp.nan]), _TS)
    with pytest.raises(ValueError, match=r"UDE.solve: argument `params` must be finite.*\['k'\]"):
        ude.solve({"k": jnp.array(jnp.inf)}, jnp.ones(2), _TS)
    with pytest.raises(ValueError, match=r"UDE.solve: argument `args` must be finite"):
        UDE(lambda t, u, k, a: -k * a * u).solve(1.0, jnp.ones(2), _TS, jnp.array(jnp.nan))
    with pytest.raises(ValueError, match=r"UDE.solve_many: argument `u0s` must be finite.*\[1\]"):
        ude.solve_many(1.0, jnp.array([[1.0], [jnp.nan], [2.0]]), _TS)


def test_non_finite_inputs_under_jit_give_a_clear_failure():
    ude = UDE(_decay)
    solve = jax.jit(lambda k, u0, ts: ude.solve(k, u0, ts).ys)
    with pytest.raises(Exception, match=r"argument `u0` is not finite"):
        jax.block_until_ready(solve(1.0, jnp.array([1.0, jnp.nan]), _TS))
    with pytest.raises(Exception, match=r"argument `ts` is not finite"):
        jax.block_until_ready(solve(1.0, jnp.ones(2), jnp.array([0.0, jnp.nan, 1.0])))
    with pytest.raises(Exception, match=r"argument `params` is not finite"):
        jax.block_until_ready(solve(jnp.nan, jnp.ones(2), _TS))
    assert_close(solve(1.0, jnp.ones(2), _TS)[-1], np.exp(-1.5) * np.ones(2), rtol=1e-5)


def test_solve_many_in_raise_mode_names_the_failing_trajectory():
    ude = UDE(_blow_up, max_steps=200)
    u0s = jnp.array([[0.1], [0.2], [2.0]])  # the third blows up at t = 0.5 < 1
    many = jax.jit(lambda u0s: ude.solve_many(1.0, u0s, jnp.linspace(0.0, 1.0, 4)).ys)
    with pytest.raises(Exception, match=r"trajectory 2 .*maximum number of solver steps"):
        jax.block_until_ready(many(u0s))
    with pytest.raises(Exception, match=r"trajectory 1 .*`u0` is not finite"):
        jax.block_until_ready(many(jnp.array([[0.1], [jnp.nan], [0.2]])))
    assert np.isfinite(np.asarray(many(u0s[:2]))).all()


def test_vector_field_of_the_wrong_shape_is_refused_at_trace_time():
    ude = UDE(lambda t, u, k, a: jnp.concatenate([u, u]))
    with pytest.raises(ValueError, match=r"`vector_field`.*shape of `u`, \(2,\).*got \(4,\)"):
        ude.solve(1.0, jnp.ones(2), _TS)
    with pytest.raises(ValueError, match=r"`vector_field`.*\(2,\).*got \(4,\)"):
        jax.jit(lambda u0s: ude.solve_many(1.0, u0s, _TS).ys)(jnp.ones((3, 2)))
