"""nestax.pinn: domains, conditions, problems, resampling, weighting, evaluation, examples.

References are closed forms (heat, Poisson, sine-Gordon), an independent spectral solver
(Burgers) and hand-computed normal derivatives — never the code under test.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nestax as nx
from nestax import pinn
from nestax.examples import (
    biharmonic_plate,
    burgers,
    burgers_reference,
    heat,
    kdv,
    poisson_2d,
    poisson_smooth,
    sine_gordon_nd,
)

from ._helpers import assert_close

KAPPA = 0.3


def heat_exact(p):
    """u = exp(-κ π² t) sin(π x): u_t = κ u_xx, u(t, 0) = u(t, 1) = 0, u(0, x) = sin π x."""
    return jnp.exp(-KAPPA * jnp.pi**2 * p[0]) * jnp.sin(jnp.pi * p[1])


def heat_residual(u, p):
    return nx.gradient(u)(p)[0] - KAPPA * nx.partial(u, (0, 2))(p)


HEAT = pinn.TimeSpace(0.0, 1.0, pinn.Interval(0.0, 1.0))
DOMAINS = {
    "interval": pinn.Interval(-1.0, 2.0),
    "box": pinn.Box([0.0, -1.0, 2.0], [1.0, 1.0, 5.0]),
    "disk": pinn.Disk([0.5, -0.5], 2.0),
    "ball-12": pinn.Ball.unit(12),
    "time-box": HEAT,
    "time-disk": pinn.TimeSpace(0.0, 2.0, pinn.Disk([0.0, 0.0], 1.0)),
}


# ----------------------------------------------------------------------------- domains
@pytest.mark.parametrize("name", sorted(DOMAINS))
@pytest.mark.parametrize("method", ["uniform", "lhs", "sobol"])
def test_interior_samples_lie_inside(name, method):
    dom = DOMAINS[name]
    pts = dom.sample(300, method=method, seed=3)
    assert pts.shape == (300, dom.dim)
    assert dom.contains(pts).all()
    assert len(np.unique(pts, axis=0)) == 300
    jpts = np.asarray(dom.sample_uniform(jax.random.key(0), 200))
    assert jpts.shape == (200, dom.dim) and dom.contains(jpts).all()


def test_boundary_samples_lie_on_the_boundary():
    box = DOMAINS["box"]
    b = box.sample_boundary(400, seed=1)
    on_face = np.isclose(b, box.lower) | np.isclose(b, box.upper)
    assert box.contains(b).all() and on_face.any(axis=1).all()
    assert on_face.any(axis=0).all()  # every axis gets faces
    disk = DOMAINS["disk"]
    assert_close(np.linalg.norm(disk.sample_boundary(100) - disk.center, axis=1), 2.0)
    ball = DOMAINS["ball-12"]
    assert_close(np.linalg.norm(ball.sample_boundary(100), axis=1), 1.0)
    lateral = HEAT.sample_boundary(100)
    assert np.isin(lateral[:, 1], [0.0, 1.0]).all() and HEAT.contains(lateral).all()
    initial = HEAT.sample_initial(50)
    assert (initial[:, 0] == 0.0).all() and HEAT.contains(initial).all()


def test_normals_are_outward_unit_vectors():
    box = pinn.Box([0.0, 0.0], [1.0, 2.0])
    assert_close(box.normal(jnp.array([1.0, 0.7])), [1.0, 0.0])
    assert_close(box.normal(jnp.array([0.3, 0.0])), [0.0, -1.0])
    disk = pinn.Disk([1.0, 1.0], 2.0)
    assert_close(disk.normal(jnp.array([1.0, 3.0])), [0.0, 1.0])


def test_bad_domain_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="lower < upper"):
        pinn.Box([1.0], [0.0])
    with pytest.raises(ValueError, match="radius"):
        pinn.Ball([0.0, 0.0], -1.0)
    with pytest.raises(ValueError, match="method"):
        pinn.Interval(0, 1).sample(10, method="grid")
    with pytest.raises(ValueError, match="`n`"):
        pinn.Interval(0, 1).sample(0)


# ----------------------------------------------------------------------------- conditions
def _condition_loss(cond, domain, u, n=64):
    pts = jnp.asarray(cond.points(domain, n, "sobol", 0))
    cond = cond.bind(domain)  # the normal (Neumann) and the period (Periodic) of `domain`
    return float(jnp.mean(jax.vmap(lambda p: jnp.sum(cond.residual(u, p) ** 2))(pts)))


def test_conditions_vanish_on_the_exact_solution_and_not_otherwise():
    wrong = lambda p: heat_exact(p) + 0.1 * (1.0 + p[0])  # noqa: E731
    for cond in (pinn.Dirichlet(0.0), pinn.Initial(lambda p: jnp.sin(jnp.pi * p[1]))):
        assert _condition_loss(cond, HEAT, heat_exact) < 1e-28
        assert _condition_loss(cond, HEAT, wrong) > 1e-5
    # Neumann: u = x² + y² on [0,1]²: ∂u/∂n = 2 on the faces x=1 and y=1, 0 on x=0 and y=0.
    square = pinn.Box([0.0, 0.0], [1.0, 1.0])
    flux = lambda p: jnp.where(jnp.max(p) > 1 - 1e-12, 2.0, 0.0)  # noqa: E731
    neumann = pinn.Neumann(flux)
    assert _condition_loss(neumann, square, lambda p: jnp.sum(p**2)) < 1e-24
    assert _condition_loss(neumann, square, lambda p: jnp.sum(p**2) + p[0]) > 0.1
    # ∂_t u(0, x) for u = sin(πx)(cos πt + sin(πt)/π) is sin πx.
    wave = lambda p: (
        jnp.sin(jnp.pi * p[1]) * (jnp.cos(jnp.pi * p[0]) + jnp.sin(jnp.pi * p[0]) / jnp.pi)
    )  # noqa: E501, E731
    velocity = pinn.InitialDerivative(lambda p: jnp.sin(jnp.pi * p[1]))
    assert _condition_loss(velocity, HEAT, wave) < 1e-26
    assert _condition_loss(velocity, HEAT, heat_exact) > 1e-2
    periodic = pinn.Periodic(axis=1, derivative=True)
    assert _condition_loss(periodic, HEAT, lambda p: p[0] * jnp.sin(2 * jnp.pi * p[1])) < 1e-26
    assert _condition_loss(periodic, HEAT, lambda p: p[0] * p[1]) > 1e-2


def test_residuals_of_exact_solutions_vanish():
    pts = jnp.asarray(HEAT.sample(64))
    assert_close(jax.vmap(lambda p: heat_residual(heat_exact, p))(pts), 0.0, atol=1e-12)
    wrong = lambda p: heat_exact(p) * (1 + p[0])  # noqa: E731
    assert jnp.max(jnp.abs(jax.vmap(lambda p: heat_residual(wrong, p))(pts))) > 1e-2
    sq = jnp.asarray(pinn.Box([0.0, 0.0], [1.0, 1.0]).sample(64))
    r = jax.vmap(lambda p: poisson_2d.residual(poisson_2d.exact, p))(sq)
    assert_close(r, 0.0, atol=1e-11)
    # the heat example, third order (KdV soliton), fourth order (Navier's plate): closed forms
    for module, n in ((heat, 16), (kdv, 16), (biharmonic_plate, 16), (poisson_smooth, 16)):
        pts = jnp.asarray(module.build(n_interior=n).points["residual"])
        assert_close(jax.vmap(lambda p, m=module: m.residual(m.exact, p))(pts), 0.0, atol=1e-9)


def test_hard_constraints_vanish_on_the_boundary():
    net = pinn.mlp(jax.random.key(1), 5, width=8, depth=2)
    u = pinn.unit_ball_ansatz(5).wrap(lambda x: 1.0 + net(x))
    sphere = jnp.asarray(pinn.Ball.unit(5).sample_boundary(32))
    assert_close(jax.vmap(u)(sphere), 0.0, atol=1e-14)
    inside = jnp.asarray(pinn.Ball.unit(5).sample(32))
    assert jnp.min(jnp.abs(jax.vmap(u)(inside))) > 0
    problem = burgers.build(n_interior=16)
    bnet = burgers.network(jax.random.key(2), 8, 2)
    trial = problem.trial(bnet)
    lateral = jnp.asarray(problem.domain.sample_boundary(32))
    assert_close(jax.vmap(trial)(lateral), 0.0, atol=1e-14)
    init = jnp.asarray(problem.domain.sample_initial(32))
    assert_close(jax.vmap(trial)(init), -jnp.sin(jnp.pi * init[:, 1]), atol=1e-14)


# ----------------------------------------------------------------------------- problems
@pytest.fixture(scope="module")
def heat_problem():
    return pinn.Problem(
        heat_residual,
        HEAT,
        [pinn.Dirichlet(0.0), pinn.Initial(lambda p: jnp.sin(jnp.pi * p[1]))],
        n_interior=128,
        n_boundary=32,
    )


def test_problem_loss_is_zero_for_the_exact_solution(heat_problem):
    exact_problem = pinn.Problem(
        heat_residual,
        HEAT,
        list(heat_problem.conditions.values()),
        n_interior=64,
        net=lambda params, p: heat_exact(p),
    )
    terms = exact_problem.loss()(None)
    assert sorted(terms) == ["dirichlet", "initial", "residual"]
    assert max(float(v) for v in terms.values()) < 1e-24


def test_short_training_reduces_every_term(heat_problem):
    net = pinn.mlp(jax.random.key(0), 2, width=16, depth=2)
    result = nx.fit(
        heat_problem.loss({"initial": 2.0}),
        net,
        [nx.Stage("adam", 150, learning_rate=1e-2)],
        progress=False,
    )
    h = result.history
    assert h["total"][-1] < 0.2 * h["total"][0]
    assert h["initial"][-1] < h["initial"][0]


def test_problem_rejects_bad_arguments():
    with pytest.raises(TypeError, match="residual"):
        pinn.Problem(3.0, HEAT)
    with pytest.raises(ValueError, match="sampling"):
        pinn.Problem(heat_residual, HEAT, sampling="grid")
    with pytest.raises(ValueError, match="unknown weight"):
        pinn.Problem(heat_residual, HEAT, n_interior=8).loss({"boundary": 1.0})


def test_rad_moves_points_to_where_the_residual_lives():
    # Residual nonzero only for x > 0.5: with c = 0 every new point lands there.
    problem = pinn.Problem(
        lambda u, x: jnp.where(x[0] > 0.5, 1.0, 0.0) + 0 * u(x),
        pinn.Interval(0.0, 1.0),
        n_interior=64,
    )
    net = pinn.mlp(jax.random.key(0), 1, width=4, depth=1)
    new = pinn.RAD(pool=512, c=0.0)(problem, net, jax.random.key(1))
    assert new.shape == (64, 1) and bool(jnp.all(new[:, 0] > 0.5))
    uniform = pinn.RAD(pool=512, c=1e6)(problem, net, jax.random.key(1))
    assert 10 < int(jnp.sum(uniform[:, 0] < 0.5)) < 54


def test_learning_rate_annealing_balances_gradients(heat_problem):
    net = pinn.mlp(jax.random.key(0), 2, width=8, depth=2)
    ann = pinn.LRAnnealing(alpha=0.5)
    w1 = ann.update(heat_problem, net)
    w2 = ann.update(heat_problem, net)
    assert w1["residual"] == 1.0 and all(np.isfinite(v) and v > 0 for v in w1.values())
    assert_close(w2["dirichlet"], w1["dirichlet"])  # same params: the average is unchanged


def test_train_rounds_with_resampling_and_weights(heat_problem):
    net = pinn.mlp(jax.random.key(0), 2, width=8, depth=2)
    before = np.asarray(heat_problem.points["residual"]).copy()
    out = heat_problem.train(
        net,
        [nx.Stage("adam", 20, learning_rate=1e-2)],
        rounds=2,
        resampler=pinn.RAD(pool=256),
        weighting=pinn.LRAnnealing(),
        progress=False,
    )
    assert len(out.history["total"]) == 40 and len(out.weights) == 2
    assert not np.array_equal(before, np.asarray(heat_problem.points["residual"]))


def test_train_reports_where_each_round_and_stage_began(heat_problem):
    net = pinn.mlp(jax.random.key(0), 2, width=8, depth=2)
    out = heat_problem.train(
        net,
        [nx.Stage("adam", 3, learning_rate=1e-2), nx.Stage("lbfgs", 2)],
        rounds=3,
        later_stages=[nx.Stage("adam", 4, learning_rate=1e-3), nx.Stage("lbfgs", 1)],
        resampler=pinn.RAD(pool=256),
        progress=False,
    )
    assert len(out.history["total"]) == 5 + 5 + 5
    # rounds start at 0, 5, 10; in each, L-BFGS after its Adam (3 steps, then 4)
    assert out.boundaries == [
        (3, "lbfgs"), (5, "RAD round 2"), (9, "lbfgs"), (10, "RAD round 3"), (14, "lbfgs")
    ]  # fmt: skip


def test_stage_boundaries_skip_a_stage_that_never_ran():
    stages = [nx.Stage("adam", 10), nx.Stage("lbfgs", 5), nx.Stage("adam", 5)]
    assert pinn.stage_boundaries(stages, (10, 5, 5), offset=7) == [(17, "lbfgs"), (22, "adam")]
    assert pinn.stage_boundaries(stages, (4, 0, 0)) == []  # stopped early in the first stage


def test_relative_l2():
    assert_close(pinn.relative_l2([3.0, 4.0], [3.0, 4.0]), 0.0)
    assert_close(pinn.relative_l2([0.0, 0.0], [3.0, 4.0]), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        pinn.relative_l2(np.zeros(3), np.zeros(4))


# ----------------------------------------------------------------------------- references
def test_burgers_cole_hopf_matches_the_spectral_solver():
    x = np.linspace(-1, 1, 33)
    t = np.array([0.2, 0.4])
    ch = burgers_reference.cole_hopf(t, x)
    # 1 024 modes resolve the shock (width ~ ν) to ~1e-5; both agree far below the 1e-3
    # error target of the example.
    sp = burgers_reference.spectral(t, x, n_modes=1024, dt=1e-4)
    assert_close(ch, sp, atol=5e-5, rtol=0)
    assert_close(ch[:, [0, -1]], 0.0, atol=1e-12)  # u(t, ±1) = 0


def test_sine_gordon_forcing_is_laplacian_plus_sine_of_the_exact_solution():
    d = 7
    c = sine_gordon_nd.coefficients(d, seed=2)
    xs = jnp.asarray(pinn.Ball.unit(d).sample(5, seed=1))
    lap = jax.vmap(lambda x: jnp.trace(jax.hessian(lambda y: sine_gordon_nd.exact(y, c))(x)))(xs)
    expected = lap + jnp.sin(jax.vmap(lambda x: sine_gordon_nd.exact(x, c))(xs))
    assert_close(jax.vmap(lambda x: sine_gordon_nd.forcing(x, c))(xs), expected, rtol=1e-12)


def test_sine_gordon_exact_estimator_is_the_true_laplacian():
    """estimator="exact" (reduced: width 4 < d = 9) gives the loss of the true Laplacian."""
    d = 9
    net, trial, c = sine_gordon_nd.build(d, seed=3, width=4, depth=2)
    loss = sine_gordon_nd.make_loss(d, trial, c, 6, 2, "exact")
    key = jax.random.key(5)
    x = pinn.Ball.unit(d).sample_uniform(jax.random.split(key)[0], 6).astype(c.dtype)
    u = trial(net)
    lap = jax.vmap(lambda y: jnp.trace(jax.hessian(u)(y)))(x)
    res = lap + jnp.sin(jax.vmap(u)(x)) - jax.vmap(lambda y: sine_gordon_nd.forcing(y, c))(x)
    assert_close(loss(net, key)["residual"], jnp.mean(res**2), rtol=1e-10)
    with pytest.raises(ValueError, match="estimator"):
        sine_gordon_nd.make_loss(d, trial, c, 6, 2, "exakt")


# ----------------------------------------------------------------------------- examples
@pytest.mark.parametrize(
    "module, options",
    [
        (poisson_2d, {"n_interior": 64, "width": 8, "depth": 2}),
        (poisson_smooth, {"n_interior": 64, "width": 8, "depth": 2}),
        # one round: RAD rounds are tested above, and each round compiles its own step
        (burgers, {"n_interior": 64, "width": 8, "depth": 2, "rounds": 1, "pool": 256}),
        (
            sine_gordon_nd,
            {"d": 20, "n_points": 8, "samples": 4, "width": 16, "depth": 2, "n_test": 64},
        ),
        (heat, {"n_interior": 64, "width": 8, "depth": 2, "rounds": 1}),
        (kdv, {"n_interior": 64, "width": 8, "depth": 2}),
        (biharmonic_plate, {"n_interior": 64, "width": 8, "depth": 2}),
    ],
)
def test_examples_write_metrics_and_plots(module, options, tmp_path):
    metrics = module.run(12, tmp_path, seed=0, progress=False, **options)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["example"] == module.NAME and np.isfinite(on_disk["rel_l2_error"])
    assert metrics["rel_l2_error"] == on_disk["rel_l2_error"]
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())


# ----------------------------------------------------------------------------- sharding
_SHARDED = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import nestax as nx
    from nestax import pinn
    from nestax.examples import poisson_2d

    assert len(jax.devices()) == 2, jax.devices()
    stages = [nx.Stage("adam", 10, learning_rate=1e-2), nx.Stage("lbfgs", 3)]

    def train(sharded):
        problem = poisson_2d.build(n_interior=256)
        net = pinn.mlp(jax.random.key(0), 2, width=12, depth=2)
        if sharded:
            mesh = pinn.points_mesh()
            pinn.shard_problem(problem, mesh)
            net = pinn.replicate(net, mesh)
            assert len(problem.points["residual"].sharding.device_set) == 2
        r = nx.fit(problem.loss(), net, stages, progress=False)
        leaves = [np.asarray(a) for a in jax.tree.leaves(r.params) if hasattr(a, "dtype")]
        return np.asarray(r.history["total"]), leaves

    h1, p1 = train(False)
    h2, p2 = train(True)
    print(json.dumps({
        "loss_rel": float(np.max(np.abs(h1 - h2) / np.abs(h1))),
        "param_abs": max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)),
        "drop": float(h1[-1] / h1[0]),
    }))
""")


