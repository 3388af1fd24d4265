"""The Taylor-mode engine against nested `jax.jacfwd` (float64), alone and inside training.

References are independent of the engine: the K-th derivative of ``t -> f(x + t v)`` by K
nested `jax.jacfwd` over the scalar ``t``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.extend.core import Primitive

from nestax._taylor import (
    UnsupportedPrimitiveError,
    collapsed_directional,
    register_elementwise,
    register_linear,
    taylor_directional,
    taylor_directional_reference,
    taylor_directional_top,
    unsupported_reason,
)

from ._helpers import ACTIVATIONS, assert_close, init_mlp, mlp

ACTS = {**ACTIVATIONS, "logistic": jax.nn.sigmoid, "erf": jax.scipy.special.erf}
RTOL = 1e-8  # the bar: agreement to 1e-8 relative in float64
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


@functools.partial(jax.jit, static_argnums=(0, 3))
def reference(f, x, directions, order):
    """``(K, R, *out)``: d^j/dt^j f(x + t v_r) at t = 0 by nested jacfwd over t.

    All directions at once: ``t -> vmap(f)(x + t V)``. Jitted: one compilation costs less than
    running nested transformations op by op.
    """
    g = lambda t: jax.vmap(f)(x[None] + t * directions)
    ders = []
    for _ in range(order):
        g = jax.jacfwd(g)
        ders.append(g(jnp.zeros((), x.dtype)))
    return jax.tree_util.tree_map(lambda *d: jnp.stack(d), *ders)


def close(actual, expected, rtol=RTOL):
    scale = float(jnp.max(jnp.abs(expected))) + 1e-300
    assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@st.composite
def problems(draw):
    d = draw(st.integers(1, 8))
    depth = draw(st.integers(1, 4))
    act = draw(st.sampled_from(sorted(ACTS)))
    order = draw(st.integers(1, 4))
    n_dirs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return d, depth, act, order, n_dirs, seed


def setup(d, depth, act, n_dirs, seed, width=4, m=2):
    key = jax.random.PRNGKey(seed)
    k1, k2, k3 = jax.random.split(key, 3)
    params = init_mlp(k1, [d] + [width] * depth + [m])
    x = jax.random.normal(k2, (d,))
    dirs = jax.random.normal(k3, (n_dirs, d))
    return params, x, dirs, functools.partial(mlp, act=ACTS[act])


def check_directional(problem):
    d, depth, act, order, n_dirs, seed = problem
    params, x, dirs, net = setup(d, depth, act, n_dirs, seed)
    f = lambda z: net(params, z)
    expected = reference(f, x, dirs, order)
    w = jnp.linspace(-1.5, 2.0, n_dirs)

    @jax.jit
    def engine(x):
        return taylor_directional(f, x, dirs, order), collapsed_directional(f, x, dirs, w, order)

    (y0, coeffs), (y0c, top) = engine(x)
    close(y0, f(x))
    close(y0c, f(x))
    close(coeffs, expected)
    close(top, jnp.tensordot(w, expected[-1], axes=1))


@SETTINGS
@given(problems())
def test_directional_matches_nested_jacfwd(problem):
    check_directional(problem)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_activation_at_order_four(act):
    check_directional((3, 3, act, 4, 2, 7))


@settings(max_examples=8, deadline=None, derandomize=True)
@given(problems())
def test_inside_grad_jit_vmap(problem):
    """jit(grad) over parameters of a loss of collapsed coefficients at a batch of points.

    The reference is the derivative of the nested-jacfwd loss along a random parameter
    direction (forward mode, much cheaper than reverse-over-forward^4); any wrong gradient
    component shows in a random projection.
    """
    d, depth, act, order, n_dirs, seed = problem
    params, _, dirs, net = setup(d, depth, act, n_dirs, seed, m=1)
    xs = jax.random.normal(jax.random.PRNGKey(seed + 1), (3, d))
    w = jnp.linspace(1.0, -0.5, n_dirs)

    def loss(p, engine):
        f = lambda z: net(p, z)
        tops = jax.vmap(lambda x: engine(f, x))(xs)
        return jnp.mean(tops**2)

    ours = lambda f, x: collapsed_directional(f, x, dirs, w, order)[1]
    ref = lambda f, x: jnp.tensordot(w, reference(f, x, dirs, order)[-1], axes=1)
    g = jax.jit(jax.grad(lambda p: loss(p, ours)))(params)
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 2), len(leaves))
    delta = tree.unflatten(
        [jax.random.normal(k, v.shape) for k, v in zip(keys, leaves, strict=True)]
    )
    _, slope = jax.jit(lambda p, t: jax.jvp(lambda p: loss(p, ref), (p,), (t,)))(params, delta)
    projected = sum(map(jnp.vdot, jax.tree.leaves(g), jax.tree.leaves(delta)))
    close(projected, slope)


def test_reference_implementation_agrees():
    params, x, dirs, net = setup(3, 2, "tanh", 2, 0)
    f = lambda z: net(params, z)
    close(taylor_directional_reference(f, x, dirs, 3)[1], reference(f, x, dirs, 3))


def test_top_only_matches_full():
    params, x, dirs, net = setup(3, 2, "sin", 3, 1)
    f = lambda z: net(params, z)
    _, top = taylor_directional_top(f, x, dirs, 3)
    close(top, taylor_directional(f, x, dirs, 3)[1][-1])


# --------------------------------------------------------------------------- rule coverage


def _zoo(x):
    """One function touching every rule family the engine ships."""
    W = jnp.arange(12.0).reshape(3, 4) / 10 - 0.5
    h = x @ W + 0.1  # dot_general with a constant, add
    a = jnp.tanh(h) * jnp.sin(h) - jnp.cos(h) / (2.0 + h**2)  # mul, div, sub, integer_pow
    b = jnp.exp(-(h**2)) + jnp.log1p(h**2) + jnp.expm1(0.3 * h) + jnp.log(1.5 + jnp.sin(h))
    c = jnp.sqrt(1.0 + h**2) + (1.0 + h**2) ** 1.5 + jax.scipy.special.erf(h) + jnp.arctan(h)
    c = c + jax.lax.rsqrt(2.0 + h**2) + jnp.cbrt(h + 3.0) + jnp.tan(0.3 * h) + jnp.sinh(h)
    e = jnp.maximum(h, 0.05) + jnp.minimum(h, -0.05) + jnp.where(h > 0.2, h**2, -h)
    e = e + jnp.abs(h) + jnp.clip(h, -0.3, 0.4) + jax.nn.softplus(h) + jax.nn.sigmoid(h)
    e = e + jax.nn.relu(h) + jax.nn.gelu(h) + jnp.arctan2(h, 2.0 + h**2) + jnp.fmod(h, 0.7)
    m = jnp.outer(h, a)  # dot_general with two input-dependent operands
    s = jnp.concatenate([m[:2].reshape(-1), m.T[1:3, ::2].ravel()])  # structural
    s = jnp.sum(s) + jnp.max(b) + jnp.min(c) + jnp.prod(jnp.stack([b[0], c[1]]))
    y = jnp.expand_dims(e, 0).squeeze() * s + x.astype(jnp.float32).astype(x.dtype)[0]
    k = jax.checkpoint(lambda z: jnp.sin(z) ** 3)(y)
    p = jax.jit(lambda z: z * jnp.cosh(z) + z ** jnp.float64(2.5) * 0.01)(jnp.abs(y) + 0.1)
    return k + p + jnp.mean(h) * x[1] ** x[2]


@pytest.mark.parametrize("order", [1, 3])
def test_rule_zoo(order):
    x = jnp.array([0.3, -0.7, 0.45])
    dirs = jnp.array([[1.0, -0.5, 0.25], [0.2, 0.3, -0.4]])
    w = np.array([0.5, -2.0])

    @jax.jit
    def engine(x):
        return taylor_directional(_zoo, x, dirs, order)[1], collapsed_directional(
            _zoo, x, dirs, w, order
        )[1]

    coeffs, top = engine(x)
    close(coeffs, reference(_zoo, x, dirs, order))
    close(top, w[0] * coeffs[-1, 0] + w[1] * coeffs[-1, 1])


def test_custom_vjp_is_refused_by_name_not_run_through_its_body():
    """Nested AD differentiates a custom_vjp function by its backward rule only; Taylor mode
    cannot, so the engine refuses it (running the body would ignore the rule)."""

    @jax.custom_vjp
    def g(x):
        return jnp.sin(x) * x

    g.defvjp(lambda x: (g(x), x), lambda x, ct: (ct * 0,))  # deliberately not the body's
    x, dirs = jnp.array([0.4, 1.1]), jnp.eye(2)
    f = lambda z: g(z) + z[0] * z[1]
    with pytest.raises(UnsupportedPrimitiveError, match="custom_vjp function `g`"):
        taylor_directional(f, x, dirs, 3)
    assert "custom_vjp function `g`" in unsupported_reason(f, x)


def test_custom_jvp_rule_is_honoured_not_the_body():
    """A custom_jvp rule that differs from its body: every order follows the rule, as nested
    jax.jvp does (reference: nested jvp along each direction)."""

    @jax.custom_jvp
    def g(x):
        return jnp.sin(x)

    g.defjvp(lambda p, t: (g(p[0]), 2.0 * jnp.cos(p[0]) * t[0]))
    x, dirs = jnp.array([0.4, 1.1]), jnp.array([[1.0, 0.5], [-0.3, 2.0]])
    f = lambda z: jnp.tanh(g(z) * z[::-1])
    close(taylor_directional(f, x, dirs, 3)[1], reference(f, x, dirs, 3))
    w = np.array([1.5, -0.5])
    expected = reference(f, x, dirs, 3)[-1]
    close(collapsed_directional(f, x, dirs, w, 3)[1], w[0] * expected[0] + w[1] * expected[1])


def test_matrix_input_pytree_output_and_traced_weights():
    x = jnp.array([[0.3, -0.2, 0.5], [0.1, 0.7, -0.4]])
    dirs = jnp.stack([jnp.ones((2, 3)), jnp.arange(6.0).reshape(2, 3) / 6])
    f = lambda z: {"a": jnp.tanh(z @ z.T), "b": jnp.sum(jnp.sin(z), axis=0)}
    coeffs = jax.jit(lambda x: taylor_directional(f, x, dirs, 3)[1])(x)
    jax.tree_util.tree_map(close, coeffs, reference(f, x, dirs, 3))
    # weights that are tracers (inside jit) take the general path
    top = jax.jit(lambda w: collapsed_directional(f, x, dirs, w, 3)[1])(jnp.array([2.0, -1.0]))
    expected = jax.tree_util.tree_map(lambda c: 2.0 * c[-1, 0] - c[-1, 1], coeffs)
    jax.tree_util.tree_map(close, top, expected)


def test_convolution_both_ways():
    """conv_general_dilated with a constant kernel (linear) and an input-dependent one."""
    kernel = jnp.array([[[0.5, -1.0, 0.25]]])

    def f(z):
        signal = jnp.tanh(z)[None, None, :]
        h = jax.lax.conv_general_dilated(signal, kernel, (1,), "SAME")
        k2 = jnp.sin(z[:3])[None, None, :]
        return jax.lax.conv_general_dilated(jnp.tanh(h), k2, (1,), "VALID").ravel()

    x, dirs = jnp.linspace(-1.0, 1.0, 6), jax.random.normal(jax.random.PRNGKey(4), (2, 6))
    got = jax.jit(lambda x: taylor_directional(f, x, dirs, 3)[1])(x)
    close(got, reference(f, x, dirs, 3))
    top = jax.jit(lambda x: collapsed_directional(f, x, dirs, np.array([1.0, -3.0]), 3)[1])(x)
    close(top, got[-1, 0] - 3.0 * got[-1, 1])


def test_symbolic_zeros_and_constants():
    x, dirs = jnp.array([0.5, 2.0]), jnp.eye(2)
    f = lambda z: (3.0 * z - 1.0, jnp.ones(2), jnp.argmax(z))
    y0, coeffs = taylor_directional(f, x, dirs, 3)
    close(coeffs[0][0], 3.0 * dirs)
    assert not np.any(coeffs[0][1:]) and not np.any(coeffs[1]) and not np.any(coeffs[2])
    assert coeffs[2].shape == (3, 2) and y0[2] == 1


def test_bad_arguments_are_named():
    f = jnp.sin
    with pytest.raises(ValueError, match="directions"):
        taylor_directional(f, jnp.ones(3), jnp.ones((2, 4)), 2)
    with pytest.raises(ValueError, match="order"):
        taylor_directional(f, jnp.ones(3), jnp.ones((2, 3)), 0)
    with pytest.raises(ValueError, match="weights"):
        collapsed_directional(f, jnp.ones(3), jnp.ones((2, 3)), jnp.ones(3), 2)
    with pytest.raises(TypeError, match="floating"):
        taylor_directional(f, jnp.ones(3, jnp.int32), jnp.ones((2, 3)), 2)


# --------------------------------------------------------------------------- unsupported


def _while(x):
    return jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (jnp.sin(c[0]), c[1] + 1), (x, 0))[0]


def _cond(x):
    return jax.lax.cond(x[0] > 0, jnp.sin, jnp.cos, x)


def _scan(x):
    return jax.lax.scan(lambda c, _: (jnp.sin(c), None), x, length=3)[0]


def _scan_xs(x):  # scanned inputs and outputs that carry coefficients, a carry that starts plain
    def step(c, xi):
        return c * jnp.tanh(xi) + xi, jnp.sin(c * xi)

    c, ys = jax.lax.scan(step, jnp.ones(2), jnp.stack([x, x**2, -x]))
    return jnp.sum(ys) * c


@pytest.mark.parametrize(
    "fn", [_while, _cond, _scan, _scan_xs], ids=["while", "cond", "scan", "xs"]
)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_control_flow_against_nested_jvp(fn, order):
    x, dirs = jnp.array([0.3, 0.2]), jnp.array([[1.0, 0.5], [-0.4, 1.2]])
    assert unsupported_reason(fn, x, order=order) is None
    close(taylor_directional(fn, x, dirs, order)[1], reference(fn, x, dirs, order))
    w = np.array([0.7, -1.3])
    top = reference(fn, x, dirs, order)[-1]
    close(collapsed_directional(fn, x, dirs, w, order)[1], w[0] * top[0] + w[1] * top[1])


def _new_primitive(name, impl):
    prim = Primitive(name)
    prim.def_impl(impl)
    prim.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    return prim


def test_unknown_primitive_and_user_registration():
    cube_p = _new_primitive("nestax_test_cube", lambda x: x**3)
    f = lambda z: jnp.sin(cube_p.bind(z))
    x, dirs = jnp.array([0.3, -0.8]), jnp.array([[1.0, 2.0]])
    with pytest.raises(UnsupportedPrimitiveError, match="nestax_test_cube"):
        taylor_directional(f, x, dirs, 2)
    assert "nestax_test_cube" in unsupported_reason(f, x)

    register_elementwise(cube_p, [lambda x: 3 * x**2, lambda x: 6 * x])
    close(taylor_directional(f, x, dirs, 2)[1], reference(lambda z: jnp.sin(z**3), x, dirs, 2))
    with pytest.raises(UnsupportedPrimitiveError, match="knows 2 derivatives"):
        taylor_directional(f, x, dirs, 3)
    assert "knows 2" in unsupported_reason(f, x, order=3)

    register_elementwise(cube_p, lambda x, y, n: [3 * x**2, 6 * x, 6 + 0 * x, None, None][:n])
    close(taylor_directional(f, x, dirs, 4)[1], reference(lambda z: jnp.sin(z**3), x, dirs, 4))

    double_p = _new_primitive("nestax_test_double", lambda x: 2 * x)
    register_linear(double_p)
    g = lambda z: jnp.tanh(double_p.bind(z))
    close(taylor_directional(g, x, dirs, 3)[1], reference(lambda z: jnp.tanh(2 * z), x, dirs, 3))


def test_engine_composes_with_outer_vmap_of_closures():
    """Closed-over batched tracers become constants of the traced program."""
    params, _, dirs, net = setup(2, 2, "tanh", 2, 3)
    scales = jnp.array([0.5, 1.0, 2.0])
    x = jnp.array([0.1, 0.2])

    def one(s):
        return taylor_directional(lambda z: net(params, s * z), x, dirs, 2)[1]

    got = jax.vmap(one)(scales)
    for i, s in enumerate(scales):
        close(got[i], reference(lambda z, s=s: net(params, s * z), x, dirs, 2))
