r"""Reference solution of the Allen–Cahn benchmark, computed at run time (no downloads).

.. math::
    u_t = D u_{xx} + 5u - 5u^3, \quad D = 10^{-4}, \quad (t, x) \in [0, 1] \times [-1, 1],
    \qquad u(0, x) = x^2 \cos \pi x, \quad u \text{ 2-periodic in } x .

**Semi-discretisation**: :math:`u(t, x) = \sum_m \hat u_m(t)\, e^{i \pi m x}` with ``n`` Fourier
modes (collocation on :math:`x_j = -1 + 2j/n`), so :math:`\hat u_t = L \hat u + \hat N(u)` with
the diagonal, stiff :math:`L = -D \pi^2 m^2` and :math:`N(u) = 5u - 5u^3` computed on the grid.
The interfaces that form are about :math:`\sqrt{2D/5} \approx 0.006` wide; the periodic
extension of :math:`u_0` has a kink at :math:`x = \pm 1` (see ``_initial_coefficients``).
``n = 4096`` and a step of ``1e-3`` are the defaults of ``reference`` (sampled at every eighth
point for the 512-point benchmark grid): against 16 384 modes, a relative L2 difference of
5e-11 on the grid, at most 7e-9 at a point (just after :math:`t = 0`); against a step of
2.5e-4, 4e-12.

**Time stepping**: ETDRK4 (Cox & Matthews 2002) — exact exponential of :math:`L`, fourth-order
Runge–Kutta-like treatment of :math:`N` — with the coefficients
:math:`h\varphi_k(hL)` evaluated by the contour-integral average of Kassam & Trefethen (2005),
which avoids the cancellation of the closed forms near :math:`hL = 0`.

``solve`` is the solver; ``reference`` the benchmark grid (``x``: 512 points on
:math:`[-1, 1)`, ``t``: 201 points on :math:`[0, 1]`), cached in-process.

Example:
    >>> import numpy as np
    >>> from nestax.examples import allen_cahn_reference as ref
    >>> t, x, u = ref.solve(np.array([0.0, 0.05]), n=256, dt=1e-3)
    >>> bool(np.allclose(u[0], x**2 * np.cos(np.pi * x)))  # the initial data at t = 0
    True
    >>> bool(np.max(np.abs(u[1])) < 1.0)  # the solution stays between the wells ±1
    True
"""

from __future__ import annotations

import functools

import numpy as np

D = 1e-4  # diffusion coefficient
GAMMA = 5.0  # reaction coefficient: N(u) = GAMMA (u - u^3)


def initial(x: np.ndarray) -> np.ndarray:
    """:math:`u_0(x) = x^2 \\cos \\pi x`."""
    return x**2 * np.cos(np.pi * x)


def _etdrk4_coefficients(lin: np.ndarray, h: float, n_contour: int = 64):
    """``E = e^{hL}``, ``E2 = e^{hL/2}`` and the ETDRK4 weights (Kassam & Trefethen 2005, eq.
    (2.5) with the φ-functions averaged over a circle of radius 1 around each ``hL``)."""
    hl = h * lin
    roots = np.exp(1j * np.pi * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    z = hl[:, None] + roots[None, :]  # (modes, contour points)
    q = h * np.real(np.mean((np.exp(z / 2) - 1) / z, axis=1))
    f1 = h * np.real(np.mean((-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3, axis=1))
    f2 = h * np.real(np.mean((2 + z + np.exp(z) * (-2 + z)) / z**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3, axis=1))
    return np.exp(hl), np.exp(hl / 2), q, f1, f2, f3


def _initial_coefficients(n: int, oversample: int = 64) -> np.ndarray:
    """The first ``n // 2 + 1`` Fourier coefficients of :math:`u_0` (scaled as ``rfft`` of ``n``
    samples), the Nyquist one zero. The periodic extension of :math:`u_0` has a kink at
    :math:`x = \\pm 1` (:math:`u_0'(\\pm 1) = \\mp 2`), so its coefficients decay like
    :math:`m^{-2}` only; sampling it on the grid would alias that tail into every mode (an
    :math:`O(n^{-2})` error that the dynamics carry on). The projection, from ``oversample``
    times as many samples (aliasing :math:`O((\\text{oversample}\\,n)^{-2})`), drops the tail
    instead, which diffusion would have damped within :math:`t \\sim 1/(D\\pi^2 m^2)` anyway."""
    fine = oversample * n
    xf = -1.0 + 2.0 * np.arange(fine) / fine
    vh = np.fft.rfft(initial(xf))[: n // 2 + 1] / oversample
    vh[-1] = 0.0
    return vh


def solve(
    t: np.ndarray, n: int = 2048, dt: float = 2.5e-4, d: float = D, gamma: float = GAMMA
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, x, u)`` with ``u[i, j] = u(t_i, x_j)``, ``x_j = -1 + 2j/n`` (``n`` even), for
    ascending output times ``t >= 0``; every gap between output times is split into steps of
    at most ``dt`` (equal steps within a gap)."""
    t = np.asarray(t, np.float64)
    if t.ndim != 1 or t.size < 1 or t[0] < 0 or np.any(np.diff(t) < 0):
        raise ValueError(f"solve: argument `t` must be ascending times >= 0; got {t!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 4 or n % 2:
        raise ValueError(f"solve: argument `n` must be an even integer >= 4; got {n!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"solve: argument `dt` must be a number > 0; got {dt!r}")
    x = -1.0 + 2.0 * np.arange(n) / n
    k = np.pi * np.fft.rfftfreq(n, d=1.0 / n)  # wavenumbers π m, m = 0 .. n/2
    lin = -d * k**2

    def nonlinear(vh):
        u = np.fft.irfft(vh, n)
        return np.fft.rfft(gamma * (u - u**3))

    vh = _initial_coefficients(n)
    out = np.empty((t.size, n))
    now, cache = 0.0, {}
    for i, target in enumerate(t):
        gap = target - now
        steps = int(np.ceil(gap / dt - 1e-9)) if gap > 0 else 0
        if steps:
            h = gap / steps
            if h not in cache:
                cache[h] = _etdrk4_coefficients(lin, h)
            e, e2, q, f1, f2, f3 = cache[h]
            for _ in range(steps):
                nv = nonlinear(vh)
                a = e2 * vh + q * nv
                na = nonlinear(a)
                b = e2 * vh + q * na
                nb = nonlinear(b)
                c = e2 * a + q * (2 * nb - nv)
                nc = nonlinear(c)
                vh = e * vh + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
        now = target
        out[i] = initial(x) if steps == 0 and target == 0 else np.fft.irfft(vh, n)
    return t, x, out


@functools.lru_cache(maxsize=2)
def _reference(nt: int, nx_: int, n: int, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if n % nx_:
        raise ValueError(f"reference: `n` ({n}) must be a multiple of the grid size ({nx_})")
    t, x, u = solve(np.linspace(0.0, 1.0, nt), n=n, dt=dt)
    stride = n // nx_
    return t, x[::stride], u[:, ::stride]


def reference(
    nt: int = 201, nx_: int = 512, n: int = 4096, dt: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, x, u)`` on the benchmark grid: ``t`` in ``linspace(0, 1, nt)``, ``x_j = -1 + 2j /
    nx_`` (``nx_`` points of the period :math:`[-1, 1)`), solved with ``n`` modes and sampled;
    cached in-process (copies are returned)."""
    t, x, u = _reference(int(nt), int(nx_), int(n), float(dt))
    return t.copy(), x.copy(), u.copy()
