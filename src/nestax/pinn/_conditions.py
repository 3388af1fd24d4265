r"""Boundary and initial conditions, as soft penalty terms or exact (hard) constraints.

A soft condition contributes the mean square of its residual over its own points to the loss:

===========================  ===========================================  ======================
condition                    residual at a point :math:`x`                points
===========================  ===========================================  ======================
``Dirichlet(g)``             :math:`u(x) - g(x)`                          boundary
``Neumann(h)``               :math:`\nabla u(x)\cdot n(x) - h(x)`         boundary
``Initial(g)``               :math:`u(t_0, x) - g(x)`                     initial slice
``InitialDerivative(g)``     :math:`\partial_t u(t_0, x) - g(x)`          initial slice
``Periodic(axis)``           :math:`u(x)|_{x_a = a} - u(x)|_{x_a = b}`    face :math:`x_a = a`
===========================  ===========================================  ======================

``g`` and ``h`` map one point (the full point, time included for space-time domains) to a
scalar; ``None`` means zero. Gradients go through :func:`nestax.gradient`.

A hard constraint changes the trial function instead: :class:`HardConstraint` builds
:math:`u(x) = g(x) + \varphi(x) N(x)` with :math:`\varphi = 0` exactly where the data ``g`` is
prescribed, so the condition holds for every network :math:`N`. :func:`unit_ball_ansatz` is
:math:`(1 - |x|^2) N(x)` (zero Dirichlet data on the unit ball).

Example:
    >>> import jax.numpy as jnp
    >>> from nestax import pinn
    >>> ansatz = pinn.unit_ball_ansatz()
    >>> u = ansatz.wrap(lambda x: 1.0 + jnp.sum(x))  # any network
    >>> float(u(jnp.array([0.0, 1.0])))  # on the unit sphere
    0.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

from ._domains import Box, Domain, TimeSpace

PointFn = Callable[[jax.Array], jax.Array]


def _value(g: PointFn | float | None, x: jax.Array, where: str = "") -> jax.Array:
    """``g(x)`` (a number: itself; ``None``: zero), checked to be a scalar at trace time."""
    if g is None:
        return jnp.zeros((), x.dtype)
    if callable(g):
        out = jnp.asarray(g(x))
        if out.shape != ():
            raise ValueError(
                f"{where or 'condition'}: must return a scalar, shape (), at one point of shape "
                f"{tuple(x.shape)}; got shape {out.shape}"
            )
        return out
    return jnp.asarray(g, x.dtype)


def _check_at(fn: Callable[[jax.Array], Any], x: jax.Array) -> None:
    """Trace ``fn`` at the point ``x`` (shapes only): its shape checks run now, at build time."""
    jax.eval_shape(fn, jax.ShapeDtypeStruct(x.shape, x.dtype))


def _check_fn(g: Any, cls: str, arg: str) -> None:
    if g is not None and not callable(g) and not isinstance(g, (int, float)):
        raise TypeError(
            f"{cls}: argument `{arg}` must be a function of one point, a number or None; "
            f"got {type(g).__name__}"
        )


class Condition:
    """A soft condition: ``points(domain, n, method, seed)`` and ``residual(u, x)``.

    A condition holds only what it was built with: a :class:`~nestax.pinn.Problem` never
    writes onto it, so one condition object may serve several problems. What a condition needs
    from the domain (a normal, a period) comes from ``bind(domain)``, which returns a new
    condition (the default returns ``self``); ``check(x)`` traces its data at one point ``x``
    and raises on a wrong shape (called by ``Problem`` at build time).
    """

    name: str = "condition"

    def points(self, domain: Domain, n: int, method: str, seed: int) -> np.ndarray:
        raise NotImplementedError

    def residual(self, u: PointFn, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def bind(self, domain: Domain) -> Condition:
        """This condition on ``domain`` (a new object when the domain matters)."""
        return self

    def check(self, x: jax.Array) -> None:
        """Raise ``ValueError`` if the condition's data has the wrong shape at the point ``x``."""


class Dirichlet(Condition):
    """:math:`u = g` on the boundary (the lateral boundary for space-time domains)."""

    name = "dirichlet"

    def __init__(self, g: PointFn | float | None = None) -> None:
        _check_fn(g, "Dirichlet", "g")
        self.g = g

    def points(self, domain, n, method, seed):
        return domain.sample_boundary(n, method=method, seed=seed)

    def residual(self, u, x):
        return u(x) - _value(self.g, x, "Dirichlet: argument `g`")

    def check(self, x):
        _check_at(lambda p: _value(self.g, p, "Dirichlet: argument `g`"), x)


