r"""Physics regularizers: scalar loss terms built from derivatives of a network over points.

Each takes a point function ``f`` (one point ``x`` of shape ``(d,)`` to an array, usually a
network closed over its weights) and ``points`` of shape ``(N, d)``, and returns one scalar,

.. math:: R = \operatorname{reduce}_{x \in \text{points}}\ r(x),

with ``reduction="sum"`` (the seed's, default) or ``"mean"``. The derivatives are taken with
the nestax operators (``method="auto"`` picks the strategy), vmapped over the points, so every
term composes with ``jax.grad`` over the weights ``f`` closes over.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.ude import derivative_penalty
    >>> f = lambda x: jnp.stack([x[0] * x[1], x[1]])
    >>> derivative_penalty(f, jnp.array([[1.0, 2.0]]))  # 2² + 1² + 0² + 1²
    Array(6., dtype=float64)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .._operators._first import divergence, gradient, jacobian
from .._operators._higher import partial
from .._operators._second import hessian

__all__ = [
    "conservation_penalty",
    "derivative_penalty",
    "divergence_penalty",
    "monotonicity_penalty",
    "sign_penalty",
    "smoothness_penalty",
]


def _points(points: Any, op: str) -> jax.Array:
    try:
        pts = jnp.asarray(points)
    except TypeError as err:
        raise TypeError(
            f"{op}: argument `points` must be an array of floats, shape (N, d); got "
            f"{type(points).__name__}"
        ) from err
    if pts.ndim != 2 or not jnp.issubdtype(pts.dtype, jnp.floating):
        raise ValueError(
            f"{op}: argument `points` must be floats of shape (N, d), one point per row; got "
            f"shape {tuple(pts.shape)} and dtype {pts.dtype}"
        )
    return pts


def _check_vector_field(fn: Callable[..., Any], pts: jax.Array, op: str, arg: str) -> None:
    """``fn`` must map a point ``(d,)`` to a vector of the same shape (found without computing)."""
    out = jax.eval_shape(fn, pts[0])
    if out.shape != (pts.shape[1],):
        raise ValueError(
            f"{op}: argument `{arg}` must map a point (d,) = ({pts.shape[1]},) to a vector of "
            f"the same shape; it returns shape {tuple(out.shape)}"
        )


def _reduce(values: jax.Array, reduction: str, op: str) -> jax.Array:
    if reduction == "sum":
        return jnp.sum(values)
    if reduction == "mean":
        return jnp.mean(values)
    raise ValueError(f"{op}: argument `reduction` must be 'sum' or 'mean'; got {reduction!r}")


def _component(f: Callable[..., Any], output: int | None, op: str):
    if output is None:
        return f
    if isinstance(output, bool) or not isinstance(output, int):
        raise TypeError(f"{op}: argument `output` must be an int (a component); got {output!r}")
    return lambda x: jnp.reshape(jnp.asarray(f(x)), (-1,))[output]


def derivative_penalty(
    f: Callable[..., Any],
    points: Any,
    *,
    output: int | None = None,
    inputs: Sequence[int] | None = None,
    method: str = "auto",
    reduction: str = "sum",
) -> jax.Array:
    r"""The derivative-norm penalty :math:`\sum_x \lVert \partial f / \partial x \rVert_F^2`.

    The seed's term: :math:`\sum_{x \in 0:0.1:10} \lVert \nabla_z U_1(z)|_{z=(x, 1)} \rVert^2`
    is ``derivative_penalty(net, points, output=0)`` with ``points`` the rows ``(x, 1)``.

    Args:
        f: a point function ``(d,) -> array``.
        points: ``(N, d)``.
        output: keep only this component of ``f(x)`` (flattened) before differentiating.
        inputs: differentiate only with respect to these input coordinates (default: all).
        method: the strategy of :func:`nestax.jacobian` (``"auto"`` picks it).
        reduction: ``"sum"`` or ``"mean"`` over the points.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import derivative_penalty
        >>> f = lambda x: jnp.stack([x[0] ** 2 * x[1], x[1]])
        >>> derivative_penalty(f, jnp.array([[1.0, 3.0]]), output=0, inputs=[0])  # (2·1·3)²
        Array(36., dtype=float64)
    """
    op = "derivative_penalty"
    pts = _points(points, op)
    g = _component(f, output, op)
    jac = jax.vmap(jacobian(g, method=method))(pts)  # (N, *out, d)
    if inputs is not None:
        idx = jnp.asarray(_indices(inputs, pts.shape[1], "inputs", op))
        jac = jnp.take(jac, idx, axis=-1)
    return _reduce(jnp.sum(jac**2, axis=tuple(range(1, jac.ndim))), reduction, op)


def sign_penalty(
    f: Callable[..., Any],
    points: Any,
    alpha: Sequence[int],
    *,
    sign: int = 1,
    output: int | None = None,
    method: str = "auto",
    reduction: str = "sum",
) -> jax.Array:
    r"""A sign constraint on one partial derivative: :math:`\sum_x \max(0, -s\,\partial^\alpha
    f(x))^2`.

    Zero exactly where :math:`s\,\partial^\alpha f \ge 0` at every point (``sign`` :math:`s =
    \pm 1`); a quadratic penalty on the violation elsewhere. ``alpha = (1, 0)`` with ``sign=1``
    asks for ``f`` increasing in :math:`x_1`; ``alpha = (2, 0)`` for convexity along :math:`x_1`.

    Args:
        f: a point function; with ``output`` one component of it, else it must be scalar
            (vector outputs are constrained componentwise).
        points: ``(N, d)``.
        alpha: the multi-index, one non-negative order per input coordinate.
        sign: ``+1`` (the derivative should be ``>= 0``) or ``-1`` (``<= 0``).
        output, method, reduction: as in :func:`derivative_penalty` (``method`` is that of
            :func:`nestax.partial`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import sign_penalty
        >>> f = lambda x: jnp.sin(x[0])  # f' = cos: negative past π/2
        >>> float(sign_penalty(f, jnp.array([[0.0], [jnp.pi]]), (1,)))  # max(0, -cos π)²
        1.0
    """
    op = "sign_penalty"
    pts = _points(points, op)
    if sign not in (1, -1):
        raise ValueError(f"{op}: argument `sign` must be +1 or -1; got {sign!r}")
    alpha = tuple(alpha)
    if len(alpha) != pts.shape[1]:
        raise ValueError(
            f"{op}: argument `alpha` must have one order per input coordinate, {pts.shape[1]} "
            f"(points have shape {tuple(pts.shape)}); got {alpha!r}"
        )
    g = _component(f, output, op)
    values = jax.vmap(partial(g, alpha, method=method))(pts)
    violation = jnp.maximum(0.0, -sign * values)
    return _reduce(jnp.sum(jnp.reshape(violation**2, (pts.shape[0], -1)), axis=1), reduction, op)


def monotonicity_penalty(
    f: Callable[..., Any],
    points: Any,
    input: int,
    *,
    increasing: bool = True,
    output: int | None = None,
    method: str = "auto",
    reduction: str = "sum",
) -> jax.Array:
    r"""Monotonicity of ``f`` in one input: :math:`\sum_x \max(0, \mp \partial f/\partial
    x_i)^2`.

    :func:`sign_penalty` with the first-order multi-index :math:`e_i`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import monotonicity_penalty
        >>> f = lambda x: x[0] ** 2 - x[1]
        >>> float(monotonicity_penalty(f, jnp.array([[-1.0, 0.0], [2.0, 0.0]]), 0))  # (2·-1)²
        4.0
    """
    op = "monotonicity_penalty"
    pts = _points(points, op)
    (i,) = _indices([input], pts.shape[1], "input", op)
    alpha = tuple(int(k == i) for k in range(pts.shape[1]))
    return sign_penalty(
        f, pts, alpha, sign=1 if increasing else -1, output=output, method=method,
        reduction=reduction,
    )  # fmt: skip


def smoothness_penalty(
    f: Callable[..., Any],
    points: Any,
    *,
    output: int | None = None,
    method: str = "auto",
    reduction: str = "sum",
) -> jax.Array:
    r"""Smoothness through second derivatives: :math:`\sum_x \sum_k \lVert \nabla^2 f_k(x)
    \rVert_F^2`.

    The squared Frobenius norm of the Hessian of every output component ``k`` (the thin-plate
    energy of ``f``), computed with :func:`nestax.hessian`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import smoothness_penalty
        >>> f = lambda x: x[0] ** 2 + 3 * x[0] * x[1]  # Hessian [[2, 3], [3, 0]]
        >>> smoothness_penalty(f, jnp.zeros((2, 2)))  # 2 · (4 + 9 + 9)
        Array(44., dtype=float64)
    """
    op = "smoothness_penalty"
    pts = _points(points, op)
    g = _component(f, output, op)
    shape = jax.eval_shape(g, pts[0]).shape
    n_out = 1
    for s in shape:
        n_out *= s

    def one(x: jax.Array) -> jax.Array:
        total = jnp.zeros((), x.dtype)
        for k in range(n_out):  # one Hessian per output component
            h = hessian(lambda z, k=k: jnp.reshape(g(z), (-1,))[k], method=method)(x)
            total = total + jnp.sum(h**2)
        return total

    return _reduce(jax.vmap(one)(pts), reduction, op)


def divergence_penalty(
    f: Callable[..., Any], points: Any, *, method: str = "auto", reduction: str = "sum"
) -> jax.Array:
    r"""A divergence-free constraint: :math:`\sum_x (\nabla \cdot f(x))^2` for :math:`f:
    \mathbb{R}^d \to \mathbb{R}^d`.

    A vector field with zero divergence preserves phase-space volume (an incompressible flow;
    a Hamiltonian vector field, by Liouville's theorem).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import divergence_penalty
        >>> f = lambda x: jnp.stack([x[0], 2 * x[1]])  # ∇·f = 3
        >>> divergence_penalty(f, jnp.zeros((4, 2)))
        Array(36., dtype=float64)
    """
    op = "divergence_penalty"
    pts = _points(points, op)
    _check_vector_field(f, pts, op, "f")
    return _reduce(jax.vmap(divergence(f, method=method))(pts) ** 2, reduction, op)


def conservation_penalty(
    invariant: Callable[..., Any],
    vector_field: Callable[..., Any],
    points: Any,
    *,
    method: str = "auto",
    reduction: str = "sum",
) -> jax.Array:
    r"""A conservation law: :math:`\sum_x (\nabla C(x) \cdot F(x))^2`.

    :math:`\frac{d}{dt} C(u(t)) = \nabla C(u) \cdot u'` vanishes along every solution of
    :math:`u' = F(u)` exactly when :math:`\nabla C \cdot F = 0`; this penalises it at the
    points. ``invariant`` :math:`C` is a scalar point function (a known energy, a total mass,
    or a network), ``vector_field`` :math:`F` maps a point to a vector of its shape (a learned
    term, or the whole right-hand side at a fixed time).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import conservation_penalty
        >>> mass = lambda u: u[0] + u[1]  # conserved by u' = (-u₀, u₀), not by u' = (-u₀, 0)
        >>> pts = jnp.array([[1.0, 0.0], [2.0, 5.0]])
        >>> conservation_penalty(mass, lambda u: jnp.stack([-u[0], u[0]]), pts)
        Array(0., dtype=float64)
        >>> conservation_penalty(mass, lambda u: jnp.stack([-u[0], 0.0 * u[0]]), pts)
        Array(5., dtype=float64)
    """
    op = "conservation_penalty"
    pts = _points(points, op)
    _check_vector_field(vector_field, pts, op, "vector_field")
    rate = jax.vmap(lambda x: gradient(invariant, method=method)(x) @ vector_field(x))(pts)
    return _reduce(rate**2, reduction, op)


def _indices(indices: Sequence[int], d: int, arg: str, op: str) -> list[int]:
    out = []
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -d <= i < d:
            raise ValueError(
                f"{op}: argument `{arg}` must hold input coordinates in [0, {d}); got {indices!r}"
            )
        out.append(i % d)
    return out
