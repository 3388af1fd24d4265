"""Second derivatives of a point function: ``hessian`` and ``laplacian``."""

from __future__ import annotations

from collections.abc import Callable

from .. import _planner
from .._custom_types import Array, Float, Point, PointFunction
from .._strategies import _nested
from .._strategies._reduced import InvariantTerms
from .._validate import check_method, check_scalar_output
from ._algebra import Laplacian
from ._apply import (
    ENGINE_METHODS,
    RANDOMIZED,
    STRATEGIES,
    check_options,
    plan_randomized,
    plan_terms,
    run_randomized,
    run_terms,
)
from ._choose import operator_function
from ._common import check_callable, point, size, with_aux


def hessian(
    f: PointFunction, method: str = "auto", has_aux: bool = False
) -> Callable[[Point], Float[Array, "d d"]]:
    r"""The Hessian :math:`H_{ij} = \partial^2 f/\partial x_i \partial x_j` of a scalar point
    function, shape ``(d, d)``.

    Args:
        f: maps one point ``x`` of shape ``(d,)`` to a scalar (or ``(scalar, aux)``).
        method: ``"auto"`` or a nesting, outer mode first: ``"forward-over-reverse"`` (``d``
            Hessian-vector products; what ``auto`` picks from d = 3 on; below, the
            cheaper ``"forward-over-forward"``), ``"reverse-over-forward"``,
            ``"reverse-over-reverse"``, ``"forward-over-forward"``.
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(hessian, aux)``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.hessian(lambda x: x[0] ** 2 * x[1])(jnp.array([1.0, 3.0]))
        Array([[6., 2.],
               [2., 0.]], dtype=float32)
    """
    op = "hessian"
    check_callable(f, op)
    check_method(method, _nested.SECOND_ORDER, op=op)
    fa = with_aux(f, has_aux, op)
    compute = lambda m: lambda x: _nested.hessian(fa, x, m)

    def prepare(x):
        x, shape = point(x, f, has_aux, op)
        check_scalar_output(shape, op=op)
        return x, _planner.second_order(op, x.size, 1, method)

    return operator_function(op, f, has_aux, prepare, compute)


def laplacian(
    f: PointFunction, method: str = "auto", has_aux: bool = False, **options
) -> Callable[[Point], Float[Array, "*m"]]:
    r"""The Laplacian :math:`\Delta f(x) = \sum_i \partial^2 f/\partial x_i^2`.

    For a vector-valued ``f`` it returns one Laplacian per output component (the output's
    shape).

    Args:
        f: maps one point ``x`` of shape ``(d,)`` to an array (or ``(y, aux)``).
        method: ``"auto"``, one of the four nestings of first-order AD
            (``"forward-over-reverse"``, ...), or a strategy of ``nestax.apply``:
            ``"nested"``, ``"nested-reverse"``, ``"taylor"``, ``"collapsed"`` or ``"reduced"``
            (exact), ``"hutchinson"`` or ``"stde"`` (randomized estimates).
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``(laplacian, aux)``.
        options: only with the randomized estimators ``method="hutchinson"`` / ``"stde"``:
            ``key=`` (one PRNG key per point) and ``samples=``; see :func:`nestax.apply`.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> nx.laplacian(lambda x: jnp.sum(x**3))(jnp.array([1.0, 2.0]))  # 6 x_1 + 6 x_2
        Array(18., dtype=float32)
    """
    op = "laplacian"
    check_callable(f, op)
    check_method(method, (*_nested.SECOND_ORDER, *STRATEGIES, *RANDOMIZED), op=op)
    check_options(method, options, op)
    fa = with_aux(f, has_aux, op)

    def compute(m):
        if m in _nested.SECOND_ORDER:
            return lambda x: _nested.laplacian(fa, x, m)
        if m in RANDOMIZED:
            return lambda x: run_randomized(m, None, f, x, has_aux, options)
        # the terms are built only if a strategy needs them
        return lambda x: run_terms(InvariantTerms.of(Laplacian(), x.size), f, x, has_aux, m)

    def prepare(x):
        x, shape = point(x, f, has_aux, op)
        if method in RANDOMIZED:
            return x, plan_randomized(op, method, options)
        terms = InvariantTerms.of(Laplacian(), x.size)
        nested = _planner.second_order(op, x.size, size(shape), "auto").costs
        return x, plan_terms(op, terms, f, x, has_aux, method, extra=dict(nested))

    return operator_function(op, f, has_aux, prepare, compute, ENGINE_METHODS)
