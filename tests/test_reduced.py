"""Strategy "reduced" (input-subspace reduction) against independent references.

References: nested ``jax.jacfwd`` in float64 (Laplacian, biharmonic), a closed form for a
one-layer network in d = 20 000, and the unreduced collapsed strategy (itself checked against
jacfwd in test_strategies_taylor.py) inside ``jax.grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nestax as nx
from nestax._strategies._orthonormal import orthonormal_columns
from nestax._strategies._reduced import apply_reduced, reduction_basis

from ._helpers import assert_close, init_mlp, mlp

D, WIDTH = 7, 3  # k = 3 < d = 7


def _net(seed=0, d=D, width=WIDTH, out=1, act=jnp.tanh, depth=2):
    params = init_mlp(jax.random.key(seed), [d] + [width] * depth + [out])
    return params, lambda x, p=params: mlp(p, x, act)


def _point(seed=1, d=D):
    return 0.7 * jax.random.normal(jax.random.key(seed), (d,), jnp.float64)


def _lap_ref(u, x):
    return jnp.trace(jax.jacfwd(jax.jacfwd(u))(x), axis1=-2, axis2=-1)


def _bih_ref(u, x):
    return _lap_ref(lambda y: _lap_ref(u, y), x)


def _fourier(seed=3, d=D, m=2):
    b = jax.random.normal(jax.random.key(seed), (m, d), jnp.float64)
    params, net = _net(seed, d=2 * m)
    return lambda x: net(jnp.concatenate([jnp.sin(b @ x), jnp.cos(b @ x)]))


CASES = {
    "mlp": lambda: _net(0, out=2)[1],
    "sin-mlp": lambda: _net(4, act=jnp.sin)[1],
    "fourier-features": _fourier,  # a non-linear input path of low rank: reduced exactly
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_laplacian_matches_jacfwd(case):
    u = CASES[case]()
    x = _point()
    assert_close(nx.laplacian(u, method="reduced")(x), _lap_ref(u, x))


@pytest.mark.parametrize("case", ["mlp", "fourier-features"])
def test_biharmonic_matches_jacfwd(case):
    u = CASES[case]()
    x = _point(2)
    assert_close(nx.apply(nx.Biharmonic(), u, method="reduced")(x), _bih_ref(u, x))


def test_inside_grad_over_parameters():
    params, _ = _net(6, out=1)
    xs = jax.vmap(_point)(jnp.arange(3))
    terms_op = nx.Laplacian() + 0.5 * nx.Biharmonic()

    def loss(p, method):
        u = lambda x: mlp(p, x)[0]
        op = nx.apply(terms_op, u, method=method)
        return jnp.mean(jax.vmap(op)(xs) ** 2)

    # The reference: the unreduced collapsed strategy (checked against jacfwd for these
    # operators in test_strategies_taylor.py).
    got = jax.jit(jax.grad(loss), static_argnums=1)(params, "reduced")
    ref = jax.jit(jax.grad(loss), static_argnums=1)(params, "collapsed")
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(ref), strict=True):
        assert_close(a, b)


def test_space_time_operator_reduces_its_spatial_block():
    # u_t - 0.3 Δ_x u in (t, x) ∈ R^(1+6): the x block is reduced, u_t computed unreduced.
    _, net = _net(7)
    u = lambda z: net(z)[0]
    heat = nx.Partial((1,) + (0,) * (D - 1))
    for i in range(1, D):
        heat = heat - 0.3 * nx.Partial(tuple(2 * (j == i) for j in range(D)))
    z = _point(4)
    hess = jax.hessian(u)(z)
    ref = jax.grad(u)(z)[0] - 0.3 * (jnp.trace(hess) - hess[0, 0])
    assert_close(nx.apply(heat, u, method="reduced")(z), ref)
    plan = nx.explain(heat, u, z)
    assert "block of 6 coordinates" in " ".join(plan.notes)


def test_partial_declines_and_explicit_raises():
    _, net = _net(8)
    u = lambda x: net(x)[0]
    op = nx.Partial((2,) + (0,) * (D - 1))
    plan = nx.explain(op, u, _point())
    assert plan.method != "reduced"
    assert any("singles out coordinates" in n for n in plan.notes)
    with pytest.raises(ValueError, match="rotations"):
        nx.apply(op, u, method="reduced")(_point())


def test_declines_when_k_not_below_d():
    _, net = _net(9, width=D + 2)  # N = 9 >= d = 7
    u = lambda x: net(x)[0]
    x = _point()
    p = nx.explain(nx.laplacian, u, x)
    assert p.method != "reduced" and "reduced" not in p.costs
    assert any("declined" in n and "N >= 7" in n for n in p.notes)
    assert_close(nx.laplacian(u, method="reduced")(x), _lap_ref(u, x))  # still exact


def test_nonlinear_input_path_declines_and_stays_exact():
    _, net = _net(10)
    u = lambda x: (1.0 - jnp.sum(x**2)) * net(x)[0]  # reads x in x**2: N >= d
    x = _point(5)
    p = nx.explain(nx.laplacian, u, x)
    assert p.method != "reduced" and any("integer_pow" in n for n in p.notes)
    assert_close(nx.laplacian(u)(x), _lap_ref(u, x))
    assert_close(nx.laplacian(u, method="reduced")(x), _lap_ref(u, x))


def test_ball_ansatz_product_rule():
    params, _ = _net(11, out=1)
    xs = 0.4 * jax.vmap(_point)(jnp.arange(2))
    center = jnp.linspace(0.0, 0.2, D)

    def make(p):
        return nx.BallAnsatz(lambda x: mlp(p, x)[0], center=center, radius=1.5)

    u = make(params)
    for x in xs:
        assert_close(u.laplacian()(x), _lap_ref(u, x))
        assert_close(u.biharmonic()(x), _bih_ref(u, x))
    got = jax.grad(lambda p: jnp.sum(jax.vmap(make(p).laplacian())(xs) ** 2))(params)
    ref = jax.grad(lambda p: jnp.sum(jax.vmap(lambda x: _lap_ref(make(p), x))(xs) ** 2))(params)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(ref), strict=True):
        assert_close(a, b)


def test_ball_ansatz_passes_estimator_options_to_the_network_laplacian():
    # with STDE only Delta N is estimated: for the same key, the ansatz's value is the product
    # rule around the estimator applied to N itself (gradient term by jax.grad)
    params, _ = _net(14, out=1)
    n = lambda x: mlp(params, x)[0]
    center = jnp.linspace(0.0, 0.2, D)
    u = nx.BallAnsatz(n, center=center, radius=1.5)
    x, key = 0.4 * _point(3), jax.random.key(1)
    got = u.laplacian(method="stde", key=key, samples=3)(x)
    lap_n = nx.laplacian(n, method="stde", key=key, samples=3)(x)
    r = x - center
    expected = (1.5**2 - r @ r) * lap_n - 4.0 * r @ jax.grad(n)(x) - 2.0 * D * n(x)
    assert_close(got, expected)
    assert not np.allclose(got, _lap_ref(u, x))  # an estimate, not the exact value
    # the estimator is unbiased: the mean over keys approaches the exact Laplacian
    keys = jax.random.split(jax.random.key(8), 4000)
    est = jax.vmap(lambda k: u.laplacian(method="stde", key=k, samples=3)(x))(keys)
    assert abs(float(jnp.mean(est)) - float(_lap_ref(u, x))) < 4 * float(jnp.std(est)) / 63


def test_pinn_unit_ball_ansatz_is_the_ball_ansatz():
    from nestax import pinn

    params, _ = _net(15, out=1)
    n = lambda x: mlp(params, x)[0]
    u = pinn.unit_ball_ansatz(D, radius=1.5).wrap(n)
    assert isinstance(u, nx.BallAnsatz)
    x = 0.4 * _point(4)
    assert_close(u(x), (1.5**2 - x @ x) * n(x))
    assert_close(u.laplacian()(x), _lap_ref(u, x))
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        u.distance(jnp.ones(3))


def _basis_loops(jaxpr):
    """The loops of the basis's Gram–Schmidt (one per block of columns; nothing else loops)."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("while", "scan"):  # fori_loop: a scan when its length is known
            out.append(eqn)
        for v in eqn.params.values():
            inner = getattr(v, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                out.extend(_basis_loops(inner))
    return out


def test_basis_is_computed_once_per_batch_under_vmap_and_grad():
    params, _ = _net(12, d=40, width=4)
    xs = jax.random.normal(jax.random.key(0), (32, 40))

    def loss(p):
        u = lambda x: mlp(p, x)[0]
        return jnp.mean(jax.vmap(nx.laplacian(u))(xs) ** 2)

    assert "reduced" == nx.explain(nx.laplacian, lambda x: mlp(params, x)[0], xs[0]).method
    loops = _basis_loops(jax.make_jaxpr(jax.value_and_grad(loss))(params).jaxpr)
    assert len(loops) == 1
    shapes = [v.aval.shape for v in loops[0].invars]
    assert (40, 4) in shapes  # unbatched: once per batch, not per point
    assert not any(len(s) == 3 for s in shapes)


def test_precomputed_basis_and_second_order_raises():
    params, net = _net(13)
    u = lambda x: net(x)[0]
    x = _point()
    basis = reduction_basis(u, jnp.zeros(D))
    assert basis.k == WIDTH
    terms = {tuple(2 * (i == j) for i in range(D)): 1.0 for j in range(D)}
    assert_close(apply_reduced(terms, u, x, basis=basis), _lap_ref(u, x))

    def loss(p):
        return apply_reduced(terms, lambda y: mlp(p, y)[0], x)

    with pytest.raises(NotImplementedError, match="first derivatives"):
        jax.hessian(loss)(params)


def test_closed_form_in_twenty_thousand_dimensions():
    # u = v · tanh(W x + b): Δu = Σ_i v_i tanh''(z_i) |w_i|², with tanh'' = -2 tanh (1 - tanh²).
    d, n = 20_000, 8
    kw, kv, kx = jax.random.split(jax.random.key(14), 3)
    w = jax.random.normal(kw, (n, d)) / np.sqrt(d)
    v = jax.random.normal(kv, (n,))
    u = lambda x: v @ jnp.tanh(w @ x + 0.1)
    xs = jax.random.normal(kx, (4, d))
    got = jax.jit(jax.vmap(nx.laplacian(u)))(xs)
    t = jnp.tanh(xs @ w.T + 0.1)
    ref = ((-2 * t * (1 - t**2)) * jnp.sum(w**2, axis=1)[None]) @ v
    assert_close(got, ref)
    assert nx.explain(nx.laplacian, u, xs[0]).method == "reduced"


@pytest.mark.parametrize("d,n,rank", [(50, 7, 7), (120, 70, 70), (120, 70, 41), (30, 45, 30)])
def test_orthonormal_columns_span_the_columns_also_when_rank_deficient(d, n, rank):
    """Gram–Schmidt basis vs numpy's SVD (float64): orthonormal or zero columns, as many
    non-zero as the rank, and the projection on them reproduces every column."""
    rng = np.random.default_rng(d + n + rank)
    a = rng.normal(size=(d, rank)) @ rng.normal(size=(rank, n))  # rank-deficient if rank < n
    a[:, 5] = 0.0  # a dead reader
    q = np.asarray(orthonormal_columns(jnp.asarray(a)))
    expected_rank = np.linalg.matrix_rank(a)
    nonzero = np.linalg.norm(q, axis=0) > 0.5
    assert nonzero.sum() == expected_rank
    qn = q[:, nonzero]
    np.testing.assert_allclose(qn.T @ qn, np.eye(expected_rank), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(q[:, ~nonzero], axis=0), 0.0)
    np.testing.assert_allclose(q @ (q.T @ a), a, atol=1e-10 * np.abs(a).max())
