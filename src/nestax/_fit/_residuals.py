r"""Residual-form losses: :math:`L(θ) = \sum_i \lVert r_i(θ) \rVert^2` with the vectors in view.

A first-order stage needs only the scalar terms :math:`L_i = \lVert r_i \rVert^2`; a
Gauss–Newton stage needs the stacked vector :math:`r = (r_1, \dots, r_n) \in ℝ^N` and its
Jacobian :math:`J = \partial r / \partial θ \in ℝ^{N \times P}`. :class:`Residuals` carries both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

# term -> (point_fn, points, scale): r = scale * vmap(point_fn(params, ·))(points), flattened
PointTerms = Mapping[str, tuple[Callable[[Any, jax.Array], jax.Array], jax.Array, Any]]


class Residuals:
    r"""A loss given by its residual vectors, :math:`L(θ) = \sum_i \lVert r_i(θ) \rVert_2^2`.

    Calling it returns the scalar terms ``{name: ‖r_i‖²}`` (a scalar when ``fn`` returns a
    single vector), so every first-order stage of :func:`nestax.fit` minimises the implied
    scalar loss; a ``"gauss-newton"`` stage uses the vectors themselves. Weights and means
    are folded into the vectors: a term :math:`w \frac1n \sum_j R_j^2` is the vector
    :math:`\sqrt{w/n}\,(R_1, \dots, R_n)`.

    Args:
        fn: ``fn(params[, data][, key])`` → a dict ``{name: (n_i,) vector}`` or one ``(N,)``
            vector (called like a loss by :func:`nestax.fit`).
        data: the data passed as ``fn``'s second argument (as ``loss.data`` of a scalar loss).

    :meth:`pointwise` builds the form a PINN has — one residual function of one point, over
    a set of points — whose Jacobian the Gauss–Newton stage computes point by point
    (``jax.vmap`` of ``jax.jacrev`` over the weights), :math:`N` cheap rows instead of
    :math:`\min(N, P)` products through the whole batch.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> A, b = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), jnp.array([1.0, 2.0, 0.0])
        >>> loss = nx.Residuals(lambda p: {"fit": A @ p - b, "reg": 0.1 * p})
        >>> {k: float(v) for k, v in loss(jnp.zeros(2)).items()}
        {'fit': 5.0, 'reg': 0.0}
        >>> result = nx.fit(loss, jnp.zeros(2), nx.Stage("gauss-newton", 5), progress=False)
        >>> round(float(result.history["total"][-1]), 3)  # the least-squares minimum
        1.784
    """

    def __init__(self, fn: Callable[..., Any], data: Any = None) -> None:
        if not callable(fn):
            raise TypeError(
                f"Residuals: argument `fn` must be a function params -> residual vectors; got "
                f"{type(fn).__name__}"
            )
        self.fn, self.data = fn, data
        self._points: Callable[..., PointTerms] | None = None

    @classmethod
    def pointwise(cls, terms: Callable[..., PointTerms], data: Any = None) -> Residuals:
        r"""Residuals from point functions: ``terms(params[, data][, key])`` →
        ``{name: (point_fn, points, scale)}``, with the vector
        :math:`r = \text{scale} \cdot (R(θ, x_1), \dots, R(θ, x_n))` flattened (``point_fn(params,
        x_j)`` a scalar or an array of equations at one point ``x_j``, a row of ``points``).

        Example:
            >>> import jax.numpy as jnp, nestax as nx
            >>> x = jnp.linspace(0.0, 1.0, 5)[:, None]
            >>> loss = nx.Residuals.pointwise(
            ...     lambda p: {"fit": (lambda p, xj: p[0] + p[1] * xj[0] - 2.0, x, 1.0)})
            >>> loss.residuals(jnp.array([2.0, 0.0]))["fit"].shape
            (5,)
        """

        def fn(params: Any, *args: Any) -> dict[str, jax.Array]:
            out = {}
            for name, (point, x, scale) in terms(params, *args).items():
                rows = jax.vmap(lambda xj, point=point: jnp.ravel(point(params, xj)))(x)
                out[name] = scale * jnp.ravel(rows)
            return out

        self = cls(fn, data)
        self._points = terms
        return self

    def residuals(self, params: Any, *args: Any) -> dict[str, jax.Array] | jax.Array:
        """The residual vectors ``fn(params, *args)``, checked to be real 1-D arrays."""
        out = self.fn(params, *args)
        items = out.items() if isinstance(out, Mapping) else [("the residual", out)]
        for name, r in items:
            shape = getattr(r, "shape", None)
            if shape is None or len(shape) != 1:
                got = type(r).__name__ if shape is None else f"shape {tuple(shape)}"
                raise ValueError(
                    f"Residuals: term {name!r} must be a vector of shape (n,) (weights folded "
                    f"in); got {got}"
                )
            if not jnp.issubdtype(r.dtype, jnp.floating):
                raise TypeError(
                    f"Residuals: term {name!r} must be real floating; got dtype {r.dtype}"
                )
        return out

    def __call__(self, params: Any, *args: Any) -> dict[str, jax.Array] | jax.Array:
        out = self.residuals(params, *args)
        if isinstance(out, Mapping):
            return {name: jnp.sum(r**2) for name, r in out.items()}
        return jnp.sum(out**2)

    def point_terms(self, params: Any, *args: Any) -> PointTerms | None:
        """The ``(point_fn, points, scale)`` of each term (:meth:`pointwise`), or ``None``."""
        return None if self._points is None else self._points(params, *args)
