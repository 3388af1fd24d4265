"""First derivatives of a point function: ``gradient``, ``jacobian``, ``divergence``,
``batch_jacobian``."""

from __future__ import annotations

from collections.abc import Callable

from .. import _planner
from .._custom_types import Array, ArrayLike, Batch, Float, Point, PointFunction
from .._strategies import _nested
from .._validate import as_array, check_method, check_rank, check_scalar_output, output_shape
from ._choose import run_plan, settle
from ._common import check_callable, finish, point, size, with_aux, with_plan


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
    check_method(method, _nested.FIRST_ORDER, op=op)
    fa = with_aux(f, has_aux, op)
    compute = lambda m: lambda x: _nested.jacobian(fa, x, m)

    def plan(x):
        x, shape = point(x, f, has_aux, op)
        check_scalar_output(shape, op=op)
        return x, settle(_planner.first_order(op, x.size, 1, method), compute, x, f, has_aux, ())

    def grad_f(x):
        x, p = plan(x)
        return finish(*run_plan(op, p, compute, x, f, has_aux), has_aux)

    return with_plan(grad_f, plan)


def jacobian(
    f: PointFunction, method: str = "auto", has_aux: bool = False
) -> Callable[[ArrayLike], Array]:
    r"""The Jacobian :math:`J_{o,i} = \partial f_o/\partial x_i`, shape ``y.shape + x.shape``.

    ``x`` may have any shape: with a function of a whole batch ``f: (B, d) -> (B, m)`` (a
    BatchNorm model in training mode couples the samples) this is the full ``(B, m, B, d)``
    array. For point-wise batch functions, :func:`batch_jacobian` avoids the ``B²`` blow-up.

    Args:
        f: maps ``x`` to an array (or ``(y, aux)``).
        method: ``"auto"`` (forward when ``x.size <= y.size``), ``"forward"`` or ``"reverse"``.
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(jacobian, aux)``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.jacobian(lambda x: jnp.sin(x) * x[0])(jnp.array([0.5, 1.0])).shape
        (2, 2)
    """
    op = "jacobian"
    check_callable(f, op)
    check_method(method, _nested.FIRST_ORDER, op=op)
    fa = with_aux(f, has_aux, op)
    compute = lambda m: lambda x: _nested.jacobian(fa, x, m)

    def plan(x):
        x = as_array(x, op=op)
        shape = output_shape(f, x, has_aux, op=op)
        p = _planner.first_order(op, x.size, size(shape), method)
        return x, settle(p, compute, x, f, has_aux, ())

    def jac_f(x):
        x, p = plan(x)
        return finish(*run_plan(op, p, compute, x, f, has_aux), has_aux)

    return with_plan(jac_f, plan)


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
    check_method(method, _nested.FIRST_ORDER, op=op)
    fa = with_aux(f, has_aux, op)
    compute = lambda m: lambda xs: _nested.batch_jacobian(fa, xs, m)

    def plan(xs):
        xs = as_array(xs, op=op, arg="xs")
        check_rank(xs, 2, op=op, arg="xs", what="Expected a batch of points, shape (B, d).")
        shape = output_shape(f, xs, has_aux, op=op)
        if len(shape) < 1 or shape[0] != xs.shape[0]:
            raise ValueError(
                f"{op}: `f` must map a batch (B, d) to outputs with the same leading batch size "
                f"B={xs.shape[0]}; got output shape {shape}"
            )
        p = _planner.first_order(op, xs.shape[1], size(shape[1:]), method)
        return xs, settle(p, compute, xs, f, has_aux, ())

    def bjac_f(xs):
        xs, p = plan(xs)
        return finish(*run_plan(op, p, compute, xs, f, has_aux), has_aux)

    return with_plan(bjac_f, plan)


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
    check_method(method, _nested.FIRST_ORDER, op=op)
    fa = with_aux(f, has_aux, op)
    compute = lambda m: lambda x: _nested.divergence(fa, x, m)

    def plan(x):
        x, shape = point(x, f, has_aux, op)
        if shape != x.shape:
            raise ValueError(
                f"{op}: `f` must map R^d to R^d (output shape equal to the input shape "
                f"{tuple(x.shape)}); got output shape {shape}"
            )
        p = _planner.first_order(op, x.size, x.size, method)
        return x, settle(p, compute, x, f, has_aux, ())

    def div_f(x):
        x, p = plan(x)
        return finish(*run_plan(op, p, compute, x, f, has_aux), has_aux)

    return with_plan(div_f, plan)
