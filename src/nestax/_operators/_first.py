"""First derivatives of a point function: ``gradient``, ``jacobian``, ``divergence``,
``batch_jacobian``."""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .._custom_types import Array, ArrayLike, Batch, Float, Point, PointFunction
from .._strategies import names_for
from .._strategies._protocol import Problem, pair
from .._validate import as_array, check_method, check_rank, check_scalar_output
from ._choose import operator_function
from ._common import check_callable, point


def gradient(
    f: PointFunction, method: str = "auto", has_aux: bool = False
) -> Callable[[Point], Float[Array, " d"]]:
    r"""The gradient :math:`\nabla f(x)_i = \partial f/\partial x_i` of a scalar point function.

    Args:
        f: maps one point ``x`` of shape ``(d,)`` to a scalar (or ``(scalar, aux)``).
        method: ``"auto"``, ``"forward"`` (``d`` tangents) or ``"reverse"`` (one cotangent).
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(gradient, aux)``.

    Returns:
        A function of ``x`` returning an array of shape ``(d,)``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.gradient(lambda x: jnp.sum(x**2))(jnp.array([1.0, 2.0]))
        Array([2., 4.], dtype=float32)
    """
    op = "gradient"
    check_callable(f, op)
    names = names_for("jacobian")
    check_method(method, names, op=op)

    def build(x):
        problem = Problem(op, "jacobian", f, point(x, op), has_aux)
        check_scalar_output(problem.y_shape, op=op)
        return problem

    return operator_function(method, build, names)


#: Default limit on the size of a Jacobian `jacobian` computes (bytes): above it, refuse.
MAX_JACOBIAN_BYTES = 4 * 2**30


def jacobian(
    f: PointFunction,
    method: str = "auto",
    has_aux: bool = False,
    max_bytes: int | None = MAX_JACOBIAN_BYTES,
) -> Callable[[ArrayLike], Array]:
    r"""The Jacobian :math:`J_{o,i} = \partial f_o/\partial x_i`, shape ``y.shape + x.shape``.

    ``x`` may have any shape: with a function of a whole batch ``f: (B, d) -> (B, m)`` (a
    BatchNorm model in training mode couples the samples) this is the full ``(B, m, B, d)``
    array. For point-wise batch functions, :func:`batch_jacobian` avoids the ``B²`` blow-up.

    Args:
        f: maps ``x`` to an array (or ``(y, aux)``).
        method: ``"auto"`` (forward when ``x.size <= y.size``), ``"forward"`` or ``"reverse"``.
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(jacobian, aux)``.
        max_bytes: refuse, with a ``ValueError`` naming the size, a Jacobian larger than this
            (default 4 GiB; ``None``: no limit). A batch function's full Jacobian grows as
            ``B²``: 149 GiB at B = 100 000 for ``(B, 2) -> (B, 2)``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.jacobian(lambda x: jnp.sin(x) * x[0])(jnp.array([0.5, 1.0])).shape
        (2, 2)
    """
    op = "jacobian"
    check_callable(f, op)
    names = names_for("jacobian")
    check_method(method, names, op=op)

    def build(x):
        problem = Problem(op, "jacobian", f, as_array(x, op=op), has_aux)
        x, shape = problem.x, problem.y_shape
        n_bytes = problem.m * x.size * jnp.dtype(x.dtype).itemsize
        if max_bytes is not None and n_bytes > max_bytes:
            raise ValueError(
                f"{op}: the Jacobian of f at x of shape {tuple(x.shape)} has shape "
                f"{(*shape, *x.shape)}, {n_bytes / 2**30:.1f} GiB, over max_bytes="
                f"{max_bytes / 2**30:.1f} GiB. For the per-sample Jacobians of a function of a "
                "batch use nestax.batch_jacobian; to compute it anyway pass a larger max_bytes "
                "(or None)"
            )
        return problem

    return operator_function(method, build, names)