def test_two_device_sharded_training_matches_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    # Same maths; only the order of the float64 sums differs between one and two devices,
    # amplified over 13 optimizer steps: agreement to ~1e-9 relative.
    assert res["loss_rel"] < 1e-8 and res["param_abs"] < 1e-7, res
    assert res["drop"] < 1.0, res  # and it trains


# ----------------------------------------------------------------------------- refusals
SQUARE = pinn.Box([0.0, 0.0], [1.0, 1.0])
WIDE = pinn.Box([0.0, 0.0], [2.0, 1.0])


def test_neumann_reused_in_a_second_problem_leaves_the_first_unchanged():
    """u = x² + y² on [0, 1]², h = 0: ∂u/∂n is 2 on the faces x = 1 and y = 1, 0 on the others,
    so the term is 4 × (share of points on the high faces) — whatever other problem exists."""
    cond = pinn.Neumann()
    before = dict(vars(cond))
    net = lambda params, p: jnp.sum(p**2)  # noqa: E731
    first = pinn.Problem(lambda u, x: 0.0 * u(x), SQUARE, [cond], n_interior=8, n_boundary=64,
                         net=net)  # fmt: skip
    pts = np.asarray(first.points["neumann"])
    expected = 4.0 * np.mean(pts.max(axis=1) > 1 - 1e-12)
    assert_close(first.loss()(None)["neumann"], expected)
    pinn.Problem(lambda u, x: 0.0 * u(x), WIDE, [cond], n_interior=8, n_boundary=64, net=net)
    assert_close(first.loss()(None)["neumann"], expected)
    assert vars(cond) == before  # nothing written onto the condition


