r"""poisson-smooth: :math:`-\Delta u = 2\pi^2 \sin \pi x \sin \pi y` on :math:`[0, 1]^2`, u = 0 on
the boundary — the first problem of the energy natural gradient paper (Müller & Zeinhofer 2023).

The exact solution is :math:`u^*(x, y) = \sin \pi x \sin \pi y`. The trial function enforces
the boundary data exactly, :math:`u_\theta = 16\, x(1-x)\, y(1-y)\, N_\theta(x, y)`
(:class:`nestax.pinn.HardConstraint`), so the loss is the mean squared residual
:math:`(\Delta u_\theta + 2\pi^2 \sin \pi x \sin \pi y)^2 / (2\pi^2)^2` over Sobol points, in
residual form (:meth:`nestax.pinn.Problem.residuals`). Training: a short Adam warm-up, then
Gauss–Newton (energy natural gradient with Levenberg–Marquardt damping, solved in sample
space by the Woodbury identity since there are fewer points than weights), in float64. The
error is measured on a 101 × 101 grid.

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import poisson_smooth
    >>> problem = poisson_smooth.build(n_interior=64)
    >>> float(jax.numpy.max(abs(jax.vmap(lambda x: poisson_smooth.residual(
    ...     poisson_smooth.exact, x))(problem.points["residual"])))) < 1e-12
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import nestax as nx
from nestax import pinn

from . import _run

NAME = "poisson-smooth"
SUMMARY = "−Δu = 2π² sin πx sin πy on [0,1]² (ENGD paper), hard constraint, Adam → Gauss–Newton"
DEFAULT_ITERS = 600  # Adam 200 + Gauss-Newton 400
F_SCALE = 2 * jnp.pi**2


def exact(x: jax.Array) -> jax.Array:
    """:math:`u^* = \\sin \\pi x \\sin \\pi y`."""
    return jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])


def residual(u, x):
    """:math:`(\\Delta u + 2\\pi^2 \\sin \\pi x \\sin \\pi y) / (2\\pi^2)`."""
    return nx.laplacian(u)(x) / F_SCALE + jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])


def build(n_interior: int = 512, seed: int = 0) -> pinn.Problem:
    """The problem with ``n_interior`` Sobol collocation points and the hard constraint."""
    box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    constraint = pinn.HardConstraint(box.distance)
    return pinn.Problem(residual, box, n_interior=n_interior, seed=seed, constraint=constraint)


def stages(iters: int, adam_steps: int = 200, damping: float = 1e-3) -> list[nx.Stage]:
    """Adam for ``min(adam_steps, iters // 3)`` steps, then Gauss–Newton for the rest."""
    adam = min(adam_steps, max(iters // 3, 1))
    out = [nx.Stage("adam", adam, learning_rate=1e-3)]
    if iters - adam > 0:
        out.append(nx.Stage("gauss-newton", iters - adam, damping=damping))
    return out


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, n_interior: int = 512, width: int = 32, depth: int = 2,
    adam_steps: int = 200,
) -> dict[str, Any]:  # fmt: skip
    """Train, then write ``metrics.json`` (``rel_l2_error`` on a 101² grid) and plots."""
    problem = build(n_interior, args.seed)
    schedule = stages(args.iters, adam_steps)
    extra = dict(n_interior=n_interior, width=width, depth=depth)
    extra["stages"] = [repr(s) for s in schedule]
    return _run.train_field(args, problem, schedule, exact, width=width, depth=depth, extra=extra)
