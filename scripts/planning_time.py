"""How long ``auto`` takes to plan and lower an operator in many dimensions.

Lowering (tracing, planning, building the program; no compilation) of
``jax.jit(jax.vmap(L u))`` for a one-layer network ``u(x) = v · tanh(W x + 0.1)`` with ``W`` of
shape ``(n, d)``, 4 points, float32, and the method ``auto`` picks. Planning is Python work that
grows with the number of terms of the operator in ``d`` dimensions; these shapes once took
36 s (Laplacian, d = 20 000) and 15 s (biharmonic, d = 300) for work the pick never used.

    .venv/bin/python scripts/planning_time.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

CASES = [  # label, operator, d, width n of the first layer
    ("Laplacian", nx.Laplacian(), 20_000, 8),
    ("Laplacian", nx.Laplacian(), 10_000, 64),
    ("Laplacian", nx.Laplacian(), 2_000, 4_096),
    ("biharmonic", nx.Biharmonic(), 1_024, 8),
    ("biharmonic", nx.Biharmonic(), 300, 512),
    ("Laplacian + 0.5 biharmonic", nx.Laplacian() + 0.5 * nx.Biharmonic(), 200, 400),
]


def main() -> None:
    print(f"{'operator':<28} {'d':>6} {'n':>5}  {'lower':>7}  auto picks")
    for label, op, d, n in CASES:
        kw, kv = jax.random.split(jax.random.key(0))
        w = jax.random.normal(kw, (n, d)) / np.sqrt(d)
        v = jax.random.normal(kv, (n,))
        u = lambda x, w=w, v=v: v @ jnp.tanh(w @ x + 0.1)  # noqa: E731
        xs = jnp.ones((4, d)) / d
        start = time.perf_counter()
        jax.jit(jax.vmap(nx.apply(op, u))).lower(xs)
        seconds = time.perf_counter() - start
        method = nx.explain(op, u, xs[0]).method
        print(f"{label:<28} {d:>6} {n:>5}  {seconds:>6.2f}s  {method}", flush=True)


if __name__ == "__main__":
    main()
