r"""Linear differential operators as data.

An operator is :math:`L = \sum_\alpha c_\alpha \partial^\alpha` with constant coefficients,
over multi-indices :math:`\alpha = (\alpha_1, \dots, \alpha_d)`. Operators are built from
:class:`Partial`, :class:`Laplacian` and :class:`Biharmonic` with ``+``, ``-`` and scalar
``*``, and applied with :func:`nestax.apply`. Dimension-free operators (the Laplacian) expand
into terms only once the input dimension ``d`` is known: :meth:`LinearOperator.terms`.

Example:
    >>> import nestax as nx
    >>> heat = nx.Partial((1, 0, 0)) - 0.1 * (nx.Partial((0, 2, 0)) + nx.Partial((0, 0, 2)))
    >>> sorted(heat.terms(3).items())
    [((0, 0, 2), -0.1), ((0, 2, 0), -0.1), ((1, 0, 0), 1.0)]
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

Terms = dict[tuple[int, ...], float]


class LinearOperator:
    """Base of the operator algebra: a sum of constant multiples of partial derivatives."""

    def terms(self, d: int) -> Terms:
        """The multi-index → coefficient map of this operator acting on functions of ``d``
        variables (zero coefficients dropped)."""
        raise NotImplementedError

    @property
    def rotation_invariant(self) -> bool:
        """True when ``L[u ∘ Q] = (L u) ∘ Q`` for every rotation ``Q`` of the input."""
        return False

    def order(self, d: int) -> int:
        """The highest total order among the terms."""
        return max((sum(a) for a in self.terms(d)), default=0)

    def taylor_directions(self, d: int) -> tuple[float, tuple]:
        r"""The directions and weights with which the Taylor strategies compute this operator.

        Returns ``(c0, groups)``: the coefficient of the zeroth-order term and, per total order
        ``k`` present, a group with fields ``order`` (``k``), ``directions`` (``(R, d)``) and
        ``weights`` (``(R,)``) such that the order-``k`` part of the operator equals
        :math:`\sum_r w_r\, D^k_{v_r} u`, the ``k``-th derivative of ``t -> u(x + t v_r)`` at 0
        (mixed partials by interpolation, Griewank–Utke–Walther). Any Taylor-mode engine (e.g.
        ``jax.experimental.jet``) can use them.

        Example:
            >>> import nestax as nx
            >>> c0, (group,) = nx.Laplacian().taylor_directions(2)
            >>> group.order, group.directions.tolist(), group.weights.tolist()
            (2, [[1.0, 0.0], [0.0, 1.0]], [1.0, 1.0])
        """
        from .._strategies._directions import plan

        return plan(self.terms(d), d, op="taylor_directions")

    def __add__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Combination(((1.0, self), (1.0, other)))

    def __sub__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Combination(((1.0, self), (-1.0, other)))

    def __neg__(self) -> LinearOperator:
        return Combination(((-1.0, self),))

    def __mul__(self, scale: float) -> LinearOperator:
        if not isinstance(scale, numbers.Real) or isinstance(scale, bool):
            return NotImplemented
        return Combination(((float(scale), self),))

    __rmul__ = __mul__


class Partial(LinearOperator):
    r"""The partial derivative :math:`\partial^\alpha = \prod_i \partial_{x_i}^{\alpha_i}`.

    Args:
        alpha: one non-negative integer per input coordinate, e.g. ``(2, 0, 1)`` for
            :math:`\partial^3 / \partial x_1^2 \partial x_3`.
    """

    def __init__(self, alpha: Sequence[int]):
        self.alpha = check_alpha(alpha, "Partial")

    def terms(self, d: int) -> Terms:
        if len(self.alpha) != d:
            raise ValueError(
                f"Partial: multi-index `alpha`={self.alpha} has {len(self.alpha)} entries but the "
                f"input point has d={d} coordinates; give one entry per coordinate"
            )
        return {self.alpha: 1.0}

    def __repr__(self) -> str:
        return f"Partial({self.alpha})"


def check_alpha(alpha: Sequence[int], op: str) -> tuple[int, ...]:
    """Validate a multi-index: a non-empty sequence of non-negative integers."""
    try:
        alpha = tuple(alpha)
    except TypeError as err:
        raise TypeError(
            f"{op}: argument `alpha` must be a sequence of non-negative integers, one per input "
            f"coordinate; got {type(alpha).__name__}"
        ) from err
    for a in alpha:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool) or a < 0:
            raise ValueError(f"{op}: argument `alpha` must hold non-negative integers; got {alpha}")
    if not alpha:
        raise ValueError(f"{op}: argument `alpha` must have one entry per coordinate; got ()")
    return tuple(int(a) for a in alpha)


def _unit_power(d: int, i: int, k: int) -> tuple[int, ...]:
    return tuple(k if j == i else 0 for j in range(d))


class Laplacian(LinearOperator):
    r"""The Laplacian :math:`\Delta = \sum_i \partial^2/\partial x_i^2`."""

    rotation_invariant = True

    def terms(self, d: int) -> Terms:
        return {_unit_power(d, i, 2): 1.0 for i in range(d)}

    def __repr__(self) -> str:
        return "Laplacian()"


class Biharmonic(LinearOperator):
    r"""The biharmonic operator :math:`\Delta^2 = \sum_{i,j}\partial_i^2\partial_j^2`.

    As terms: :math:`\sum_i \partial_i^4 + 2\sum_{i<j}\partial_i^2\partial_j^2`.
    """

    rotation_invariant = True

    def terms(self, d: int) -> Terms:
        out = {_unit_power(d, i, 4): 1.0 for i in range(d)}
        for i in range(d):
            for j in range(i + 1, d):
                out[tuple(2 if k in (i, j) else 0 for k in range(d))] = 2.0
        return out

    def __repr__(self) -> str:
        return "Biharmonic()"


class Combination(LinearOperator):
    """A linear combination ``Σ_k a_k L_k`` of operators with constant real coefficients."""

    def __init__(self, parts: Sequence[tuple[float, LinearOperator]]):
        flat: list[tuple[float, LinearOperator]] = []
        for coef, op in parts:
            if isinstance(op, Combination):
                flat.extend((coef * c, o) for c, o in op.parts)
            else:
                flat.append((coef, op))
        self.parts = tuple(flat)

    @property
    def rotation_invariant(self) -> bool:
        return all(op.rotation_invariant for _, op in self.parts)

    def terms(self, d: int) -> Terms:
        out: Terms = {}
        for coef, op in self.parts:
            for alpha, c in op.terms(d).items():
                out[alpha] = out.get(alpha, 0.0) + coef * c
        return {a: c for a, c in out.items() if c != 0.0}

    def __repr__(self) -> str:
        text = ""
        for coef, op in self.parts:
            sign = "-" if coef < 0 else "+"
            mag = abs(coef)
            body = repr(op) if mag == 1.0 else f"{mag:g}*{op!r}"
            text += f" {sign} {body}" if text else (f"-{body}" if coef < 0 else body)
        return text
