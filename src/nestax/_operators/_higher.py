"""Derivatives of any order: ``derivative`` (of a function of a scalar) and ``partial``."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

from .._custom_types import Array, Point, PointFunction, Scalar
from .._strategies import names_for
from .._strategies._protocol import Problem
from .._validate import check_method
from ._algebra import Partial, check_alpha
from ._choose import operator_function
from ._common import check_callable, point


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
    names = names_for("derivative")
    check_method(method, names, op=op)
    terms = {(order,): 1.0}

    def build(t):
        return Problem.linear(op, f, point(t, op, rank=0), has_aux, terms, order=order)

    return operator_function(method, build, names)


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
    names = names_for("partial")
    check_method(method, names, op=op)

    def build(x):
        x = point(x, op)
        if len(alpha) != x.size:
            raise ValueError(
                f"{op}: multi-index `alpha`={alpha} has {len(alpha)} entries but `x` has "
                f"d={x.size} coordinates (shape {tuple(x.shape)}); give one entry per coordinate"
            )
        return Problem.linear(op, f, x, has_aux, Partial(alpha).terms(x.size))

    return operator_function(method, build, names)
