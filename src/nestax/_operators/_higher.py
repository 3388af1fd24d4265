"""Derivatives of any order: ``derivative`` (of a function of a scalar) and ``partial``."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

from .. import _planner
from .._custom_types import Array, Point, PointFunction, Scalar
from .._strategies import _nested
from .._validate import check_method
from ._algebra import Partial, check_alpha
from ._apply import ENGINE_METHODS, STRATEGIES, plan_terms, run_terms
from ._choose import operator_function
from ._common import check_callable, point, size, with_aux

DERIVATIVE_METHODS = ("forward", "reverse")


def derivative(
    f: PointFunction, order: int = 1, method: str = "auto", has_aux: bool = False
) -> Callable[[Scalar], Array]:
    r"""The ``order``-th derivative :math:`d^k f/dt^k` of a function of one scalar ``t``.

    Args:
        f: maps a scalar ``t`` (shape ``()``) to an array (or ``(y, aux)``).
        order: ``k >= 1``.
        method: ``"auto"``, ``"forward"`` (``k`` nested jvps, ``2^k`` vectors), ``"reverse"``
            (``k`` nested reverse passes) or a Taylor strategy (``k + 1`` coefficients).
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(derivative, aux)``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.derivative(jnp.sin, order=4)(0.5)  # sin⁗ = sin
        Array(0.47942555, dtype=float32)
    """
    op = "derivative"
    check_callable(f, op)
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 1:
        raise ValueError(f"{op}: argument `order` must be an integer >= 1; got {order!r}")
    order = int(order)
    check_method(method, (*DERIVATIVE_METHODS, *STRATEGIES), op=op)
    fa = with_aux(f, has_aux, op)
    terms = {(order,): 1.0}
    point_fn = lambda z: f(z[0])  # the linear strategies take points of shape (d,) = (1,)

    def compute(m):
        if m in DERIVATIVE_METHODS:
            return lambda t: _nested.derivative(fa, t, order, m)
        return lambda t: run_terms(terms, point_fn, t.reshape(1), has_aux, m)

    def prepare(t):
        t, shape = point(t, f, has_aux, op, rank=0)
        if method in DERIVATIVE_METHODS:
            p = _planner.derivative(order, size(shape), method)
        else:
            nested = _planner.derivative(order, size(shape), "auto").costs
            p = plan_terms(op, terms, point_fn, t.reshape(1), has_aux, method, dict(nested))
        return t, p

    return operator_function(op, f, has_aux, prepare, compute, ENGINE_METHODS)


def partial(
    f: PointFunction, alpha: Sequence[int], method: str = "auto", has_aux: bool = False
) -> Callable[[Point], Array]:
    r"""The mixed partial derivative :math:`\partial^\alpha f(x)` for a multi-index ``alpha``.

    :math:`\partial^\alpha = \partial_{x_1}^{\alpha_1}\cdots\partial_{x_d}^{\alpha_d}`, with one
    non-negative entry of ``alpha`` per input coordinate.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> u = lambda x: x[0] ** 3 * x[1] ** 2
        >>> nx.partial(u, (2, 1))(jnp.array([1.0, 2.0]))  # 6 x · 2 y
        Array(24., dtype=float32)
    """
    op = "partial"
    check_callable(f, op)
    alpha = check_alpha(alpha, op)
    check_method(method, tuple(STRATEGIES), op=op)

    compute = lambda m: lambda x: run_terms(Partial(alpha).terms(x.size), f, x, has_aux, m)

    def prepare(x):
        x, _ = point(x, f, has_aux, op)
        if len(alpha) != x.size:
            raise ValueError(
                f"{op}: multi-index `alpha`={alpha} has {len(alpha)} entries but `x` has "
                f"d={x.size} coordinates (shape {tuple(x.shape)}); give one entry per coordinate"
            )
        return x, plan_terms(op, Partial(alpha).terms(x.size), f, x, has_aux, method)

    return operator_function(op, f, has_aux, prepare, compute, ENGINE_METHODS)