def test_periodic_reused_in_a_second_problem_leaves_the_first_unchanged():
    """u = x_0: u(x) - u(x + shift e_0) = -shift, the face width: 1 on [0, 1]², 2 on [0, 2]."""
    cond = pinn.Periodic(axis=0)
    net = lambda params, p: p[0]  # noqa: E731
    first = pinn.Problem(lambda u, x: 0.0 * u(x), SQUARE, [cond], n_interior=8, n_boundary=16,
                         net=net)  # fmt: skip
    second = pinn.Problem(lambda u, x: 0.0 * u(x), WIDE, [cond], n_interior=8, n_boundary=16,
                          net=net)  # fmt: skip
    assert_close(first.loss()(None)["periodic"], 1.0)
    assert_close(second.loss()(None)["periodic"], 4.0)


def test_condition_data_and_distance_of_the_wrong_shape_are_refused_at_build_time():
    res = lambda u, x: u(x)  # noqa: E731
    with pytest.raises(ValueError, match=r"Dirichlet.*`g`.*shape \(\).*\(2,\)"):
        pinn.Problem(res, SQUARE, [pinn.Dirichlet(lambda x: x)], n_interior=8)
    with pytest.raises(ValueError, match=r"Neumann.*`h`.*shape \(\).*\(2,\)"):
        pinn.Problem(res, SQUARE, [pinn.Neumann(lambda x: 2.0 * x)], n_interior=8)
    with pytest.raises(ValueError, match=r"HardConstraint.*`distance`.*shape \(\).*\(2,\)"):
        pinn.Problem(res, SQUARE, constraint=pinn.HardConstraint(lambda x: x), n_interior=8)
    with pytest.raises(ValueError, match=r"HardConstraint.*`particular`.*\(2,\)"):
        pinn.Problem(res, SQUARE, n_interior=8,
                     constraint=pinn.HardConstraint(SQUARE, lambda x: x))  # fmt: skip