class BoundaryResidual(Condition):
    r"""Any operator on the boundary: ``residual(u, x)`` must vanish there (e.g. a simply
    supported plate's :math:`\Delta u = 0`, Robin data :math:`\partial_n u + u = g`)."""

    name = "boundary"

    def __init__(self, residual: Callable[[PointFn, jax.Array], jax.Array]) -> None:
        if not callable(residual):
            raise TypeError(
                f"BoundaryResidual: argument `residual` must be a function (u, x) -> residual; "
                f"got {type(residual).__name__}"
            )
        self.fn = residual

    def points(self, domain, n, method, seed):
        return domain.sample_boundary(n, method=method, seed=seed)

    def residual(self, u, x):
        return self.fn(u, x)


class Neumann(Condition):
    r""":math:`\nabla u \cdot n = h` on the boundary, :math:`n` the outward unit normal."""

    name = "neumann"

    def __init__(self, h: PointFn | float | None = None, domain: Domain | None = None) -> None:
        _check_fn(h, "Neumann", "h")
        self.h, self.domain = h, domain

    def points(self, domain, n, method, seed):
        return domain.sample_boundary(n, method=method, seed=seed)

    def bind(self, domain):
        """The normal from ``domain`` unless one was given at construction."""
        return self if self.domain is not None else Neumann(self.h, domain=domain)

    def residual(self, u, x):
        if self.domain is None:
            raise ValueError(
                "Neumann: no domain to take the normal from; pass `domain=` or use "
                "`bind(domain)` (Problem does)"
            )
        return jnp.dot(nx.gradient(u)(x), self.domain.normal(x)) - _value(
            self.h, x, "Neumann: argument `h`"
        )

    def check(self, x):
        _check_at(lambda p: _value(self.h, p, "Neumann: argument `h`"), x)


def _time_domain(domain: Domain, cls: str) -> TimeSpace:
    if not isinstance(domain, TimeSpace):
        raise TypeError(f"{cls}: needs a TimeSpace domain (points (t, x...)); got {domain!r}")
    return domain


class Initial(Condition):
    """:math:`u(t_0, x) = g(t_0, x)` on the initial slice."""

    name = "initial"

    def __init__(self, g: PointFn | float | None = None) -> None:
        _check_fn(g, "Initial", "g")
        self.g = g

    def points(self, domain, n, method, seed):
        return _time_domain(domain, "Initial").sample_initial(n, method=method, seed=seed)

    def residual(self, u, x):
        return u(x) - _value(self.g, x, "Initial: argument `g`")

    def check(self, x):
        _check_at(lambda p: _value(self.g, p, "Initial: argument `g`"), x)


class InitialDerivative(Condition):
    r""":math:`\partial_t u(t_0, x) = g(t_0, x)` on the initial slice (second order in time)."""

    name = "initial_derivative"

    def __init__(self, g: PointFn | float | None = None) -> None:
        _check_fn(g, "InitialDerivative", "g")
        self.g = g

    def points(self, domain, n, method, seed):
        return _time_domain(domain, "InitialDerivative").sample_initial(n, method=method, seed=seed)

    def residual(self, u, x):
        return nx.gradient(u)(x)[0] - _value(self.g, x, "InitialDerivative: argument `g`")

    def check(self, x):
        _check_at(lambda p: _value(self.g, p, "InitialDerivative: argument `g`"), x)


class Periodic(Condition):
    r""":math:`u` (and optionally :math:`\partial_a u`) equal on the faces :math:`x_a = a_a`
    and :math:`x_a = b_a` of a box (or the spatial box of a space-time domain)."""

    name = "periodic"

    def __init__(self, axis: int, derivative: bool = False, shift: float | None = None) -> None:
        if not isinstance(axis, int) or isinstance(axis, bool) or axis < 0:
            raise ValueError(f"Periodic: argument `axis` must be an integer >= 0; got {axis!r}")
        if shift is not None and not (np.isfinite(shift) and shift > 0):
            raise ValueError(f"Periodic: argument `shift` must be finite and > 0; got {shift!r}")
        self.axis, self.derivative = axis, derivative
        self.shift = None if shift is None else float(shift)

    def _check_axis(self, domain):
        if self.axis >= domain.dim:
            raise ValueError(
                f"Periodic: argument `axis`={self.axis} out of range for a domain of dim "
                f"{domain.dim}"
            )

    def points(self, domain, n, method, seed):
        self._check_axis(domain)
        box = Box(domain.lower, domain.upper)
        pts = box.sample(n, method=method, seed=seed)
        pts[:, self.axis] = domain.lower[self.axis]
        return pts

    def bind(self, domain):
        """The period (the width of ``domain`` along ``axis``) as a new condition."""
        self._check_axis(domain)
        width = float(domain.upper[self.axis] - domain.lower[self.axis])
        return Periodic(self.axis, self.derivative, shift=width)

    def residual(self, u, x):
        if self.shift is None:
            raise ValueError("Periodic: no period; use `bind(domain)` (Problem does)")
        y = x.at[self.axis].add(self.shift)
        out = u(x) - u(y)
        if self.derivative:
            g = nx.gradient(u)
            out = jnp.stack([out, g(x)[self.axis] - g(y)[self.axis]])
        return out


