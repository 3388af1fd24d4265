r"""biharmonic: a simply supported square plate, :math:`\Delta^2 u = q` on :math:`[0, 1]^2`.

Kirchhoff plate under the load :math:`q = 4\pi^4 \sin \pi x \sin \pi y` (units with
:math:`D = 1`), simply supported: :math:`u = 0` and :math:`\Delta u = 0` (no bending moment) on
the edges. Navier's closed form is :math:`u^* = \sin \pi x \sin \pi y`.

The deflection condition is exact (:math:`u = 16\,x(1-x)y(1-y)\,N`,
:class:`nestax.pinn.HardConstraint`); the moment condition :math:`\Delta u = 0` is a penalty
(:class:`nestax.pinn.BoundaryResidual`). The fourth-order residual uses ``nx.Biharmonic()``
through ``nx.apply`` (``method="auto"``: the collapsed Taylor strategy where available).

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import biharmonic_plate as bp
    >>> float(abs(bp.residual(bp.exact, jnp.array([0.3, 0.6])))) < 1e-9
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import nestax as nx
from nestax import pinn

from . import _run

NAME = "biharmonic"
SUMMARY = "simply supported plate Δ²u = 4π⁴ sin πx sin πy (Navier), 4th-order residual"
DEFAULT_ITERS = 3000


def exact(x: jax.Array) -> jax.Array:
    return jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])


def residual(u, x):
    """:math:`(\\Delta^2 u - q) / (4\\pi^4)` (scaled to order one)."""
    q = 4 * jnp.pi**4 * exact(x)
    return (nx.apply(nx.Biharmonic(), u)(x) - q) / (4 * jnp.pi**4)


def build(n_interior: int = 1024, seed: int = 0) -> pinn.Problem:
    box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    moment = pinn.BoundaryResidual(lambda u, x: nx.laplacian(u)(x) / (2 * jnp.pi**2))
    return pinn.Problem(
        residual,
        box,
        [moment],
        n_interior=n_interior,
        n_boundary=256,
        seed=seed,
        constraint=pinn.HardConstraint(box),
    )


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, n_interior: int = 1024, width: int = 32, depth: int = 3
) -> dict[str, Any]:
    problem = build(n_interior, args.seed)
    stages = _run.adam_then_lbfgs(args.iters)
    return _run.train_field(args, problem, stages, exact, width=width, depth=depth)
