"""allen-cahn: the reference solver against independent computations, the residual against
closed forms, the trial function's periodicity and initial data, bad input, a short run."""

import json

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nestax.examples import EXAMPLES, allen_cahn
from nestax.examples import allen_cahn_reference as acr

from ._helpers import assert_close


# ------------------------------------------------------------------------- the reference
def test_reference_agrees_with_twice_the_modes():
    # 8 192 modes against the default 4 096 (the same step 1e-3; the time stepping is checked
    # below). Measured: rel 5e-11 and max 7e-9 against 16 384 modes.
    t, x, u = acr.reference()
    assert u.shape == (201, 512) and x.shape == (512,) and t.shape == (201,)
    _, xf, uf = acr.solve(t, n=8192, dt=1e-3)
    uf = uf[:, ::16]
    assert_close(xf[::16], x, rtol=0, atol=1e-15)  # 8 192 modes: about 3 s on one core
    assert np.linalg.norm(u - uf) / np.linalg.norm(uf) <= 1e-9
    # the largest difference is just after t = 0, where the kink of the periodic
    # extension of x² cos πx at x = ±1 is still being smoothed by the diffusion
    assert np.max(np.abs(u - uf)) <= 1e-8
    assert_close(u[0], x**2 * np.cos(np.pi * x), rtol=0, atol=0)


def test_etdrk4_matches_an_independent_stiff_solver_on_the_same_semi_discretisation():
    """diffrax's Kvaerno5 (implicit ESDIRK) on the same 128-mode Fourier collocation ODE,
    written in real space (u_xx by FFT), to t = 1: the time stepping is independent."""
    n = 128
    t_out = np.array([0.0, 0.25, 0.5, 1.0])
    _, x, u = acr.solve(t_out, n=n, dt=1e-3)
    k = jnp.pi * jnp.fft.rfftfreq(n, d=1.0 / n)

    def rhs(t, v, args):
        # rfft/irfft are inverse bijections of real vectors of even length: the same ODE as
        # the reference's in Fourier space
        return jnp.fft.irfft(-acr.D * k**2 * jnp.fft.rfft(v), n) + acr.GAMMA * (v - v**3)

    # the reference starts from the projection of u0 onto the modes (no Nyquist mode)
    v0h = acr._initial_coefficients(n)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs), diffrax.Kvaerno5(), 0.0, 1.0, 1e-3, jnp.fft.irfft(v0h, n),
        saveat=diffrax.SaveAt(ts=jnp.asarray(t_out)),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
        max_steps=20_000,
    )  # fmt: skip
    # rows after t = 0 (row 0 of the reference is u0 itself, not its 64-mode projection);
    # tolerance: Kvaerno5 at rtol 1e-11 over 1 000 e-folding-free steps
    assert_close(np.asarray(sol.ys)[1:], u[1:], rtol=0, atol=1e-8)


def test_solver_refuses_bad_arguments():
    with pytest.raises(ValueError, match="`n`"):
        acr.solve(np.array([0.0, 1.0]), n=7)
    with pytest.raises(ValueError, match="`t`"):
        acr.solve(np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="`dt`"):
        acr.solve(np.array([0.0]), dt=0.0)


