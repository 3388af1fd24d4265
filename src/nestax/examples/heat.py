r"""heat: :math:`u_t = \kappa u_{xx}` on :math:`[0, 1] \times [0, 1]` with *soft* conditions.

.. math::
    u(0, x) = \sin \pi x, \qquad u(t, 0) = u(t, 1) = 0, \qquad
    u^*(t, x) = e^{-\kappa \pi^2 t} \sin \pi x, \quad \kappa = 0.4 .

Points are ``(t, x)``. Unlike poisson-2d and burgers, the initial and boundary data enter the
loss as penalty terms (:class:`nestax.pinn.Initial`, :class:`nestax.pinn.Dirichlet`), balanced
by learning-rate annealing (:class:`nestax.pinn.LRAnnealing`) at the start of each round; a
short Adam warm-up, then Gauss–Newton on the residual form of the loss (energy natural
gradient with Levenberg–Marquardt damping; 1 280 residuals, 1 185 weights).

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.examples import heat
    >>> float(abs(heat.residual(heat.exact, jnp.array([0.3, 0.2])))) < 1e-12
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import nestax as nx
from nestax import pinn

from . import _run

NAME = "heat"
SUMMARY = "heat equation u_t = 0.4 u_xx, soft initial/boundary terms, learning-rate annealing"
DEFAULT_ITERS = 500  # Adam 166 + Gauss-Newton 334
KAPPA = 0.4


def exact(p: jax.Array) -> jax.Array:
    return jnp.exp(-KAPPA * jnp.pi**2 * p[0]) * jnp.sin(jnp.pi * p[1])


def residual(u, p):
    """:math:`u_t - \\kappa u_{xx}`."""
    return nx.gradient(u)(p)[0] - KAPPA * nx.partial(u, (0, 2))(p)


def build(n_interior: int = 2048, seed: int = 0, n_boundary: int = 256) -> pinn.Problem:
    domain = pinn.TimeSpace(0.0, 1.0, pinn.Interval(0.0, 1.0))
    conditions = [pinn.Initial(lambda p: jnp.sin(jnp.pi * p[1])), pinn.Dirichlet(0.0)]
    return pinn.Problem(
        residual, domain, conditions, n_interior=n_interior, n_boundary=n_boundary, seed=seed
    )


def schedule(iters: int, rounds: int = 1, adam_steps: int = 200) -> tuple[list, list, int]:
    """``(first_round_stages, later_round_stages, rounds)`` for exactly ``iters`` steps: each
    round Adam for a third of its steps (at most ``adam_steps``), then Gauss–Newton; the first
    round takes the remainder of ``iters / rounds``. Fewer rounds when there are fewer than
    two steps a round."""
    if iters < 1:
        raise ValueError(f"{NAME}: argument `iters` must be >= 1; got {iters}")
    rounds = max(1, min(rounds, iters // 2))

    def one_round(steps: int) -> list:
        adam = min(adam_steps, max(steps // 3, 1))
        out = [nx.Stage("adam", adam, learning_rate=1e-3)]
        if steps > adam:
            out.append(nx.Stage("gauss-newton", steps - adam, damping=1e-3))
        return out

    per_round = iters // rounds
    return one_round(per_round + iters % rounds), one_round(per_round), rounds


@_run.example(NAME, DEFAULT_ITERS)
def run(
    args: _run.Args, *, n_interior: int = 1024, n_boundary: int = 128, width: int = 32,
    depth: int = 2, rounds: int = 1, adam_steps: int = 200,
) -> dict[str, Any]:  # fmt: skip
    """Train in ``rounds`` (weights re-balanced before each), write metrics and plots."""
    problem = build(n_interior, args.seed, n_boundary)
    net = pinn.mlp(jax.random.key(args.seed), 2, width=width, depth=depth)
    check = nx.check_gradients(lambda p: problem.loss()(p)["residual"], net, n_directions=8)
    first, later, rounds = schedule(args.iters, rounds, adam_steps)
    out, result = _run.train_rounds(
        args, problem, net, first, rounds, later, weighting=pinn.LRAnnealing()
    )
    grid = _run.mesh(*_run.UNIT_SQUARE)
    metrics, _, _ = _run.report_field(
        args, problem, result, check, grid, exact, labels=("t", "x"),
        extra={"weights_by_round": out.weights}, boundaries=out.boundaries,
    )  # fmt: skip
    return metrics
