r"""The peers the benchmark suites time nestax against: one table, peer -> kind -> builder.

A *kind* names an operator as the suites pose it: ``"laplacian"`` and ``"biharmonic"`` of
``u: R^d -> R``, ``"d4/dt4"`` (the fourth derivative of ``u: R -> R``, ``d = 0``), ``"u_xxy"``
and ``"heat"`` (``u_t + sum c_i u_{x_i x_i}``, the coefficients read off the terms). A builder
takes the operator's terms ``{alpha: c}`` and ``d`` and returns a point-operator builder
``u -> (x -> L u(x))``, written as a user of that peer writes it:

- ``jax.hessian``: nested ``jax.hessian`` / ``jax.grad`` (trace of the Hessian, Hessian of the
  Hessian, ``grad`` four times, ``grad`` of a Hessian entry, gradient and Hessian);
- ``jax.grad nested``: ``grad(grad(grad(u)))`` entry by entry (``u_xxy``);
- ``nested jvp``: one chain of ``|alpha|`` ``jax.jvp`` per multi-index (`nested_jvp_apply`);
- ``folx``: ``folx.forward_laplacian`` (`folx_laplacian`), of itself for the biharmonic and for
  the 1-D fourth derivative, spatial only plus one ``jax.jvp`` for the heat operator;
- ``jet``: ``jax.experimental.jet`` along nestax's Taylor directions (`jet_apply`).

Adding a peer is one row of `PEERS`. Only the public API of nestax is used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

PointOp = Callable[[Callable[[jax.Array], jax.Array]], Callable[[jax.Array], jax.Array]]
Terms = Mapping[tuple[int, ...], float]
Builder = Callable[[Terms, int], PointOp]
KINDS = ("laplacian", "biharmonic", "d4/dt4", "u_xxy", "heat")


def folx_laplacian(u):
    """``x -> Δu(x)`` by ``folx.forward_laplacian`` (the one folx wrapper of the suites)."""
    import folx

    return lambda x: folx.forward_laplacian(u)(x).laplacian


def _folx_heat(terms: Terms, d: int) -> PointOp:
    nu = -terms[(0, 2, 0)]

    def build(u):
        def lu(x):
            lap = folx_laplacian(lambda s: u(jnp.concatenate([x[:1], s])))(x[1:])
            ut = jax.jvp(u, (x,), (jnp.eye(3, dtype=x.dtype)[0],))[1]
            return terms[(1, 0, 0)] * ut - nu * lap

        return lu

    return build


def _grad_and_hessian(terms: Terms, d: int) -> PointOp:
    """``sum c_i du/dx_i + sum c_ij d2u/dx_i dx_j`` from ``jax.grad`` and ``jax.hessian``."""

    def build(u):
        def lu(x):
            g, h = jax.grad(u)(x), jax.hessian(u)(x)
            total = 0.0
            for alpha, c in terms.items():
                idx = [i for i, a in enumerate(alpha) for _ in range(a)]
                total = total + c * (g[idx[0]] if len(idx) == 1 else h[idx[0], idx[1]])
            return total

        return lu

    return build


def _grads(order: int) -> PointOp:
    def build(u):
        g = u
        for _ in range(order):
            g = jax.grad(g)
        return g

    return build


def _hessian_grad(u):
    return lambda x: jax.grad(lambda z: jax.hessian(u)(z)[0, 0])(x)[1]


def _grad_grad_grad(u):
    gx = lambda z: jax.grad(u)(z)[0]
    gxx = lambda z: jax.grad(gx)(z)[0]
    return lambda x: jax.grad(gxx)(x)[1]


def _fixed(build: PointOp) -> Builder:
    """A builder that does not read the terms (the operator is fixed by the kind)."""
    return lambda terms, d: build


class Peer(NamedTuple):
    """How a peer computes each kind it applies to, and the modules it needs."""

    builders: Mapping[str, Builder]
    requires: tuple[str, ...] = ()


def jet_apply(terms: dict[tuple[int, ...], float], d: int) -> PointOp:
    """``L u`` with ``jax.experimental.jet`` along nestax's Taylor directions and weights."""
    from jax.experimental import jet

    operator = functools.reduce(lambda a, b: a + b, (c * nx.Partial(a) for a, c in terms.items()))
    _, groups = operator.taylor_directions(max(d, 1))

    def build(u):
        def lu(x):
            z = x.reshape(-1)
            g = (lambda v: u(v[0])) if d == 0 else u
            total = 0.0
            for group in groups:
                k = group.order
                dirs = jnp.asarray(group.directions, z.dtype)
                zeros = jnp.zeros_like(z)

                def along(v, k=k, zeros=zeros):
                    _, series = jet.jet(g, (z,), ((v,) + (zeros,) * (k - 1),))
                    return series[k - 1]

                top = jax.vmap(along)(dirs)
                total = total + jnp.dot(jnp.asarray(group.weights, z.dtype), top)
            return total

        return lu

    return build


