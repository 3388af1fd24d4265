"""Nested first-order AD: the reference strategy and the fallback.

Every derivative here is built from JAX's own first-order transformations (``jax.jvp``,
``jax.vjp`` and the ``jacfwd``/``jacrev`` built on them), nested as the method name says: the
*outer* mode comes first, so ``"forward-over-reverse"`` pushes tangents (forward mode) through a
reverse-mode gradient. This always works, for every primitive JAX can differentiate, and it is
what the Taylor strategies are tested against.

All functions take ``fa``, the user's function normalised to return ``(y, aux)`` (``aux`` is
``None`` when the user passed ``has_aux=False``), and return ``(value, aux)``.

Costs in forward passes of the network per point (the planner's model): first derivatives of
``f: R^d -> R^m`` cost about ``d`` tangents forward and ``m`` cotangents in reverse; a Laplacian
costs ``1 + 2d`` forward-over-reverse; a ``k``-th order nested derivative costs ``2^k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

AuxFn = Callable[[jax.Array], tuple[Any, Any]]

FIRST_ORDER = ("forward", "reverse")
SECOND_ORDER = (
    "forward-over-reverse",
    "reverse-over-forward",
    "reverse-over-reverse",
    "forward-over-forward",
)


def _jac(mode: str) -> Callable[..., Any]:
    return {"forward": jax.jacfwd, "reverse": jax.jacrev}[mode]


def _directions(x: jax.Array) -> jax.Array:
    """The ``x.size`` unit vectors of x's space, stacked: shape ``(d, *x.shape)``."""
    return jnp.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))


# --------------------------------------------------------------------------- first order


def jacobian(fa: AuxFn, x: jax.Array, mode: str) -> tuple[Any, Any]:
    """``J[o..., i...] = ∂y[o...]/∂x[i...]`` of shape ``y.shape + x.shape``."""
    return _jac(mode)(fa, has_aux=True)(x)


def batch_jacobian(fa: AuxFn, xs: jax.Array, mode: str) -> tuple[Any, Any]:
    """Per-sample Jacobian ``J[b, o..., i] = ∂y[b, o...]/∂x[b, i]`` of a point-wise batch function.

    Forward mode pushes the ``d`` tangents ``1_B ⊗ e_i`` through the batch function; reverse mode
    pulls the ``m`` cotangents ``1_B ⊗ e_o``. Neither forms the ``(B, m, B, d)`` array, which is
    exact only when sample ``b``'s output depends on sample ``b``'s input alone.
    """
    d = xs.shape[1]
    if mode == "forward":
        tangents = jnp.broadcast_to(jnp.eye(d, dtype=xs.dtype)[:, None, :], (d, *xs.shape))

        def push(t):
            _, ty, aux = jax.jvp(fa, (xs,), (t,), has_aux=True)
            return ty, aux

        jac, aux = jax.vmap(push, out_axes=(-1, None))(tangents)
        return jac, aux
    y, pull, aux = jax.vjp(fa, xs, has_aux=True)
    m_shape = y.shape[1:]
    m = math.prod(m_shape)
    eye = jnp.eye(m, dtype=y.dtype).reshape((m, 1, *m_shape))
    cotangents = jnp.broadcast_to(eye, (m, *y.shape))
    (jac,) = jax.vmap(pull)(cotangents)  # (m, B, d)
    jac = jnp.moveaxis(jac, 0, 1).reshape((xs.shape[0], *m_shape, d))
    return jac, aux


def divergence(fa: AuxFn, x: jax.Array, mode: str) -> tuple[Any, Any]:
    """``div f = Σ_i ∂f_i/∂x_i``, the trace of the Jacobian."""
    jac, aux = jacobian(fa, x, mode)
    return jnp.trace(jac), aux


# --------------------------------------------------------------------------- second order


def hessian(fa: AuxFn, x: jax.Array, method: str) -> tuple[Any, Any]:
    """``H[o..., i, j] = ∂²y[o...]/∂x_i∂x_j``, nested as ``method`` says (outer-over-inner)."""
    outer, inner = method.split("-over-")
    return _jac(outer)(_jac(inner)(fa, has_aux=True), has_aux=True)(x)


