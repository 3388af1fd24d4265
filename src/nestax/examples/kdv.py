r"""kdv: the Korteweg–de Vries soliton, :math:`u_t + 6 u u_x + u_{xxx} = 0` (third order).

.. math::
    u^*(t, x) = \tfrac{c}{2}\operatorname{sech}^2\!\big(\tfrac{\sqrt c}{2}(x - c t - x_0)\big),
    \qquad c = 1,\ x_0 = -2,\ (t, x) \in [0, 4] \times [-10, 10].

Points are ``(t, x)``; the network sees them scaled to :math:`[-1, 1]` (``net=``). The initial
data is exact (:math:`u = u^*(0, x) + t\,N(t, x)`, :class:`nestax.pinn.HardConstraint`); the
boundary values :math:`u^*(t, \pm 10)` are a penalty (:class:`nestax.pinn.Dirichlet`). The
third derivative is ``nx.partial(u, (0, 3))`` (``method="auto"``: Taylor mode where available).

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import kdv
    >>> float(abs(kdv.residual(kdv.exact, jnp.array([0.7, -1.3])))) < 1e-12
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import nestax as nx
from nestax import pinn

from . import _run

NAME = "kdv"
SUMMARY = "KdV soliton u_t + 6uu_x + u_xxx = 0 (third order), exact initial data, Adam → L-BFGS"
DEFAULT_ITERS = 4000
C, X0, T1, L = 1.0, -2.0, 4.0, 10.0


def exact(p: jax.Array) -> jax.Array:
    return C / 2 / jnp.cosh(jnp.sqrt(C) / 2 * (p[1] - C * p[0] - X0)) ** 2


def residual(u, p):
    """:math:`u_t + 6 u u_x + u_{xxx}`."""
    du = nx.gradient(u)(p)
    return du[0] + 6 * u(p) * du[1] + nx.partial(u, (0, 3))(p)


def build(n_interior: int = 4096, seed: int = 0) -> pinn.Problem:
    domain = pinn.TimeSpace(0.0, T1, pinn.Interval(-L, L))
    scale = jnp.array([T1 / 2, L])
    shift = jnp.array([T1 / 2, 0.0])
    net = lambda params, p: jnp.reshape(params((p - shift) / scale), ())  # noqa: E731
    ansatz = pinn.HardConstraint(lambda p: p[0], lambda p: exact(p.at[0].set(0.0)))
    return pinn.Problem(
        residual,
        domain,
        [pinn.Dirichlet(exact)],
        n_interior=n_interior,
        n_boundary=256,
        seed=seed,
        constraint=ansatz,
        net=net,
    )


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, n_interior: int = 4096, width: int = 32, depth: int = 3
) -> dict[str, Any]:
    problem = build(n_interior, args.seed)
    grid = ((0, T1, 81), (-L, L, 201))
    return _run.train_field(
        args, problem, _run.adam_then_lbfgs(args.iters), exact, width=width, depth=depth,
        grid=grid, labels=("t", "x"),
    )  # fmt: skip