def batch_jacobian(
    f: PointFunction, method: str = "auto", has_aux: bool = False
) -> Callable[[Batch], Float[Array, "B *m d"]]:
    r"""Per-sample Jacobians of a point-wise batch function, shape ``(B, *m, d)``.

    :math:`J_{b,o,i} = \partial f(X)_{b,o} / \partial X_{b,i}` for ``f: (B, d) -> (B, *m)``
    whose sample ``b`` depends on row ``b`` of ``X`` only (an MLP applied to a batch). It costs
    ``d`` forward or ``m`` reverse passes of the batch, not the ``B·d`` of the full Jacobian.
    For batch-coupled functions (BatchNorm in training mode) use :func:`jacobian`.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> X = jnp.ones((5, 3))
        >>> nx.batch_jacobian(lambda X: jnp.tanh(X) * 2.0)(X).shape
        (5, 3, 3)
    """
    op = "batch_jacobian"
    check_callable(f, op)
    names = names_for("batch_jacobian")
    check_method(method, names, op=op)

    def build(xs):
        xs = as_array(xs, op=op, arg="xs")
        check_rank(xs, 2, op=op, arg="xs", what="Expected a batch of points, shape (B, d).")
        problem = Problem(op, "batch_jacobian", f, xs, has_aux, d=xs.shape[1], m=1)
        shape = problem.y_shape
        if len(shape) < 1 or shape[0] != xs.shape[0]:
            raise ValueError(
                f"{op}: `f` must map a batch (B, d) to outputs with the same leading batch size "
                f"B={xs.shape[0]}; got output shape {shape}"
            )
        problem.m = math.prod(shape[1:])
        return problem

    post = lambda problem, jac: _refuse_coupled(pair(f, has_aux, op), problem.x, jac)
    return operator_function(method, build, names, post=post)


def _refuse_coupled(fa, xs, jac):
    """``jac``, or an error if ``f`` couples the samples (then its per-sample Jacobians are not
    what the tangent trick computes: ``X - mean(X)`` would give zeros instead of
    ``(1 - 1/B) I``).

    The probe: one jvp with a tangent on sample 0 only; a point-wise ``f`` answers with exact
    zeros in every other sample. Concrete inputs raise a ``ValueError``; traced ones an
    ``equinox.error_if`` run-time error, with the same message.
    """
    if xs.shape[0] < 2:
        return jac
    t = jnp.zeros_like(xs).at[0].set(1.0)
    _, ty = jax.jvp(lambda z: fa(z)[0], (xs,), (t,))
    off = jnp.reshape(ty[1:], (-1,))
    coupled = jnp.any(jnp.isfinite(off) & (off != 0))
    msg = (
        "batch_jacobian: `f` couples the samples of the batch (the output of one sample depends "
        "on the input of another, as BatchNorm in training mode does), so its per-sample "
        "Jacobians are not blocks of a block-diagonal Jacobian; use nestax.jacobian for the full "
        "(B, m, B, d) Jacobian"
    )
    try:
        if bool(coupled):
            raise ValueError(msg)
        return jac
    except jax.errors.ConcretizationTypeError:
        return eqx.error_if(jac, coupled, msg)


def divergence(
    f: PointFunction, method: str = "auto", has_aux: bool = False
) -> Callable[[Point], Float[Array, ""]]:
    r"""The divergence :math:`\nabla\cdot f(x) = \sum_i \partial f_i/\partial x_i` of a vector
    field ``f: R^d -> R^d``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.divergence(lambda x: x**2)(jnp.array([1.0, 2.0]))
        Array(6., dtype=float32)
    """
    op = "divergence"
    check_callable(f, op)
    names = names_for("divergence")
    check_method(method, names, op=op)

    def build(x):
        problem = Problem(op, "divergence", f, point(x, op), has_aux)
        if problem.y_shape != problem.x.shape:
            raise ValueError(
                f"{op}: `f` must map R^d to R^d (output shape equal to the input shape "
                f"{tuple(problem.x.shape)}); got output shape {problem.y_shape}"
            )
        return problem

    return operator_function(method, build, names)