def laplacian(fa: AuxFn, x: jax.Array, method: str) -> tuple[Any, Any]:
    """``Δy = Σ_i ∂²y/∂x_i²`` per output component.

    ``forward-over-forward`` pushes only the ``d`` diagonal second-order tangents
    ``∂²y/∂x_i² = d²/dt² y(x + t e_i)``; the other three form the Hessian and take its trace,
    which costs no more since each Hessian-vector product yields a full column anyway.
    """
    if method == "forward-over-forward":

        def second(e):
            def first(z):
                _, ty, aux = jax.jvp(fa, (z,), (e,), has_aux=True)
                return ty, aux

            _, tty, aux = jax.jvp(first, (x,), (e,), has_aux=True)
            return tty, aux

        diag, aux = jax.vmap(second, out_axes=(0, None))(_directions(x))
        return jnp.sum(diag, axis=0), aux
    hess, aux = hessian(fa, x, method)
    return jnp.trace(hess, axis1=-2, axis2=-1), aux


# --------------------------------------------------------------------------- any order


def _nested_jvp(fa: AuxFn, directions: list[jax.Array]) -> AuxFn:
    """``x ↦ (∂_{v_1} … ∂_{v_k} y(x), aux)`` by ``k`` nested ``jax.jvp`` calls."""
    g = fa
    for v in directions:

        def g(z, g=g, v=v):
            _, ty, aux = jax.jvp(g, (z,), (v,), has_aux=True)
            return ty, aux

    return g


def derivative(fa: AuxFn, t: jax.Array, order: int, mode: str) -> tuple[Any, Any]:
    """``d^k y/dt^k`` of a function of a scalar by ``k`` nested forward or reverse passes."""
    if mode == "forward":
        return _nested_jvp(fa, [jnp.ones_like(t)] * order)(t)
    g = fa
    for _ in range(order):
        g = jax.jacrev(g, has_aux=True)
    return g(t)


def _unit(x: jax.Array, i: int) -> jax.Array:
    return jnp.zeros(x.size, x.dtype).at[i].set(1).reshape(x.shape)


def apply_nested(
    terms: Mapping[tuple[int, ...], float],
    fa: AuxFn,
    x: jax.Array,
    innermost: str = "forward",
) -> tuple[Any, Any]:
    """``Σ_α c_α ∂^α y(x)`` with every partial taken by nested first-order AD.

    Order-0 terms are ``c y``; order-1 terms combine into one tangent ``Σ c_α e_α``; order-2
    terms use one Hessian, forward-over-reverse; higher orders nest ``|α|`` jvps per term
    (``2^|α|`` vectors each: the exponential cost that Taylor mode removes).

    With ``innermost="reverse"`` every derivative has a reverse pass innermost: order 1 is a
    row of the reverse-mode Jacobian, order ``k >= 3`` nests ``k - 1`` jvps over it. That is
    the nesting which differentiates ``custom_vjp`` functions, whose derivatives exist only as
    reverse-mode rules.
    """
    y, aux = fa(x)
    total = jnp.zeros_like(y)
    by_order: dict[int, dict[tuple[int, ...], float]] = {}
    for alpha, c in terms.items():
        by_order.setdefault(sum(alpha), {})[alpha] = c
    y_of = lambda z: fa(z)[0]
    reverse = innermost == "reverse"

    def along_last(i: int) -> AuxFn:
        """``z -> (∂y/∂z_i, aux)`` by reverse mode."""

        def g(z):
            jac = jax.jacrev(y_of)(z).reshape((*y.shape, x.size))
            return jac[..., i], None

        return g

    for order, group in sorted(by_order.items()):
        if order == 0:
            total = total + sum(group.values()) * y
        elif order == 1:
            v = sum(c * _unit(x, alpha.index(1)) for alpha, c in group.items())
            if reverse:
                jac = jax.jacrev(y_of)(x).reshape((*y.shape, x.size))
                total = total + jnp.tensordot(jac, v.reshape(-1), axes=1)
            else:
                total = total + jax.jvp(y_of, (x,), (v,))[1]
        elif order == 2:
            weights = jnp.zeros((x.size, x.size), y.dtype)
            for alpha, c in group.items():
                idx = [i for i, a in enumerate(alpha) for _ in range(a)]
                weights = weights.at[idx[0], idx[1]].add(c)
            hess = jax.jacfwd(jax.jacrev(y_of))(x)
            hess = hess.reshape((*y.shape, x.size, x.size))
            total = total + jnp.einsum("...ij,ij->...", hess, weights)
        else:
            for alpha, c in group.items():
                idx = [i for i, a in enumerate(alpha) for _ in range(a)]
                if reverse:
                    inner = along_last(idx[-1])
                    dirs = [_unit(x, i) for i in idx[:-1]]
                    total = total + c * _nested_jvp(inner, dirs)(x)[0]
                else:
                    dirs = [_unit(x, i) for i in idx]
                    total = total + c * _nested_jvp(fa, dirs)(x)[0]
    return total, aux
