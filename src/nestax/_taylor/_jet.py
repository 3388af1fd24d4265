r"""The value the Taylor engine propagates, and the context every rule receives.

A `Jet` holds, for one intermediate variable ``u`` of the network, the primal ``u(x)`` and the
derivative-form Taylor coefficients of ``t -> u(x + t v_r)`` along R directions ``v_r``:

.. math::  u_j^{(r)} = \frac{d^j}{dt^j} u(x + t v_r) \Big|_{t=0}, \qquad j = 1, \dots, K.

``coeffs[j-1]`` is an array of shape ``(R, *u.shape)`` (the direction axis leads, so every rule
acts on all directions at once with ordinary array operations), or ``None`` for a coefficient
that is identically zero (a *symbolic zero*: on the input line ``x + t v`` every ``x_j`` with
``j >= 2`` is zero, and nothing is computed for it).

In **collapsed** mode (`RuleContext.weights` is set) the top coefficient is stored already
summed over directions, shape ``(1, *u.shape)``:

.. math::  u_K = \sum_r w_r\, u_K^{(r)}.

This is exact because every rule's order-K output is ``L(u_0)[u_K] + R(u_0, u_1..u_{K-1})`` with
``L`` the linearization, so ``sum_r w_r y_K^(r) = L[sum_r w_r u_K^(r)] + sum_r w_r R^(r)``:
rules compute the remainder per direction and pass it through `RuleContext.collapse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

_UNROLL = 8  # up to this many directions, collapse by adding rows instead of reducing


class Jet(NamedTuple):
    """Primal value and derivative-form Taylor coefficients (``None`` = symbolic zero)."""

    primal: Any
    coeffs: tuple[Any, ...]


@dataclass(frozen=True)
class RuleContext:
    """What a rule needs to know besides its operands.

    Attributes:
        order: K, the highest coefficient propagated.
        n_directions: R, the length of the leading direction axis.
        weights: ``None`` for standard Taylor mode; in collapsed mode the ``(R,)`` weights with
            which the top coefficient is summed (a NumPy array when known at trace time).
    """

    order: int
    n_directions: int
    weights: Any = None

    @property
    def collapsed(self) -> bool:
        return self.weights is not None

    def is_top(self, k: int) -> bool:
        """Whether coefficient ``k`` is stored summed over directions."""
        return self.collapsed and k == self.order

    def rows(self, k: int) -> int:
        """Length of the direction axis of coefficient ``k`` (1 at a collapsed top)."""
        return 1 if self.is_top(k) else self.n_directions

    def collapse(self, k: int, t: Any) -> Any:
        """Sum a per-direction remainder of order ``k`` over directions if ``k`` is the top.

        ``t`` has shape ``(R, ...)``; the result has shape ``(1, ...)`` at the collapsed top and
        is ``t`` unchanged otherwise. ``None`` passes through.
        """
        if t is None or not self.is_top(k):
            return t
        w = self.weights
        if isinstance(w, np.ndarray) and t.shape[0] <= _UNROLL:
            # A few directions: an elementwise sum of rows fuses better than a reduction.
            out = None
            for r in range(t.shape[0]):
                row = t[r : r + 1] if w[r] == 1.0 else float(w[r]) * t[r : r + 1]
                out = row if out is None else out + row
            return out
        if isinstance(w, np.ndarray) and np.all(w == 1.0):
            return jnp.sum(t, axis=0, keepdims=True)
        # Many weighted directions: a contraction (a dot for XLA) rather than multiply-and-reduce,
        # which XLA:CPU fuses into a slow reduction (2.1x slower on the biharmonic d = 5 value).
        w = jnp.asarray(w, dtype=t.dtype)
        return jnp.tensordot(w, t, axes=1)[None]


def primal(v: Any) -> Any:
    """The primal value of a `Jet`, or the value itself for an input-independent operand."""
    return v.primal if isinstance(v, Jet) else v


def coeff(v: Any, k: int) -> Any:
    """Coefficient ``k >= 1`` of an operand (``None`` for zeros and input-independent values)."""
    return v.coeffs[k - 1] if isinstance(v, Jet) else None


def lead(a: Any) -> Any:
    """Add the leading direction axis to a primal-shaped array (for broadcasting)."""
    a = jnp.asarray(a)
    return a[None]


def add(*terms: Any) -> Any:
    """Sum of the terms that are not ``None`` (``None`` if all are)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out


def mul(a: Any, b: Any) -> Any:
    """Product with symbolic zeros."""
    if a is None or b is None:
        return None
    return a * b


def broadcast_jet(v: Any, shape: tuple[int, ...]) -> Any:
    """Broadcast an operand (jet or plain) to ``shape`` by NumPy's rules, as lax's n-ary
    elementwise primitives do: missing leading axes and size-1 axes are broadcast.

    Coefficients keep their leading direction axis: ``(rows, *s) -> (rows, *shape)``.

    Example:
        >>> import jax.numpy as jnp
        >>> j = broadcast_jet(Jet(jnp.ones(1), (jnp.ones((2, 1)),)), (3,))
        >>> j.primal.shape, j.coeffs[0].shape
        ((3,), (2, 3))
    """
    p = primal(v)
    own = tuple(jnp.shape(p))
    shape = tuple(shape)
    if own == shape:
        return v
    if len(own) > len(shape) or any(
        a != b and a != 1 for a, b in zip(own, shape[len(shape) - len(own) :], strict=True)
    ):
        raise ValueError(f"cannot broadcast an operand of shape {own} to {shape}")
    if not isinstance(v, Jet):
        return jnp.broadcast_to(p, shape)
    offset = len(shape) - len(own)
    dims = (0, *range(1 + offset, 1 + len(shape)))
    coeffs = tuple(
        None if c is None else lax.broadcast_in_dim(c, (c.shape[0], *shape), dims) for c in v.coeffs
    )
    return Jet(jnp.broadcast_to(p, shape), coeffs)


def binomial(k: int, i: int) -> int:
    return comb(k, i)


def materialize(c: Any, rows: int, shape: tuple[int, ...], dtype: Any) -> Any:
    """A coefficient as an array of shape ``(rows, *shape)`` (zeros for ``None``)."""
    if c is None:
        return jnp.zeros((rows, *shape), dtype)
    return jnp.broadcast_to(c, (rows, *shape))


def full_jet(ctx: RuleContext, v: Any) -> Jet:
    """``v`` as a jet with every coefficient present (zeros for symbolic zeros).

    Loop carries and branch results need one fixed structure: this is it.
    """
    p = jnp.asarray(primal(v))
    coeffs = v.coeffs if isinstance(v, Jet) else (None,) * ctx.order
    return Jet(
        p,
        tuple(materialize(c, ctx.rows(k), p.shape, p.dtype) for k, c in enumerate(coeffs, start=1)),
    )
