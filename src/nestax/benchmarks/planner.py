"""Suite ``planner``: is ``method="auto"`` as fast as the best explicit method?

For each operator and shape, the training step (``jax.grad`` over the network's parameters of
the mean squared operator over a batch of points) with ``auto`` against every method that
``auto`` considered there (the candidates listed by ``nestax.explain``). The reference is
``auto``: a ratio below 1 for some method means that method beat ``auto`` there, and the
planner's cost model (``nestax._planner``) needs another look. Network: tanh MLP, 3 hidden
layers of 128, batch 256, float32, on this machine's CPU.

The shapes are those where the planner's decisions are close or change: first derivatives at
d = 1..64 (forward against reverse), Hessians and Laplacians at small d (the four nestings and
the Taylor strategies), derivatives of order 1..4 of a function of a scalar, and mixed partials
and biharmonics between the ``operators`` suite's shapes. The calibration table in
``nestax._planner`` is drawn from this suite and ``operators``.

Run it with ``nestax bench planner``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

import nestax as nx

from ._harness import Case, Contender

WIDTH, DEPTH, BATCH = 128, 3, 256
SETTINGS = {
    "network": f"tanh MLP {WIDTH}x{DEPTH}",
    "batch": BATCH,
    "dtype": "float32",
    "work": "jit(grad over parameters of mean squared operator over the batch)",
    "contenders": "auto and every candidate auto considered (nestax.explain(...).costs)",
}


def _mlp(d_in: int, d_out: int, seed: int = 0):
    sizes = [d_in, *([WIDTH] * DEPTH), d_out]
    keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
    params = [
        (
            jax.random.normal(k, (a, b), jnp.float32) / jnp.sqrt(jnp.float32(a)),
            jnp.zeros((b,), jnp.float32),
        )
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]

    def net(p, x):
        h = x
        for w, b in p[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = p[-1]
        return h @ w + b

    return params, net


def _point_fn(net, p, d_out, scalar_input):
    if scalar_input:
        return lambda t: net(p, t[None])[0]
    return (lambda x: net(p, x)[0]) if d_out == 1 else (lambda x: net(p, x))


def _step(operator, method, d_in, d_out, *, scalar_input=False, **options):
    params, net = _mlp(d_in, d_out)
    xs = jax.random.normal(jax.random.key(1), (BATCH,) if scalar_input else (BATCH, d_in))

    def loss(p):
        f = _point_fn(net, p, d_out, scalar_input)
        values = jax.vmap(operator(f, method=method, **options))(xs)
        return jnp.mean(values**2)

    step = jax.jit(jax.grad(loss))
    return lambda: step(params)


def _apply_op(op):
    """``nx.apply(op, ·)`` as an operator function (``explain`` takes the operator object)."""

    def operator(f, method="auto", has_aux=False):
        return nx.apply(op, f, method=method, has_aux=has_aux)

    operator.__name__ = repr(op)
    return operator


def _case(name, operator, d_in, d_out, *, explain_as=None, **options):
    params, net = _mlp(d_in, d_out)
    scalar = options.get("scalar_input", False)
    x0 = jnp.zeros(()) if scalar else jnp.zeros(d_in)
    extra = {k: v for k, v in options.items() if k != "scalar_input"}
    plan = nx.explain(
        explain_as if explain_as is not None else operator,
        _point_fn(net, params, d_out, scalar),
        x0,
        **extra,
    )
    costs = ", ".join(f"{m} {c:g}" for m, c in plan.costs.items())
    contenders = [
        Contender(
            "auto",
            functools.partial(_step, operator, "auto", d_in, d_out, **options),
            note=f"auto picked {plan.method}; model: {costs}",
        )
    ]
    contenders += [
        Contender(m, functools.partial(_step, operator, m, d_in, d_out, **options))
        for m in plan.costs
    ]
    return Case(name, f"{operator.__name__}, d={d_in}, m={d_out}", contenders, reference="auto")


def cases() -> list[Case]:
    """The suite's cases (each contender compiles when the harness reaches it)."""
    out = [_case(f"gradient d={d}", nx.gradient, d, 1) for d in (1, 2, 4, 16, 64)]
    out += [
        _case(f"jacobian d={d} m={m}", nx.jacobian, d, m) for d, m in ((2, 2), (2, 16), (16, 2))
    ]
    out += [_case(f"hessian d={d}", nx.hessian, d, 1) for d in (1, 2, 4, 16)]
    out += [_case(f"laplacian d={d}", nx.laplacian, d, 1) for d in (1, 2, 4, 16)]
    out += [
        _case(f"derivative order {k}", nx.derivative, 1, 1, scalar_input=True, order=k)
        for k in (1, 2, 3, 4)
    ]
    for op, d in (
        (nx.Biharmonic(), 3),
        (nx.Biharmonic(), 4),
        (nx.Partial((1, 1, 1)), 3),
        (nx.Partial((2, 2)), 2),
    ):
        out.append(_case(f"{op!r} d={d}", _apply_op(op), d, 1, explain_as=op))
    return out
