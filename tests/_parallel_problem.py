"""The small PINN shared by tests/test_parallel.py and its subprocesses."""

import jax

import nestax as nx
from nestax import pinn


def make():
    box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    problem = pinn.Problem(
        lambda u, x: nx.laplacian(u)(x) + 1.0,
        box,
        [pinn.Dirichlet(0.0)],
        n_interior=64,
        n_boundary=16,
    )
    return problem, pinn.mlp(jax.random.key(0), 2, width=8, depth=2)


def stages():
    return [nx.Stage("adam", 50, learning_rate=1e-2)]