def test_problem_loss_refuses_unknown_points_negative_weights_and_no_points():
    problem = pinn.Problem(lambda u, x: u(x), SQUARE, [pinn.Dirichlet()], n_interior=8)
    with pytest.raises(ValueError, match=r"`points`.*'bogus'.*'dirichlet', 'residual'"):
        problem.loss(points={"bogus": jnp.zeros((4, 2))})
    with pytest.raises(ValueError, match=r"`weights`.*'dirichlet'.*-1.0"):
        problem.loss({"dirichlet": -1.0})
    with pytest.raises(ValueError, match=r"`weights`.*nan"):
        problem.loss({"residual": float("nan")})
    with pytest.raises(ValueError, match=r"`points`.*'residual'.*\(n, 2\).*\(4, 3\)"):
        problem.loss(points={"residual": jnp.zeros((4, 3))})
    for n in (0, -3):
        with pytest.raises(ValueError, match="`n_interior`"):
            pinn.Problem(lambda u, x: u(x), SQUARE, n_interior=n)
        with pytest.raises(ValueError, match="`n_boundary`"):
            pinn.Problem(lambda u, x: u(x), SQUARE, [pinn.Dirichlet()], n_boundary=n)
        with pytest.raises(ValueError, match="`resample`"):
            problem.loss(resample=n - 1)


