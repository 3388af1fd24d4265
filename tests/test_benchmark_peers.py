"""The benchmark suites' peers (`nestax.benchmarks._peers`) compute the operators they are timed
on: every row of the table, every kind it claims, against nested ``jax.jacfwd`` in float64."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import pytest

import nestax as nx
from nestax.benchmarks._peers import KINDS, PEERS, peers_for

from ._helpers import assert_close, init_mlp, mlp

OPERATORS = {
    "laplacian": (nx.Laplacian(), 3),
    "biharmonic": (nx.Biharmonic(), 2),
    "d4/dt4": (nx.Partial((4,)), 0),
    "u_xxy": (nx.Partial((2, 1)), 2),
    "heat": (nx.Partial((1, 0, 0)) - 0.1 * (nx.Partial((0, 2, 0)) + nx.Partial((0, 0, 2))), 3),
}


def _reference(terms, u, x):
    total = 0.0
    for alpha, c in terms.items():
        g = u
        for _ in range(sum(alpha)):
            g = jax.jacfwd(g)
        idx = tuple(i for i, a in enumerate(alpha) for _ in range(a))
        total = total + c * g(x)[idx]
    return total


CASES = [(p, k) for p, peer in PEERS.items() for k in KINDS if k in peer.builders]


@pytest.mark.parametrize("peer, kind", CASES, ids=[f"{p}-{k}" for p, k in CASES])
def test_peer_computes_its_operator(peer, kind):
    if any(importlib.util.find_spec(r) is None for r in PEERS[peer].requires):
        pytest.skip(f"{peer} needs {PEERS[peer].requires}, not installed")
    op, d = OPERATORS[kind]
    n = max(d, 1)
    terms = op.terms(n)
    params = init_mlp(jax.random.key(3), [n, 5, 5, 1])
    net = lambda x: mlp(params, x)[0]
    x = jnp.linspace(-0.6, 0.7, n)
    build, _ = peers_for(kind, terms, d)[peer]
    # a peer's own code may rely on rank promotion, which these tests otherwise refuse
    with jax.numpy_rank_promotion("allow"):
        if d == 0:
            got = jax.jit(build(lambda t: net(t[None])))(x[0])
        else:
            got = jax.jit(build(net))(x)
    assert_close(got, jax.jit(lambda z: _reference(terms, net, z))(x), rtol=1e-9, atol=1e-10)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="kind"):
        peers_for("wave", {}, 2)


def test_program_fingerprints_compare_what_is_computed():
    """The operators suite's fingerprint: one program compiled from two places and after other
    compilations hashes alike (source tables, numbering); another program does not."""
    from nestax.benchmarks.operators import fingerprint

    x = jnp.linspace(0.1, 1.0, 4)

    def first(z):
        return jnp.sum(jnp.sin(z) * z)

    hlo = lambda f: jax.jit(f).lower(x).compile().as_text()
    a = hlo(first)
    jax.jit(lambda z: jnp.cos(z) @ z).lower(x).compile()  # moves XLA's numbering on
    b = hlo(lambda z: jnp.sum(jnp.sin(z) * z))  # the same program, written elsewhere
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(hlo(lambda z: jnp.sum(jnp.cos(z) * z))) != fingerprint(a)
