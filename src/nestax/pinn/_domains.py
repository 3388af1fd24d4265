r"""Domains of a PDE: where collocation points live, and how to sample them.

A domain :math:`\Omega \subset \mathbb{R}^d` knows its dimension, a bounding box, whether a point
is inside (``contains``), how to draw interior points (``sample``) and boundary points
(``sample_boundary``), the outward unit normal on its boundary (``normal``) and a smooth
*distance-like* function :math:`\varphi \ge 0` that vanishes exactly on the boundary
(``distance``), used for exact enforcement of Dirichlet data (:mod:`._conditions`).

Space-time problems use :class:`TimeSpace`, whose points are ``(t, x_1, ..., x_d)``: **time
first**. Its "boundary" is the lateral boundary :math:`[t_0, t_1] \times \partial\Omega`; the
initial slice :math:`\{t_0\} \times \Omega` comes from ``sample_initial``.

Interior sampling (``method``):

- ``"uniform"``: i.i.d. uniform (``numpy`` generator from ``seed``),
- ``"lhs"``: Latin hypercube (``scipy.stats.qmc``),
- ``"sobol"``: scrambled Sobol sequence (``scipy.stats.qmc``), the default — lowest
  discrepancy.

Points in non-box domains are drawn in the bounding box and rejected outside (for the ball in
high dimension, where the box is a vanishing fraction, a direct radial formula is used
instead). Sampling happens on the host and returns float64 ``numpy`` arrays of shape ``(n, d)``;
``sample_uniform(key, n)`` is the jit-friendly JAX version used for per-step resampling.

Example:
    >>> from nestax import pinn
    >>> box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    >>> pts = box.sample(128, method="sobol", seed=0)
    >>> pts.shape, bool(box.contains(pts).all())
    ((128, 2), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

METHODS = ("uniform", "lhs", "sobol")


def _unit_cube(n: int, d: int, method: str, seed: int) -> np.ndarray:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"sample: argument `n` must be an integer >= 1; got {n!r}")
    if method == "uniform":
        return np.random.default_rng(seed).random((n, d))
    if method == "lhs":
        return qmc.LatinHypercube(d=d, seed=seed).random(n)
    if method == "sobol":
        m = max(0, math.ceil(math.log2(n)))  # draw a power of two (balanced), keep n
        return qmc.Sobol(d=d, scramble=True, seed=seed).random_base2(m)[:n]
    raise ValueError(f"sample: unknown method={method!r}; expected one of {METHODS}")


class Domain:
    """Base of the domains; see the module docstring for the interface."""

    dim: int
    lower: np.ndarray  # bounding box
    upper: np.ndarray

    def contains(self, x, tol: float = 1e-12):
        raise NotImplementedError

    def distance(self, x: jax.Array) -> jax.Array:
        """Smooth :math:`\\varphi(x) \\ge 0`, zero exactly on the boundary (one point)."""
        raise NotImplementedError

    def normal(self, x: jax.Array) -> jax.Array:
        """Outward unit normal at a boundary point ``x`` (one point)."""
        raise NotImplementedError

    def sample_boundary(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        raise NotImplementedError

    def sample(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        """``n`` interior points, shape ``(n, dim)``, float64."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"sample: argument `n` must be an integer >= 1; got {n!r}")
        out: list[np.ndarray] = []
        have, trial = 0, 0
        while have < n:
            u = _unit_cube(max(2 * (n - have), 16), self.dim, method, seed + 7919 * trial)
            pts = self.lower + (self.upper - self.lower) * u
            pts = pts[np.asarray(self.contains(pts))]
            out.append(pts)
            have += len(pts)
            trial += 1
        return np.concatenate(out)[:n]

    def sample_uniform(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` i.i.d. uniform interior points, with JAX (usable inside ``jit``)."""
        lo, hi = jnp.asarray(self.lower), jnp.asarray(self.upper)
        return lo[None] + (hi - lo)[None] * jax.random.uniform(key, (n, self.dim), dtype=lo.dtype)


def _vector(v, name: str, cls: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{cls}: argument `{name}` must be a 1-D sequence; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{cls}: argument `{name}` must be finite; got {arr.tolist()}")
    return arr


def _count(n: int, what: str = "sample_boundary") -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{what}: argument `n` must be an integer >= 1; got {n!r}")


class Box(Domain):
    r"""The box :math:`\prod_i [a_i, b_i]`; ``Interval(a, b)`` is the 1-D case.

    ``distance`` is :math:`\prod_i (x_i - a_i)(b_i - x_i) / ((b_i - a_i)/2)^2` (smooth, zero on
    every face, 1 at the centre).
    """

    def __init__(self, lower: Sequence[float], upper: Sequence[float]) -> None:
        lo, hi = _vector(lower, "lower", "Box"), _vector(upper, "upper", "Box")
        if lo.shape != hi.shape or not np.all(hi > lo):
            raise ValueError(
                f"Box: arguments `lower` and `upper` must have the same length with lower < upper;"
                f" got lower={lo.tolist()}, upper={hi.tolist()}"
            )
        self.lower, self.upper, self.dim = lo, hi, lo.size

    def __repr__(self) -> str:
        return f"Box({self.lower.tolist()}, {self.upper.tolist()})"

    def contains(self, x, tol: float = 1e-12):
        x = np.asarray(x)
        return np.all((x >= self.lower - tol) & (x <= self.upper + tol), axis=-1)

    def distance(self, x):
        lo, hi = jnp.asarray(self.lower), jnp.asarray(self.upper)
        return jnp.prod((x - lo) * (hi - x) / ((hi - lo) / 2) ** 2)

    def normal(self, x):
        lo, hi = jnp.asarray(self.lower), jnp.asarray(self.upper)
        dist = jnp.concatenate([x - lo, hi - x])  # distance to each face
        k = jnp.argmin(dist)
        sign = jnp.where(k < self.dim, -1.0, 1.0)
        return sign * jax.nn.one_hot(k % self.dim, self.dim, dtype=x.dtype)

    def sample_boundary(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        """``n`` points on the faces, each face getting a share proportional to its area.

        An interval's boundary is its two ends: ``n`` is rounded up to an even number (at
        least 2), half of the points at each end, so both ends weigh the same in a loss.
        """
        _count(n)
        width = self.upper - self.lower
        if self.dim == 1:
            m = max(2, n + n % 2)
            return np.array([[self.lower[0]], [self.upper[0]]])[np.arange(m) % 2]
        area = np.array([np.prod(np.delete(width, i)) for i in range(self.dim)])
        u = _unit_cube(n, self.dim, method, seed)
        pts = self.lower + width * u
        # pick a face from the first coordinate (face i low or high), in proportion to area
        cum = np.cumsum(np.repeat(area, 2)) / (2 * area.sum())
        face = np.searchsorted(cum, np.random.default_rng(seed).random(n), side="right")
        axis, high = face // 2, face % 2
        pts[np.arange(n), axis] = np.where(high, self.upper[axis], self.lower[axis])
        return pts


def Interval(a: float, b: float) -> Box:  # noqa: N802  (reads as a class)
    """The interval :math:`[a, b]` (a one-dimensional :class:`Box`)."""
    return Box([a], [b])


class Ball(Domain):
    r"""The ball :math:`\{x: |x - c| \le r\}` in :math:`\mathbb{R}^d` (a disk for ``d = 2``).

    ``distance`` is :math:`1 - |x - c|^2 / r^2`, so that the ansatz :math:`(1-|x|^2) N(x)` on
    the unit ball is :func:`~nestax.pinn.DirichletAnsatz` with zero data.
    """

    def __init__(self, center: Sequence[float], radius: float = 1.0) -> None:
        self.center = _vector(center, "center", "Ball")
        if not (np.isfinite(float(radius)) and float(radius) > 0):
            raise ValueError(f"Ball: argument `radius` must be finite and positive; got {radius!r}")
        self.radius, self.dim = float(radius), self.center.size
        self.lower, self.upper = self.center - radius, self.center + radius

    @classmethod
    def unit(cls, d: int) -> Ball:
        """The unit ball of :math:`\\mathbb{R}^d` centred at the origin."""
        return cls(np.zeros(d), 1.0)

    def __repr__(self) -> str:
        return f"Ball(dim={self.dim}, radius={self.radius})"

    def contains(self, x, tol: float = 1e-12):
        x = np.asarray(x)
        return np.linalg.norm(x - self.center, axis=-1) <= self.radius + tol

    def distance(self, x):
        return 1.0 - jnp.sum((x - jnp.asarray(self.center)) ** 2) / self.radius**2

    def normal(self, x):
        v = x - jnp.asarray(self.center)
        return v / jnp.linalg.norm(v)

    def sample(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        if self.dim <= 4:  # rejection from the box keeps the low-discrepancy structure
            return super().sample(n, method=method, seed=seed)
        # direction ~ normalised Gaussian, radius ~ r U^{1/d}: uniform in the ball
        rng = np.random.default_rng(seed)
        g = rng.standard_normal((n, self.dim))
        rad = self.radius * rng.random((n, 1)) ** (1.0 / self.dim)
        return self.center + rad * g / np.linalg.norm(g, axis=1, keepdims=True)

    def sample_uniform(self, key, n):
        kg, kr = jax.random.split(key)
        c = jnp.asarray(self.center)
        g = jax.random.normal(kg, (n, self.dim), dtype=c.dtype)
        rad = self.radius * jax.random.uniform(kr, (n, 1), dtype=c.dtype) ** (1.0 / self.dim)
        return c[None] + rad * g / jnp.linalg.norm(g, axis=1, keepdims=True)

    def sample_boundary(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        _count(n)
        if self.dim == 2 and method != "uniform":
            angle = 2 * np.pi * _unit_cube(n, 1, method, seed)[:, 0]
            return self.center + self.radius * np.stack([np.cos(angle), np.sin(angle)], 1)
        g = np.random.default_rng(seed).standard_normal((n, self.dim))
        return self.center + self.radius * g / np.linalg.norm(g, axis=1, keepdims=True)


Disk = Ball


class TimeSpace(Domain):
    r""":math:`[t_0, t_1] \times \Omega`; points are ``(t, x_1, ..., x_d)`` (time first).

    ``sample_boundary`` draws the lateral boundary :math:`[t_0, t_1] \times \partial\Omega`;
    ``sample_initial`` the slice :math:`\{t_0\} \times \Omega`. ``distance`` is the spatial
    one (the initial slice is handled by the ansatz in :mod:`._conditions`).
    """

    def __init__(self, t0: float, t1: float, space: Domain) -> None:
        if not (np.isfinite([float(t0), float(t1)]).all() and float(t1) > float(t0)):
            raise ValueError(f"TimeSpace: need finite t0 < t1; got t0={t0!r}, t1={t1!r}")
        if not isinstance(space, Domain):
            raise TypeError(f"TimeSpace: argument `space` must be a Domain; got {space!r}")
        self.t0, self.t1, self.space = float(t0), float(t1), space
        self.dim = space.dim + 1
        self.lower = np.concatenate([[self.t0], space.lower])
        self.upper = np.concatenate([[self.t1], space.upper])

    def __repr__(self) -> str:
        return f"TimeSpace({self.t0}, {self.t1}, {self.space!r})"

    def contains(self, x, tol: float = 1e-12):
        x = np.asarray(x)
        t_ok = (x[..., 0] >= self.t0 - tol) & (x[..., 0] <= self.t1 + tol)
        return t_ok & self.space.contains(x[..., 1:], tol)

    def distance(self, x):
        return self.space.distance(x[1:])

    def normal(self, x):
        return jnp.concatenate([jnp.zeros((1,), x.dtype), self.space.normal(x[1:])])

    def sample(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        if isinstance(self.space, Box):
            return Box(self.lower, self.upper).sample(n, method=method, seed=seed)
        t = self.t0 + (self.t1 - self.t0) * _unit_cube(n, 1, method, seed)
        return np.concatenate([t, self.space.sample(n, method=method, seed=seed + 1)], 1)

    def sample_uniform(self, key, n):
        kt, kx = jax.random.split(key)
        x = self.space.sample_uniform(kx, n)
        t = jax.random.uniform(kt, (n, 1), x.dtype, self.t0, self.t1)
        return jnp.concatenate([t, x], 1)

    def sample_boundary(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        x = self.space.sample_boundary(n, method=method, seed=seed)  # an interval: both ends
        t = self.t0 + (self.t1 - self.t0) * _unit_cube(len(x), 1, method, seed + 1)
        return np.concatenate([t, x], 1)

    def sample_initial(self, n: int, *, method: str = "sobol", seed: int = 0) -> np.ndarray:
        x = self.space.sample(n, method=method, seed=seed)
        return np.concatenate([np.full((n, 1), self.t0), x], 1)
