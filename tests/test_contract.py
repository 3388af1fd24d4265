"""The six reproducers of the correctness contract (float64), each against nested AD.

1. size-1 broadcasting in the engine; 2. ``auto`` falls back on any engine failure;
3. ``custom_jvp`` rules honoured; 4. no stale results when a closed-over value changes;
5. ``auto`` picks what JAX can run (``custom_vjp``, ``while_loop``) and explicit methods that
cannot run name the construct; 6. the rules field networks need (slogdet, det, inv, solve,
sort, cumulative reductions, scatter min/max, complex intermediates, control flow).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nestax as nx
from nestax._taylor import unsupported_reason

from ._helpers import assert_close

X3 = jnp.array([0.3, -0.7, 1.1])


def _lap_ref(f, x, nest=jax.jacfwd):
    return jnp.trace(nest(nest(f))(x), axis1=-2, axis2=-1)


def test_1_size_one_broadcasting():
    fs = [
        lambda x: jnp.sum(jnp.sin(x - jnp.mean(x, keepdims=True))),  # layer-norm-like
        lambda x: jnp.sum(jax.nn.log_softmax(x * X3)),
        lambda x: jnp.std(jnp.tanh(x)),
        lambda x: jnp.sum(jnp.exp(-((x[:, None] - jnp.linspace(-1, 1, 4)[None, :]) ** 2))),
        lambda x: jnp.sum(jnp.maximum(x, jnp.max(x, keepdims=True) * 0.5) ** 2),
    ]
    for f in fs:
        for method in ("auto", "taylor", "collapsed"):
            assert_close(nx.laplacian(f, method=method)(X3), _lap_ref(f, X3))


def test_2_auto_falls_back_on_any_engine_failure(monkeypatch):
    """An engine failure of any kind (here: a rule that raises an arbitrary error) declines
    the Taylor methods under auto, with the reason in explain; explicitly it surfaces."""
    from jax import lax

    from nestax._taylor import _rules

    broken = lambda ctx, *args, **params: (_ for _ in ()).throw(RuntimeError("boom"))
    monkeypatch.setitem(_rules._RULES, lax.sin_p, broken)
    f = lambda x: jnp.sum(jnp.sin(x) * x)
    plan = nx.explain(nx.laplacian, f, X3)
    assert plan.method not in ("taylor", "collapsed")
    assert "boom" in str(plan)
    assert_close(nx.laplacian(f)(X3), _lap_ref(f, X3))
    with pytest.raises(RuntimeError, match="boom"):
        nx.laplacian(f, method="collapsed")(X3)


def test_3_custom_jvp_rules_are_honoured():
    @jax.custom_jvp
    def g(x):
        return jnp.sin(x)

    g.defjvp(lambda p, t: (g(p[0]), 2.0 * jnp.cos(p[0]) * t[0]))  # half of it is the rule's
    cases = [
        (lambda x: jnp.sum(jax.nn.softplus(x)), jnp.zeros(2)),
        (lambda x: jnp.sum(jax.nn.log_sigmoid(x)), jnp.zeros(2)),
        (lambda x: jnp.sum(jax.nn.mish(x)), jnp.zeros(2)),
        (lambda x: jnp.sum(jnp.logaddexp(x, -x)), jnp.zeros(2)),
        (lambda x: jnp.sum(jnp.sinc(x)), jnp.zeros(1)),
        (lambda x: jnp.sum(jax.nn.relu(x) * x), jnp.zeros(2)),
        (lambda x: jnp.sum(g(x) ** 2), X3),
    ]
    for f, x in cases:
        for method in ("auto", "taylor", "collapsed", "nested"):
            assert_close(nx.laplacian(f, method=method)(x), _lap_ref(f, x))
    f = lambda x: jnp.sum(jnp.sinc(x))
    t = jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.jacfwd(f))))(jnp.zeros(1))
    assert_close(nx.apply(nx.Biharmonic(), f)(jnp.zeros(1)), t[0, 0, 0, 0])  # 58.4


def test_3_logaddexp_closed_form_matches_nested_ad_and_its_gradient():
    """jnp.logaddexp's rule refers to its output; through the rule, the parameter gradient of a
    Laplacian through a saturated softplus (inputs ~8e4) lost 6 digits (generated family 292)."""
    h = lambda p, z: p * jnp.exp(z)
    cases = {
        "saturated": (lambda p, z: jnp.logaddexp(h(p, z), 0.0), 3e4),
        "swapped": (lambda p, z: jnp.logaddexp(0.0, h(p, z)), 3e4),
        "both operands": (lambda p, z: jnp.logaddexp(h(p, z), jnp.sin(3 * z) * p), 0.7),
        "tie": (lambda p, z: jnp.logaddexp(h(p, z), h(p, z)), 0.4),
        "minus inf": (lambda p, z: jnp.logaddexp(-jnp.inf, jnp.sin(p * z)), 0.8),
        "softplus": (lambda p, z: jax.nn.softplus(h(p, z) - 1.0), 0.3),
    }
    for name, (f, p) in cases.items():
        for order, operator in ((2, nx.Laplacian()), (4, nx.Biharmonic())):
            for method in ("taylor", "collapsed"):
                _check_against_nested(f, p, order, operator, method, f"{name} {method} {order}")


def _check_against_nested(f, p, order, operator, method, what):
    """``operator`` of ``z -> f(p, z)`` at 1 (a 1-d input) and its derivative in ``p``."""
    x = jnp.ones((1,))

    def ref(p):
        return jnp.sum(_nest(jax.jacfwd, order)(lambda z: jnp.sum(f(p, z[0])))(x))

    def got(p):
        return nx.apply(operator, lambda z: jnp.sum(f(p, z[0])), method=method)(x)

    assert_close(got(p), ref(p), rtol=1e-12, err_msg=what)
    assert_close(jax.grad(got)(p), jax.grad(ref)(p), rtol=1e-12, err_msg=f"d/dp {what}")


def _nest(jac, order):
    def nested(f):
        for _ in range(order):
            f = jac(f)
        return lambda z: jnp.reshape(f(z), (-1,))[0]  # d^order f / dz1^order

    return nested


def test_3_a_user_logaddexp_goes_through_its_own_rule():
    @jax.custom_jvp
    def logaddexp(a, b):
        return jnp.logaddexp(a, b)

    logaddexp.defjvp(lambda p, t: (logaddexp(*p), 3.0 * t[0] * jnp.exp(p[0] - logaddexp(*p))))
    f = lambda x: jnp.sum(logaddexp(x**2, 0.5))
    x = jnp.array([0.3, -0.2])
    assert_close(nx.laplacian(f, method="taylor")(x), _lap_ref(f, x))


def test_4_no_stale_result_when_a_closed_over_value_changes():
    c = 1.0
    f = lambda x: c * jnp.sum(x**3)
    x = jnp.array([0.2, 0.4])
    for method in ("auto", "taylor", "collapsed", "reduced", "nested"):
        c = 1.0
        first = nx.laplacian(f, method=method)(x)
        c = 2.0
        assert_close(nx.laplacian(f, method=method)(x), 2.0 * first)
        assert_close(nx.laplacian(f, method=method)(x), _lap_ref(f, x))


def _custom_vjp_sin():
    @jax.custom_vjp
    def g(x):
        return jnp.sin(x)

    g.defvjp(lambda x: (jnp.sin(x), x), lambda x, ct: (jnp.cos(x) * ct,))
    return g


def test_5_auto_picks_what_jax_can_run():
    g = _custom_vjp_sin()
    f = lambda x: jnp.sum(g(x) * x)
    x = jnp.array([0.2, 0.4])
    assert_close(nx.hessian(f)(x), jax.jacrev(jax.jacrev(f))(x))  # forward mode would fail
    assert_close(nx.laplacian(f)(x), _lap_ref(f, x, jax.jacrev))
    assert_close(nx.gradient(f)(x), jax.grad(f)(x))
    assert_close(nx.partial(f, (1, 2))(x), jax.jacrev(jax.jacrev(jax.jacrev(f)))(x)[0, 1, 1])
    with pytest.raises(nx.MethodNotApplicableError, match="custom_vjp function `g`.*apply here"):
        nx.hessian(f, method="forward-over-forward")(x)
    with pytest.raises(nx.UnsupportedPrimitiveError, match="custom_vjp function `g`"):
        nx.laplacian(f, method="taylor")(x)

    def loop(x):
        return jax.lax.while_loop(
            lambda c: c[1] < 3, lambda c: (jnp.sin(c[0]) * 1.1, c[1] + 1), (x, 0)
        )[0]

    w = lambda x: jnp.sum(loop(x) ** 2)
    assert_close(nx.gradient(w)(x), jax.jacfwd(w)(x))  # reverse mode would fail
    assert_close(nx.hessian(w)(x), jax.jacfwd(jax.jacfwd(w))(x))
    assert_close(nx.laplacian(w)(x), _lap_ref(w, x))
    with pytest.raises(nx.MethodNotApplicableError, match="while_loop.*apply here"):
        nx.gradient(w, method="reverse")(x)


FOURTH_ORDER = ("slogdet", "sort", "cummax", "complex", "scan", "cond")


def test_6_rules_field_networks_need():
    A = jnp.array([[2.0, 0.3, -0.1], [0.2, 1.5, 0.4], [0.0, -0.3, 1.8]])
    fs = {
        "slogdet": lambda x: jnp.linalg.slogdet(A + jnp.outer(x, jnp.tanh(x)))[1],
        "det": lambda x: jnp.linalg.det(A + jnp.outer(x, x)),
        "inv": lambda x: jnp.sum(jnp.linalg.inv(A + jnp.outer(x, x)) @ x),
        "solve": lambda x: jnp.sum(jnp.linalg.solve(A + jnp.diag(x**2), x)),
        "sort": lambda x: jnp.sum(jnp.sort(jnp.sin(3 * x)) * jnp.arange(3.0)),
        "cumprod": lambda x: jnp.sum(jnp.cumprod(jnp.tanh(x))),
        "cummax": lambda x: jnp.sum(jax.lax.cummax(jnp.sin(3 * x)) ** 2),
        "cummin": lambda x: jnp.sum(jax.lax.cummin(jnp.cos(3 * x)) ** 2),
        "cumlogsumexp": lambda x: jnp.sum(jax.lax.cumlogsumexp(x * x)),
        "scatter_max": lambda x: jnp.sum(
            jnp.zeros(2).at[jnp.array([0, 1, 0])].max(jnp.sin(x)) ** 2
        ),
        "scatter_min": lambda x: jnp.sum(jnp.ones(2).at[jnp.array([0, 1, 1])].min(x**2)),
        "complex": lambda x: jnp.real(jnp.exp(1j * x[0]) * x[1] ** 2 + jnp.conj(x[2] * 1j)),
        "fft": lambda x: jnp.sum(jnp.abs(jnp.fft.fft(x)) ** 2 * x),
        "scan": lambda x: jnp.sum(
            jax.lax.scan(lambda h, w: (jnp.tanh(h * w), None), x, jnp.array([0.5, 1.5]))[0]
        ),
        "cond": lambda x: jax.lax.cond(
            jnp.sum(x) > 0, lambda z: jnp.sum(jnp.sin(z) ** 2), lambda z: jnp.sum(z**3), x
        ),
        "switch": lambda x: jax.lax.switch(1, [jnp.sin, jnp.cos, jnp.tanh], x).sum() * x[0],
        "checkpoint": lambda x: jnp.sum(jax.checkpoint(lambda z: jnp.tanh(z) ** 3)(x)),
        "nested_jit": lambda x: jnp.sum(jax.jit(lambda z: jnp.sin(jax.jit(jnp.tanh)(z)))(x)),
        "stop_gradient": lambda x: jnp.sum(jax.lax.stop_gradient(x) * x**2),
    }
    for name, f in fs.items():
        assert unsupported_reason(f, X3, order=4) is None, name
        ref = _lap_ref(f, X3)
        for method in ("taylor", "collapsed", "auto"):
            assert_close(nx.laplacian(f, method=method)(X3), ref, err_msg=f"{name} {method}")
        # the fourth-order reference under one jit: eager, it compiles every primitive anew
        t = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.jacfwd(f)))))(X3)
        assert_close(
            nx.apply(nx.Biharmonic(), f, method="taylor")(X3),
            jnp.einsum("iijj->", t),
            rtol=1e-9,
            atol=1e-9,
            err_msg=name,
        )
    assert np.isfinite(float(nx.laplacian(fs["slogdet"])(X3)))
