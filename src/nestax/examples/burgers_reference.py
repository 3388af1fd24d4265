r"""Reference solutions of viscous Burgers, :math:`u_t + u u_x = \nu u_{xx}`.

Initial data :math:`u(0, x) = -\sin \pi x` on :math:`[-1, 1]`, :math:`u(t, \pm 1) = 0`.

Two independent solvers, both computed at run time (no downloads):

1. **Cole–Hopf** (exact up to quadrature; ``cole_hopf``). With
   :math:`u = -2\nu\,\varphi_x/\varphi` and the heat equation for :math:`\varphi`,

   .. math::
       u(t, x) = -\frac{\int \sin\pi(x-\eta)\, F(x-\eta)\, e^{-\eta^2/4\nu t}\, d\eta}
                        {\int F(x-\eta)\, e^{-\eta^2/4\nu t}\, d\eta},
       \qquad F(y) = e^{-\cos(\pi y)/(2\pi\nu)} .

   The integrands are smooth and decay like a Gaussian, so the trapezoid rule on a fine grid
   (in log-space, to survive :math:`e^{\pm 1/(2\pi\nu)} \approx e^{\pm 50}`) converges
   spectrally. The odd, 2-periodic initial data makes :math:`u(t, \pm 1) = 0` automatically.
2. **Fourier pseudo-spectral** (``spectral``): the odd extension is 2-periodic; :math:`N`
   Fourier modes, 2/3 de-aliasing, exact integrating factor for :math:`\nu u_{xx}` and
   classical RK4 on the rest. Used in the tests to cross-check the Cole–Hopf values.

Example:
    >>> import numpy as np
    >>> from nestax.examples import burgers_reference as ref
    >>> u = ref.cole_hopf(np.array([0.0, 0.5]), np.array([-0.5, 0.0, 0.5]))
    >>> bool(np.allclose(u[0], [1.0, 0.0, -1.0]))
    True
"""

from __future__ import annotations

import numpy as np

NU = 0.01 / np.pi


def cole_hopf(t: np.ndarray, x: np.ndarray, nu: float = NU, n_quad: int = 4001) -> np.ndarray:
    """:math:`u(t_i, x_j)`, shape ``(len(t), len(x))``; ``t = 0`` gives the initial data."""
    t, x = np.asarray(t, np.float64), np.asarray(x, np.float64)
    out = np.empty((t.size, x.size))
    for i, ti in enumerate(t):
        if ti <= 0:
            out[i] = -np.sin(np.pi * x)
            continue
        # The Gaussian factor is below e^-300 beyond |η| = sqrt(4 ν t · 300); cap at 2 periods.
        half = min(np.sqrt(4 * nu * ti * 300.0), 4.0)
        eta = np.linspace(-half, half, n_quad)
        y = x[:, None] - eta[None, :]
        log_w = -np.cos(np.pi * y) / (2 * np.pi * nu) - eta[None, :] ** 2 / (4 * nu * ti)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        out[i] = -np.sum(np.sin(np.pi * y) * w, axis=1) / np.sum(w, axis=1)
    return out


def spectral(
    t: np.ndarray, x: np.ndarray, nu: float = NU, n_modes: int = 2048, dt: float = 2e-5
) -> np.ndarray:
    """Fourier pseudo-spectral solution at times ``t`` (ascending), interpolated to ``x`` by
    the trigonometric series (exact for the resolved modes)."""
    n = n_modes
    grid = -1.0 + 2.0 * np.arange(n) / n  # period 2 on [-1, 1)
    k = np.pi * np.fft.rfftfreq(n, d=1.0 / n)  # wavenumbers π·m
    dealias = np.arange(k.size) < (2 * (n // 2)) // 3
    lin = np.exp(-nu * k**2 * dt / 2)  # half-step integrating factor

    def nonlinear(vh):
        u = np.fft.irfft(vh * dealias, n)
        return -0.5j * k * np.fft.rfft(u * u) * dealias

    vh = np.fft.rfft(-np.sin(np.pi * grid))
    out = np.empty((len(t), len(x)))
    now = 0.0
    for i, target in enumerate(np.asarray(t, np.float64)):
        steps = int(round((target - now) / dt))
        for _ in range(steps):  # integrating-factor RK4 (Lawson)
            a = nonlinear(vh)
            b = nonlinear(lin * (vh + dt / 2 * a))
            c = nonlinear(lin * vh + dt / 2 * b)
            d = nonlinear(lin**2 * vh + dt * lin * c)
            vh = lin**2 * vh + dt / 6 * (lin**2 * a + 2 * lin * (b + c) + d)
        now += steps * dt
        phase = np.exp(1j * np.outer(np.asarray(x) + 1.0, k))  # series evaluated at x
        coeff = vh / n * np.where((np.arange(k.size) == 0) | (2 * np.arange(k.size) == n), 1, 2)
        out[i] = np.real(phase @ (coeff * np.exp(-1j * k * (-1.0 + 1.0))))
    return out