def nested_jvp_apply(terms: dict[tuple[int, ...], float], d: int) -> PointOp:
    """``L u`` by one chain of ``|alpha|`` nested ``jax.jvp`` per term, as a user writes it.

    Terms with the same pattern of multiplicities (``(2,)`` for every ``d^2/dx_i^2``,
    ``(2, 2)`` for every ``d^4/dx_i^2 dx_j^2``) are vmapped over their unit vectors together;
    a repeated direction is the same traced vector at every level of the chain (as in
    ``jvp(lambda z: jvp(u, (z,), (e,))[1], (x,), (e,))``), so XLA can merge the repeats. A
    single term (``d^4/dx^4``, ``u_xxy``) uses constant directions, as written by hand.
    """
    groups: dict[tuple[int, ...], list[tuple[list[int], float]]] = {}
    for alpha, c in terms.items():
        axes = [i for i, a in enumerate(alpha) if a]
        groups.setdefault(tuple(alpha[i] for i in axes), []).append((axes, c))
    n = max(d, 1)
    eye = np.eye(n, dtype=np.float32)

    def build(u):
        g0 = (lambda v: u(v[0])) if d == 0 else u

        def lu(x):
            z = x.reshape(-1)
            total = 0.0
            for pattern, group in groups.items():
                vectors = np.stack([eye[axes] for axes, _ in group])  # (n_terms, s, n)
                coef = jnp.asarray([c for _, c in group], z.dtype)

                def chain(vs, pattern=pattern):
                    g = g0
                    for slot, mult in enumerate(pattern):
                        for _ in range(mult):
                            g = functools.partial(
                                lambda w, g, v: jax.jvp(g, (w,), (v,))[1], g=g, v=vs[slot]
                            )
                    return g(z)

                if len(group) == 1:  # one term: constant directions, nothing to vmap
                    values = chain(jnp.asarray(vectors[0], z.dtype))[None]
                else:
                    values = jax.vmap(chain)(jnp.asarray(vectors, z.dtype))
                total = total + jnp.dot(coef, values)
            return total

        return lu

    return build


PEERS: dict[str, Peer] = {
    "jax.hessian": Peer(
        {
            "laplacian": _fixed(lambda u: lambda x: jnp.trace(jax.hessian(u)(x))),
            "biharmonic": _fixed(
                lambda u: lambda x: jnp.einsum("iijj->", jax.hessian(jax.hessian(u))(x))
            ),
            "d4/dt4": _fixed(_grads(4)),
            "u_xxy": _fixed(_hessian_grad),
            "heat": _grad_and_hessian,
        }
    ),
    "jax.grad nested": Peer({"u_xxy": _fixed(_grad_grad_grad)}),
    "nested jvp": Peer(dict.fromkeys(KINDS, nested_jvp_apply)),
    "folx": Peer(
        {
            "laplacian": _fixed(folx_laplacian),
            "biharmonic": _fixed(lambda u: folx_laplacian(folx_laplacian(u))),
            "d4/dt4": _fixed(
                lambda u: lambda t: folx_laplacian(folx_laplacian(lambda z: u(z[0])))(t[None])
            ),
            "heat": _folx_heat,
        },
        requires=("folx",),
    ),
    "jet": Peer(dict.fromkeys(KINDS, jet_apply)),
}


def peers_for(kind: str, terms: Terms, d: int) -> dict[str, tuple[PointOp, tuple[str, ...]]]:
    """``{peer: (point-operator builder, modules it needs)}`` for every peer of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"peers_for: argument `kind` must be one of {KINDS}; got {kind!r}")
    return {
        name: (peer.builders[kind](terms, d), peer.requires)
        for name, peer in PEERS.items()
        if kind in peer.builders
    }
