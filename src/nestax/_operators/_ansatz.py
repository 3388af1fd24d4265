r"""The hard-constraint ansatz on a ball, with its Laplacian and biharmonic by the product rule.

The trial function

.. math::  u(x) = \varphi(x)\, N(x), \qquad \varphi(x) = R^2 - |x - c|^2,

vanishes on the sphere :math:`|x - c| = R` for every network :math:`N`. The factor reads the
input non-linearly (:math:`|x|^2`), so :math:`u` itself cannot be reduced to the span of the
network's first layer; the product rule moves every derivative of :math:`\varphi` into closed
form and leaves only derivatives of :math:`N`, which can (strategy ``"reduced"``):

.. math::
    \Delta u &= \varphi\, \Delta N - 4 (x - c) \cdot \nabla N - 2 d\, N, \\
    \Delta^2 u &= \varphi\, \Delta^2 N - 8 (x - c) \cdot \nabla \Delta N - (4 d + 8)\, \Delta N,

using :math:`\nabla\varphi = -2 (x - c)`, :math:`\Delta\varphi = -2d`,
:math:`\Delta\,((x - c)\cdot\nabla N) = (x - c)\cdot\nabla\Delta N + 2 \Delta N`. The
directional derivatives along :math:`x - c` are one ``jvp`` each (the second through the
Laplacian of :math:`N`, which also gives :math:`\Delta N` itself).

Example:
    >>> import jax, jax.numpy as jnp, nestax as nx
    >>> from nestax._operators._ansatz import BallAnsatz
    >>> W = jax.random.normal(jax.random.key(0), (4, 3))
    >>> u = BallAnsatz(lambda x: jnp.sum(jnp.tanh(x @ W)))
    >>> x = jnp.array([0.1, -0.2, 0.3, 0.05])
    >>> ref = jnp.trace(jax.hessian(u)(x))
    >>> bool(jnp.allclose(u.laplacian()(x), ref, rtol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._custom_types import Array, Point, PointFunction
from .._validate import as_array, check_rank
from ._algebra import Biharmonic
from ._apply import apply
from ._second import laplacian


class BallAnsatz:
    r"""``u(x) = (R² − |x − c|²) N(x)``: zero on the sphere of radius ``R`` around ``c``.

    Args:
        net: the network :math:`N`, a point function ``x -> y`` (any output shape).
        center: :math:`c`, shape ``(d,)`` (default: the origin).
        radius: :math:`R` (default 1).

    Calling the ansatz evaluates :math:`u`; `laplacian` and `biharmonic` return point
    functions computing :math:`\Delta u` and :math:`\Delta^2 u` by the product rule, with the
    derivatives of :math:`N` by ``method`` (``"auto"`` picks input-subspace reduction when it
    pays). Further keyword arguments of `laplacian` / `biharmonic` go to the operator of
    :math:`N`: ``key=`` and ``samples=`` of the randomized estimators (``method="stde"`` or
    ``"hutchinson"``), which then estimate only :math:`\Delta N` while the product rule's other
    terms stay exact.

    :func:`nestax.pinn.unit_ball_ansatz` is this ansatz as a hard constraint of a PINN problem.
    """

    def __init__(self, net: PointFunction, *, center: Any = None, radius: float = 1.0):
        if not callable(net):
            raise TypeError(
                f"BallAnsatz: argument `net` must be callable; got {type(net).__name__}"
            )
        if not radius > 0:
            raise ValueError(f"BallAnsatz: argument `radius` must be positive; got {radius!r}")
        self.net = net
        self.center = None if center is None else jnp.asarray(center)
        self.radius = float(radius)

    def _offset(self, x: Any, op: str) -> tuple[jax.Array, jax.Array]:
        x = as_array(x, op=op)
        check_rank(x, 1, op=op, what="To evaluate at many points, map over them with jax.vmap.")
        if self.center is None:
            return x, x
        if self.center.shape != x.shape:
            raise ValueError(
                f"{op}: the ansatz's `center` has shape {tuple(self.center.shape)} but the point "
                f"`x` has shape {tuple(x.shape)}"
            )
        return x, x - self.center.astype(x.dtype)

    def distance(self, x: Point) -> Array:
        r""":math:`\varphi(x) = R^2 - |x - c|^2`."""
        _, r = self._offset(x, "BallAnsatz.distance")
        return self.radius**2 - jnp.sum(r**2)

    def __call__(self, x: Point) -> Array:
        return self.distance(x) * self.net(x)

    def laplacian(self, method: str = "auto", **options: Any) -> Callable[[Point], Array]:
        r""":math:`x \mapsto \Delta u(x) = \varphi \Delta N - 4 (x - c)\cdot\nabla N - 2 d N`
        (``options``: ``key=``, ``samples=`` of a randomized ``method``, for :math:`\Delta N`)."""
        lap_net = laplacian(self.net, method=method, **options)

        def lap(x: Point) -> Array:
            x, r = self._offset(x, "BallAnsatz.laplacian")
            n, dn = jax.jvp(self.net, (x,), (r,))
            phi = self.radius**2 - jnp.sum(r**2)
            return phi * lap_net(x) - 4.0 * dn - 2.0 * x.shape[0] * n

        return lap

    def biharmonic(self, method: str = "auto", **options: Any) -> Callable[[Point], Array]:
        r""":math:`x \mapsto \Delta^2 u = \varphi \Delta^2 N - 8 (x-c)\cdot\nabla\Delta N
        - (4d + 8)\Delta N` (``options`` as for `laplacian`)."""
        bih_net = apply(Biharmonic(), self.net, method=method, **options)
        lap_net = laplacian(self.net, method=method, **options)

        def bih(x: Point) -> Array:
            x, r = self._offset(x, "BallAnsatz.biharmonic")
            lap_n, dlap_n = jax.jvp(lap_net, (x,), (r,))
            phi = self.radius**2 - jnp.sum(r**2)
            return phi * bih_net(x) - 8.0 * dlap_n - (4.0 * x.shape[0] + 8.0) * lap_n

        return bih
