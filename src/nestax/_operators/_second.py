"""Second derivatives of a point function: ``hessian`` and ``laplacian``."""

from __future__ import annotations

from collections.abc import Callable

from .._custom_types import Array, Float, Point, PointFunction
from .._strategies import names_for
from .._strategies._protocol import Problem
from .._strategies._terms import InvariantTerms
from .._validate import check_method, check_scalar_output
from ._algebra import Laplacian
from ._apply import check_options
from ._choose import operator_function
from ._common import check_callable, point


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
    names = names_for("hessian")
    check_method(method, names, op=op)

    def build(x):
        problem = Problem(op, "hessian", f, point(x, op), has_aux)
        check_scalar_output(problem.y_shape, op=op)
        return problem

    return operator_function(method, build, names)


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
    names = names_for("laplacian")
    check_method(method, names, op=op)
    check_options(method, options, op)

    def build(x):
        x = point(x, op)
        terms = InvariantTerms.of(Laplacian(), x.size)  # built only if a strategy reads them
        return Problem.linear(op, f, x, has_aux, terms, options=options)

    return operator_function(method, build, names)