# ---------------------------------------------------------------------------- the residual
def test_residual_of_a_closed_form_function():
    # u = e^{-t} sin πx + t cos 2πx: u_t = -e^{-t} sin πx + cos 2πx,
    # u_xx = -π² e^{-t} sin πx - 4π² t cos 2πx
    def u(p):
        return jnp.exp(-p[0]) * jnp.sin(jnp.pi * p[1]) + p[0] * jnp.cos(2 * jnp.pi * p[1])

    def expected(p):
        t, x = p
        s, c = jnp.exp(-t) * jnp.sin(jnp.pi * x), jnp.cos(2 * jnp.pi * x)
        ut, uxx = -s + c, -(jnp.pi**2) * s - 4 * jnp.pi**2 * t * c
        v = s + t * c
        return ut - 1e-4 * uxx + 5 * v**3 - 5 * v

    pts = jnp.array([[0.0, 0.3], [0.4, -0.7], [1.0, 0.95], [0.25, -1.0]])
    got = jax.jit(jax.vmap(lambda p: allen_cahn.residual(u, p)))(pts)
    assert_close(got, jax.vmap(expected)(pts), rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def small():
    problem = allen_cahn.build(n_interior=8)
    net = allen_cahn.network(jax.random.key(3), width=8, depth=2, n_modes=3)
    return problem, net


def test_trial_residual_matches_finite_differences(small):
    # central differences of the trial function (h = 1e-4 in t, 1e-3 in x: truncation
    # ~1e-8 relative, round-off ~1e-10), the network's own values; nothing from nestax's
    # operators
    problem, net = small
    u = problem.trial(net)
    pts = problem.points["residual"]
    ht, hx = 1e-4, 1e-3
    f = jax.jit(jax.vmap(u))
    shift = lambda dt, dx: f(pts + jnp.array([[dt, dx]]))  # noqa: E731
    v = f(pts)
    ut = (shift(ht, 0.0) - shift(-ht, 0.0)) / (2 * ht)
    uxx = (shift(0.0, hx) - 2 * v + shift(0.0, -hx)) / hx**2
    fd = ut - 1e-4 * uxx + 5 * v**3 - 5 * v
    got = jax.jit(jax.vmap(lambda p: allen_cahn.residual(u, p)))(pts)
    assert_close(got, fd, rtol=1e-6, atol=1e-7)


def test_trial_function_is_periodic_and_meets_the_initial_data(small):
    problem, net = small
    u = problem.trial(net)
    x = jnp.linspace(-1.0, 1.0, 7)
    assert_close(jax.vmap(lambda x: u(jnp.array([0.0, x])))(x), x**2 * jnp.cos(jnp.pi * x))
    for t in (0.2, 0.9):
        left, right = jnp.array([t, -1.0]), jnp.array([t, 1.0])
        assert_close(u(left), u(right))
        # u_x jumps only by u0's own kink, u0'(1) - u0'(-1) = -2 - 2: t N is C¹-periodic
        du = jax.grad(u)
        assert_close(du(right) - du(left), jnp.array([0.0, -4.0]), rtol=0, atol=1e-12)


def test_causal_weights():
    problem = allen_cahn.build(n_interior=8)
    net = allen_cahn.network(jax.random.key(0), width=8, depth=1, n_modes=2)
    data = {"residual": jnp.asarray(allen_cahn.slice_points(4, 8))}
    r2 = eqx.filter_jit(problem.pointwise_residual)(net, data["residual"])
    r2 = np.asarray(r2).reshape(4, 8).mean(1)
    plain = eqx.filter_jit(allen_cahn.causal_loss(problem, 4, 0.0))(net, data)["residual"]
    assert_close(plain, r2.mean())  # ε = 0: the mean squared residual
    eps = 3.0
    w = np.exp(-eps * np.concatenate([[0.0], np.cumsum(r2)[:-1]]))
    causal = eqx.filter_jit(allen_cahn.causal_loss(problem, 4, eps))(net, data)["residual"]
    assert_close(causal, np.mean(w * r2))


def test_slice_points_cover_each_slice():
    p = allen_cahn.slice_points(5, 16, seed=2)
    assert p.shape == (80, 2)
    t = p[:, 0].reshape(5, 16)
    assert np.all(t == t[:, :1]) and np.all(np.diff(t[:, 0]) > 0)
    assert np.all((p[:, 1] >= -1) & (p[:, 1] < 1))


# ------------------------------------------------------------------------------- the example
def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`iters`"):
        allen_cahn.stages(0)
    with pytest.raises(ValueError, match="`rounds`"):
        allen_cahn.stages(10, rounds=0)
    with pytest.raises(ValueError, match="`iters`"):
        allen_cahn.run(iters=0, progress=False)
    with pytest.raises(ValueError, match="`n_modes`"):
        allen_cahn.network(jax.random.key(0), n_modes=0)
    with pytest.raises(ValueError, match="`n_t`"):
        allen_cahn.slice_points(0, 8)


def test_stages_add_up():
    for iters in (1, 2, 3, 7, 1600, 1601):
        for rounds in (1, 3):
            causal, first, later, r = allen_cahn.stages(iters, rounds=rounds)
            total = sum(s.steps for s in causal + first) + (r - 1) * sum(s.steps for s in later)
            assert total == iters and all(s.steps >= 1 for s in causal + first + later)
    causal, first, later, r = allen_cahn.stages(allen_cahn.DEFAULT_ITERS, rounds=3)
    assert [s.steps for s in causal + first + later] == [1000, 200, 200] and r == 3


def test_registered():
    assert EXAMPLES["allen-cahn"].load() is allen_cahn


def test_short_run_writes_metrics(tmp_path):
    metrics = allen_cahn.run(
        iters=4, out_dir=tmp_path, progress=False, n_t=4, n_x=16, n_interior=32, width=8,
        depth=1, n_modes=2, adam_steps=2, rounds=1,
    )  # fmt: skip
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["iterations"] == 4 and written["example"] == "allen-cahn"
    assert written["jaxpi_published_rel_l2"] == 5.4e-5 and written["gradient_check_ok"]
    assert np.isfinite(written["rel_l2_error"]) and metrics["rel_l2_error"] > 0
    assert len(written["rel_l2_error_by_round"]) == 1  # 2 Adam steps, then 2 Gauss-Newton
    for name in ("solution.png", "loss.png", "slices.png"):
        assert (tmp_path / name).is_file()