class HardConstraint:
    r"""Exact enforcement: :math:`u(x) = g(x) + \varphi(x)\, N(x)`.

    ``distance`` :math:`\varphi` vanishes exactly where the data ``g`` is prescribed (on the
    boundary: ``domain.distance``; for an initial-boundary problem :math:`(t - t_0)\varphi(x)`),
    and ``particular`` :math:`g` satisfies the conditions there. Then every network gives a
    trial function that meets them, and the loss keeps only the residual.

    Args:
        distance: :math:`\varphi`, a function of one point (or a :class:`Domain`: its
            ``distance``).
        particular: :math:`g`, a function of one point, or ``None`` (zero data).
    """

    def __init__(self, distance: PointFn | Domain, particular: PointFn | None = None) -> None:
        if isinstance(distance, Domain):
            distance = distance.distance
        if not callable(distance):
            raise TypeError(
                f"HardConstraint: argument `distance` must be a function of one point or a "
                f"Domain; got {type(distance).__name__}"
            )
        _check_fn(particular, "HardConstraint", "particular")
        self.distance, self.particular = distance, particular

    def wrap(self, net: PointFn) -> PointFn:
        """The trial function :math:`x \\mapsto g(x) + \\varphi(x) N(x)` for the network ``net``."""

        def u(x):
            phi = jnp.asarray(self.distance(x))
            if phi.shape != ():
                raise ValueError(
                    "HardConstraint: argument `distance` must return a scalar, shape (), at one "
                    f"point of shape {tuple(x.shape)}; got shape {phi.shape}"
                )
            return _value(self.particular, x, "HardConstraint: argument `particular`") + phi * net(
                x
            )

        return u

    def check(self, x: jax.Array) -> None:
        """Raise ``ValueError`` if ``distance`` or ``particular`` is not scalar at ``x``."""
        _check_at(self.wrap(lambda p: jnp.zeros((), p.dtype)), x)


class _BallConstraint(HardConstraint):
    """`HardConstraint` with distance ``R² − |x − c|²`` whose trial functions are
    `nestax.BallAnsatz` objects (they know their Laplacian and biharmonic by the product rule)."""

    def __init__(self, d: int | None, center: Any, radius: float) -> None:
        if center is None and d is not None:  # the ansatz then checks the point's shape
            center = jnp.zeros(d)
        self._ball = nx.BallAnsatz(lambda x: jnp.zeros((), x.dtype), center=center, radius=radius)

        def distance(x):
            if d is not None and x.shape != (d,):
                raise ValueError(
                    f"unit_ball_ansatz: expected a point of shape ({d},); got {x.shape}"
                )
            return self._ball.distance(x)

        super().__init__(distance)

    def wrap(self, net: PointFn) -> nx.BallAnsatz:
        return nx.BallAnsatz(net, center=self._ball.center, radius=self._ball.radius)


def unit_ball_ansatz(
    d: int | None = None, *, center: Any = None, radius: float = 1.0
) -> HardConstraint:
    r"""The ansatz :math:`u(x) = (R^2 - |x - c|^2) N(x)` (by default :math:`1 - |x|^2`): zero on
    the sphere, for every :math:`N` (the point's shape is checked against ``(d,)`` when ``d`` is
    given). ``wrap(net)`` returns a :class:`nestax.BallAnsatz`, whose ``laplacian`` and
    ``biharmonic`` use the product rule."""
    return _BallConstraint(d, center, radius)


def initial_boundary_ansatz(domain: TimeSpace, initial: PointFn) -> HardConstraint:
    r""":math:`u(t, x) = u_0(x)\,\text{(lifted)} + (t - t_0)\varphi(x) N(t, x)` for zero lateral
    Dirichlet data and initial data ``initial(x_point)`` that itself vanishes on the lateral
    boundary (e.g. Burgers: :math:`-\sin \pi x` on :math:`[-1, 1]`)."""
    domain = _time_domain(domain, "initial_boundary_ansatz")
    t0 = domain.t0
    return HardConstraint(lambda x: (x[0] - t0) * domain.distance(x), initial)
