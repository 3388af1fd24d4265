"""Every public operator × method against nested ``jax.jacfwd`` in float64.

Each case checks, on a random MLP whose hidden layers use tanh, sin, rbf and softplus in turn
(one network covers all four activations and compiles once per case): the value at a batch of
points under ``jit(vmap(...))``, and the gradient of a squared-operator loss with respect to
the network's parameters (the operator inside ``jax.grad``), against the same loss built on the
reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import nestax as nx
from nestax._strategies import REGISTRY, names_for

from ._helpers import ACTIVATIONS, assert_close, init_mlp

D, M, B = 3, 2, 4


def _nest(f, k):
    for _ in range(k):
        f = jax.jacfwd(f)
    return f


def _ref_partial(f, alpha):
    """∂^alpha f by nested jax.jacfwd, one scalar coordinate at a time."""
    g = f
    for i, a in enumerate(alpha):
        for _ in range(a):
            g = lambda x, g=g, i=i: jax.jacfwd(lambda xi: g(x.at[i].set(xi)))(x[i])
    return g


def exact(kind):
    """The exact methods the strategy registry lists for a kind of problem: a new strategy is
    tested here by being registered."""
    return [n for n in names_for(kind) if REGISTRY[n].EXACT]


# (name, builder(net_scalar, net_vector, net_field, net_time) -> (op, ref), input kind)
# input kinds: "point" x (D,), "time" t (), "batch" X (B, D)
def _cases():
    cases = []
    for m in (*exact("jacobian"), "auto"):
        cases.append(
            ("gradient", m, lambda s, v, fld, t, m=m: (nx.gradient(s, m), jax.jacfwd(s)), "point")
        )
        cases.append(
            ("jacobian", m, lambda s, v, fld, t, m=m: (nx.jacobian(v, m), jax.jacfwd(v)), "point")
        )
        cases.append(
            (
                "divergence",
                m,
                lambda s, v, fld, t, m=m: (
                    nx.divergence(fld, m),
                    lambda x: jnp.trace(jax.jacfwd(fld)(x)),
                ),
                "point",
            )
        )
        cases.append(
            (
                "batch_jacobian",
                m,
                lambda s, v, fld, t, m=m: (
                    nx.batch_jacobian(jax.vmap(v), m),
                    jax.vmap(jax.jacfwd(v)),
                ),
                "batch",
            )
        )
    for m in (*exact("hessian"), "auto"):
        cases.append(
            ("hessian", m, lambda s, v, fld, t, m=m: (nx.hessian(s, m), _nest(s, 2)), "point")
        )
    for m in (*exact("laplacian"), "auto"):
        cases.append(
            (
                "laplacian",
                m,
                lambda s, v, fld, t, m=m: (
                    nx.laplacian(v, m),
                    lambda x: jnp.trace(_nest(v, 2)(x), axis1=-2, axis2=-1),
                ),
                "point",
            )
        )
    for m in (*exact("derivative"), "auto"):
        for k in (1, 3) if "reverse" in m else (1, 2, 4):
            cases.append(
                (
                    f"derivative{k}",
                    m,
                    lambda s, v, fld, t, m=m, k=k: (
                        nx.derivative(t, order=k, method=m),
                        _nest(t, k),
                    ),
                    "time",
                )
            )
    for m in (*exact("apply"), "auto"):
        cases.append(
            (
                "biharmonic",
                m,
                lambda s, v, fld, t, m=m: (
                    nx.apply(nx.Biharmonic(), v, m),
                    lambda x: jnp.einsum("...iijj->...", _nest(v, 4)(x)),
                ),
                "point",
            )
        )
    for m in (*exact("partial"), "auto"):
        for alpha in ((1, 0, 0), (0, 2, 0), (1, 1, 0), (2, 0, 1), (1, 1, 1), (0, 3, 1)):
            cases.append(
                (
                    f"partial{alpha}",
                    m,
                    lambda s, v, fld, t, m=m, alpha=alpha: (
                        nx.partial(v, alpha, m),
                        _ref_partial(v, alpha),
                    ),
                    "point",
                )
            )
    return cases


CASES = _cases()


ACTS = [ACTIVATIONS[name] for name in ("tanh", "sin", "rbf", "softplus")]


def mixed_mlp(params, x):
    """Hidden layer i uses activation i of tanh, sin, rbf, softplus."""
    h = x
    for (w, b), act in zip(params[:-1], ACTS, strict=False):
        h = act(h @ w + b)
    w, b = params[-1]
    return h @ w + b


@pytest.fixture(scope="module")
def nets():
    key = jax.random.key(7)
    k1, k2, k3, k4, kx = jax.random.split(key, 5)
    hidden = [6, 6, 6, 6]
    params = {
        "s": init_mlp(k1, [D, *hidden, 1]),
        "v": init_mlp(k2, [D, *hidden, M]),
        "fld": init_mlp(k3, [D, *hidden, D]),
        "t": init_mlp(k4, [1, *hidden, M]),
    }

    def build(p):
        s = lambda x: mixed_mlp(p["s"], x)[0]
        v = lambda x: mixed_mlp(p["v"], x)
        fld = lambda x: mixed_mlp(p["fld"], x)
        t = lambda x: mixed_mlp(p["t"], x[None])
        return s, v, fld, t

    xs = jax.random.uniform(kx, (B, D), jnp.float64, -1.0, 1.0)
    return build, params, xs


def _inputs(kind, xs):
    return {"point": xs, "time": xs[:, 0], "batch": xs}[kind]


def _values_and_grads(build, params, inputs, make, kind, which):
    """One compile: the operator's values at the inputs and the gradient of their squared sum
    with respect to the parameters (``which`` 0 = nestax, 1 = the reference)."""
    mapped = (lambda g: g) if kind == "batch" else jax.vmap

    def loss(p):
        values = mapped(make(*build(p))[which])(inputs)
        return jnp.sum(values**2), values

    (_, values), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return values, grads


_REFERENCES: dict[str, tuple] = {}  # the reference of an operator is shared by its methods


@pytest.mark.parametrize("name,method,make,kind", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_operator_matches_reference(nets, name, method, make, kind):
    """Every registered method, values and parameter gradients; a method that cannot compute
    this operator at all (iterated Laplacians of a Laplacian, a reduction of one coordinate)
    refuses with a nestax error that names the methods which apply."""
    build, params, xs = nets
    inputs = _inputs(kind, xs)
    structural = {("laplacian", "iterated")} | {
        (name, m) for m in ("reduced", "iterated") if name.startswith(("derivative", "partial"))
    }
    if (name, method) in structural:
        with pytest.raises(nx.MethodNotApplicableError, match="Methods that apply here: '"):
            _values_and_grads(build, params, inputs, make, kind, 0)
        return
    got, g_got = _values_and_grads(build, params, inputs, make, kind, 0)
    if name not in _REFERENCES:
        _REFERENCES[name] = _values_and_grads(build, params, inputs, make, kind, 1)
    want, g_want = _REFERENCES[name]
    assert got.shape == want.shape
    assert_close(got, want, rtol=1e-9, atol=1e-11)
    for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_want), strict=True):
        assert_close(a, b, rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------- closed forms


def test_closed_forms():
    x = jnp.array([0.3, -0.7, 1.1])
    u = lambda x: jnp.sin(x[0]) * jnp.exp(x[1]) + x[2] ** 3 * x[0]
    s0, c0, e1 = jnp.sin(x[0]), jnp.cos(x[0]), jnp.exp(x[1])
    grad = jnp.array([c0 * e1 + x[2] ** 3, s0 * e1, 3 * x[2] ** 2 * x[0]])
    hess = jnp.array(
        [
            [-s0 * e1, c0 * e1, 3 * x[2] ** 2],
            [c0 * e1, s0 * e1, 0.0],
            [3 * x[2] ** 2, 0.0, 6 * x[2] * x[0]],
        ]
    )
    assert_close(nx.gradient(u)(x), grad)
    assert_close(nx.hessian(u)(x), hess)
    assert_close(nx.laplacian(u)(x), jnp.trace(hess))
    assert_close(nx.partial(u, (1, 1, 0))(x), c0 * e1)
    assert_close(nx.partial(u, (3, 1, 0))(x), -c0 * e1)
    assert_close(nx.partial(u, (1, 0, 3))(x), 6.0)
    assert_close(nx.apply(nx.Biharmonic(), u)(x), s0 * e1 + s0 * e1 - 2 * s0 * e1)
    field = lambda x: jnp.array([x[0] ** 2, x[0] * x[1], jnp.sin(x[2])])
    assert_close(nx.divergence(field)(x), 2 * x[0] + x[0] + jnp.cos(x[2]))
    assert_close(nx.derivative(jnp.exp, order=5)(0.4), jnp.exp(0.4))
    assert_close(nx.derivative(lambda t: t**6, order=3)(2.0), 120 * 8.0)


def test_nesting_operators():
    x = jnp.array([0.2, 0.5])
    u = lambda x: jnp.sin(x[0] * x[1]) + x[0] ** 4
    # Laplacian of a gradient component equals that component of the gradient of the Laplacian.
    lap_of_grad0 = nx.laplacian(lambda z: nx.gradient(u)(z)[0])(x)
    grad_of_lap = nx.gradient(nx.laplacian(u))(x)
    assert_close(lap_of_grad0, grad_of_lap[0], rtol=1e-12)
    # Fourth derivative as derivative of derivative.
    f = lambda t: jnp.tanh(2 * t) * t
    d4 = nx.derivative(f, order=4)(0.3)
    d22 = nx.derivative(nx.derivative(f, order=2), order=2)(0.3)
    assert_close(d4, d22, rtol=1e-12)
    assert_close(d4, _nest(f, 4)(0.3), rtol=1e-12)


def test_operator_algebra_matches_sum_of_partials():
    x = jnp.array([0.1, 0.4, -0.3])
    u = lambda x: jnp.tanh(x @ jnp.array([0.5, -1.0, 2.0])) * jnp.cos(x[1])
    op = nx.Partial((1, 0, 0)) - 0.3 * nx.Laplacian() + 2.0 * nx.Partial((0, 1, 2))
    ref = (
        _ref_partial(u, (1, 0, 0))(x)
        - 0.3 * jnp.trace(_nest(u, 2)(x))
        + 2.0 * _ref_partial(u, (0, 1, 2))(x)
    )
    assert_close(nx.apply(op, u)(x), ref)
    assert_close(nx.apply(-op, u)(x), -ref)
    biharm = nx.apply(nx.Biharmonic(), u)(x)
    lap_lap = jnp.trace(_nest(lambda z: jnp.trace(_nest(u, 2)(z)), 2)(x))
    assert_close(biharm, lap_lap, rtol=1e-10)


# ----------------------------------------------------------------------- has_aux, batches


def test_has_aux_passes_state_through():
    x = jnp.array([0.3, 0.6])
    f = lambda x: (jnp.sum(jnp.sin(x)), {"norm": jnp.linalg.norm(x)})
    for op in (nx.gradient, nx.hessian, nx.laplacian, nx.jacobian):
        value, aux = op(f, has_aux=True)(x)
        plain = op(lambda z: f(z)[0])(x)
        assert_close(value, plain)
        assert_close(aux["norm"], jnp.linalg.norm(x))
    value, aux = nx.partial(f, (2, 1), has_aux=True)(x)
    assert_close(aux["norm"], jnp.linalg.norm(x))
    value, aux = nx.derivative(lambda t: (jnp.sin(t), t * 2), order=3, has_aux=True)(0.5)
    assert_close(value, -jnp.cos(0.5))
    assert_close(aux, 1.0)


def test_full_batch_jacobian_of_batch_coupled_function():
    """A normalisation over the batch couples samples: the full (B, m, B, d) Jacobian."""
    X = jax.random.normal(jax.random.key(1), (5, 2))

    def f(X):
        Z = jnp.tanh(X)
        return (Z - Z.mean(0, keepdims=True)) / jnp.sqrt(Z.var(0, keepdims=True) + 1e-5)

    J = nx.jacobian(f)(X)
    assert J.shape == (5, 2, 5, 2)
    assert_close(J, jax.jacfwd(f)(X))
    assert_close(nx.jacobian(f, "reverse")(X), jax.jacfwd(f)(X))
    # Off-diagonal sample blocks are non-zero: per-sample Jacobians would be wrong here.
    assert float(jnp.abs(J[0, :, 1, :]).max()) > 1e-3


# ----------------------------------------------------------------------- explain


def test_explain_choices_follow_shapes():
    scalar = lambda x: jnp.sum(jnp.tanh(x))
    assert nx.explain(nx.gradient, scalar, jnp.ones(50)).method == "reverse"
    assert nx.explain(nx.jacobian, lambda x: jnp.tanh(x) * x[0], jnp.ones(1)).method == "forward"
    assert nx.explain(nx.hessian, scalar, jnp.ones(20)).method == "forward-over-reverse"
    plan = nx.explain(nx.laplacian, scalar, jnp.ones(20))
    text = str(plan)
    assert plan.method in text and "why" in text and "estimated cost" in text
    plan = nx.explain(nx.hessian, scalar, jnp.ones(3), method="reverse-over-reverse")
    assert plan.method == "reverse-over-reverse" and "explicitly" in str(plan)
    assert nx.explain(nx.derivative, jnp.sin, 0.5, order=3).method in nx.METHODS
    assert nx.explain(nx.Laplacian(), scalar, jnp.ones(4)).method in nx.METHODS


def test_auto_falls_back_to_nested_where_the_engine_declines():
    x = jnp.array([0.3, -0.2])

    @jax.custom_vjp
    def g(z):
        return jnp.sin(z)

    g.defvjp(lambda z: (g(z), z), lambda z, ct: (2.0 * jnp.cos(z) * ct,))
    # custom_vjp, whose fwd calls g itself: only reverse-over-reverse differentiates it twice
    u = lambda x: jnp.sum(g(x) * x[::-1])
    plan = nx.explain(nx.laplacian, u, x)
    assert plan.method == "reverse-over-reverse"
    assert "custom_vjp" in str(plan) and "falling back" in str(plan)
    assert_close(nx.laplacian(u)(x), jnp.trace(jax.jacrev(jax.jacrev(u))(x)))
    with pytest.raises(NotImplementedError, match="custom_vjp.*Methods that apply"):
        nx.laplacian(u, method="collapsed")(x)
    with pytest.raises(NotImplementedError, match="custom_vjp"):
        nx.apply(nx.Biharmonic(), u, method="taylor")(x)


def test_control_flow_runs_in_the_engine():
    x = jnp.array([0.3, -0.2])

    def u(x):  # lax.cond on the input, branch by branch
        return jax.lax.cond(x[0] > 0, lambda z: jnp.sin(z).sum() * z[1], lambda z: z.sum(), x)

    assert nx.explain(nx.laplacian, u, x).method == "collapsed"
    for method in ("taylor", "collapsed", "auto"):
        assert_close(nx.laplacian(u, method=method)(x), jnp.trace(_nest(u, 2)(x)))


def test_randomized_methods_through_the_public_operators():
    """STDE with all d coordinates is exact; Hutchinson is unbiased (3 standard errors)."""
    x = jnp.linspace(0.1, 1.0, 6)
    u = lambda x: jnp.sum(jnp.sin(x)) * x[0] + jnp.prod(jnp.cos(x))
    exact = jnp.trace(_nest(u, 2)(x))
    key = jax.random.key(3)
    assert_close(nx.apply(nx.Laplacian(), u, method="stde", key=key, samples=6)(x), exact)
    keys = jax.random.split(key, 4000)
    est = jax.vmap(lambda k: nx.laplacian(u, method="hutchinson", key=k, samples=1)(x))(keys)
    assert abs(float(est.mean() - exact)) < 3 * float(est.std()) / jnp.sqrt(est.size)
    assert "unbiased, not exact" in str(nx.explain(nx.laplacian, u, x, method="stde"))
    assert nx.explain(nx.laplacian, u, x).method not in ("hutchinson", "stde")
    with pytest.raises(TypeError, match="samples"):
        nx.laplacian(u, samples=3)
    with pytest.raises(ValueError, match="key"):
        nx.laplacian(u, method="stde", samples=3)(x)


# ----------------------------------------------------------------------- bad input

SCALAR = lambda x: jnp.sum(x**2)
VECTOR = lambda x: x**2


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: nx.gradient(SCALAR)(jnp.ones((2, 3))), ValueError, ["`x`", "(d,)", "(2, 3)"]),
        (lambda: nx.laplacian(SCALAR)(jnp.ones(())), ValueError, ["`x`", "(d,)", "()"]),
        (lambda: nx.gradient(VECTOR)(jnp.ones(3)), ValueError, ["scalar", "(3,)"]),
        (lambda: nx.hessian(VECTOR)(jnp.ones(3)), ValueError, ["scalar", "(3,)"]),
        (lambda: nx.partial(SCALAR, (1, 0))(jnp.ones(3)), ValueError, ["alpha", "(1, 0)", "d=3"]),
        (lambda: nx.partial(SCALAR, (1, -1, 0)), ValueError, ["alpha", "non-negative", "-1"]),
        (lambda: nx.partial(SCALAR, (1.5, 0, 0)), ValueError, ["alpha", "1.5"]),
        (lambda: nx.derivative(jnp.sin, order=0), ValueError, ["order", ">= 1", "0"]),
        (lambda: nx.derivative(jnp.sin)(jnp.ones(2)), ValueError, ["`x`", "()", "(2,)"]),
        (
            lambda: nx.divergence(lambda x: x[:2])(jnp.ones(3)),
            ValueError,
            ["output shape", "(3,)", "(2,)"],
        ),
        (
            lambda: nx.gradient(SCALAR, method="sideways"),
            ValueError,
            ["method", "sideways", "forward"],
        ),
        (
            lambda: nx.gradient(SCALAR, method="forward-over-reverse"),
            ValueError,
            ["method", "forward-over-reverse"],
        ),
        (lambda: nx.hessian(SCALAR, method="reverse"), ValueError, ["method", "'reverse'"]),
        (lambda: nx.gradient(SCALAR, has_aux=True)(jnp.ones(3)), TypeError, ["has_aux", "pair"]),
        (lambda: nx.gradient(SCALAR)(jnp.ones(3, jnp.int32)), TypeError, ["`x`", "int32"]),
        (lambda: nx.apply("laplacian", SCALAR), TypeError, ["`op`", "str"]),
        (lambda: nx.gradient(3.0), TypeError, ["`f`", "float"]),
        (lambda: nx.batch_jacobian(VECTOR)(jnp.ones(3)), ValueError, ["`xs`", "(3,)"]),
        (lambda: nx.explain(jnp.sin, SCALAR, jnp.ones(3)), TypeError, ["operator"]),
    ],
)
def test_bad_input_names_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def test_batch_jacobian_refuses_a_batch_coupled_function():
    """X - mean(X) couples the samples: its per-sample blocks are (1 - 1/B) I, which the
    per-sample tangent trick would return as zeros; refuse (eagerly and under jit)."""
    coupled = lambda X: X - jnp.mean(X, axis=0, keepdims=True)
    xs = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="couples the samples"):
        nx.batch_jacobian(coupled)(xs)
    with pytest.raises(Exception, match="couples the samples"):
        jax.block_until_ready(jax.jit(nx.batch_jacobian(coupled))(xs))
    full = nx.jacobian(coupled)(xs)
    assert_close(
        full[jnp.arange(4), :, jnp.arange(4), :], 0.75 * jnp.broadcast_to(jnp.eye(2), (4, 2, 2))
    )
    point_wise = lambda X: jnp.tanh(X) * X[:, :1]
    ref = jax.vmap(jax.jacfwd(lambda x: point_wise(x[None])[0]))(xs * 0.3)
    assert_close(nx.batch_jacobian(point_wise)(xs * 0.3), ref)


def test_jacobian_refuses_a_result_over_max_bytes():
    f = lambda X: X * 2.0
    with pytest.raises(ValueError, match=r"298\.0 GiB.*batch_jacobian"):
        nx.jacobian(f)(jnp.ones((100_000, 2)))
    small = jnp.ones((3, 2))
    assert nx.jacobian(f, max_bytes=None)(small).shape == (3, 2, 3, 2)
    with pytest.raises(ValueError, match="max_bytes"):
        nx.jacobian(f, max_bytes=100)(small)


def test_zero_operator_and_missing_point():
    f = lambda x: jnp.sum(jnp.sin(x) ** 2)
    assert_close(nx.apply(nx.Laplacian() - nx.Laplacian(), f)(jnp.ones(3)), 0.0)
    with pytest.raises(TypeError, match="argument `x`.*got None"):
        nx.laplacian(f)(None)