def test_domains_refuse_non_finite_bounds_and_radius():
    with pytest.raises(ValueError, match=r"Box.*finite.*inf"):
        pinn.Box([0.0], [np.inf])
    with pytest.raises(ValueError, match=r"Box.*finite.*nan"):
        pinn.Box([np.nan, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"Ball.*`radius`.*inf"):
        pinn.Ball([0.0, 0.0], np.inf)
    with pytest.raises(ValueError, match=r"Ball.*`center`.*finite"):
        pinn.Ball([np.inf, 0.0], 1.0)
    with pytest.raises(ValueError, match=r"TimeSpace.*finite"):
        pinn.TimeSpace(0.0, np.inf, pinn.Interval(0.0, 1.0))


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_interval_boundary_samples_cover_both_ends(n):
    pts = pinn.Interval(-1.0, 2.0).sample_boundary(n)
    m = max(2, n + n % 2)  # n rounded up to an even count, each end half of them
    assert pts.shape == (m, 1)
    assert (pts[:, 0] == -1.0).sum() == (pts[:, 0] == 2.0).sum() == m // 2
    lateral = pinn.TimeSpace(0.0, 1.0, pinn.Interval(-1.0, 2.0)).sample_boundary(n)
    assert lateral.shape == (m, 2) and (lateral[:, 1] == -1.0).sum() == m // 2
    with pytest.raises(ValueError, match="`n`"):
        pinn.Interval(0.0, 1.0).sample_boundary(0)
