"""Nested first-order AD: the reference strategy and the fallback.

Every derivative here is built from JAX's own first-order transformations (``jax.jvp``,
``jax.vjp`` and the ``jacfwd``/``jacrev`` built on them), nested as the method name says: the
*outer* mode comes first, so ``"forward-over-reverse"`` pushes tangents (forward mode) through a
reverse-mode gradient. This always works, for every primitive JAX can differentiate, and it is
what the Taylor strategies are tested against.

All functions take ``fa``, the user's function normalised to return ``(y, aux)`` (``aux`` is
``None`` when the user passed ``has_aux=False``), and return ``(value, aux)``.

Its names in the strategy protocol (`nestax._strategies._protocol`): ``"forward"`` and
``"reverse"`` (first derivatives; nested, ``d^k/dt^k``), the four nestings (Hessians and
Laplacians) and ``"nested"``/``"nested-reverse"`` (any linear operator, `apply_nested`). The cost
formulas of all of them are below, in forward passes of the network per point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._protocol import FIRST_ORDER_KINDS, LINEAR_KINDS, Problem, Proposal, pair
from ._terms import InvariantTerms

AuxFn = Callable[[jax.Array], tuple[Any, Any]]

FIRST_ORDER = ("forward", "reverse")
SECOND_ORDER = (
    "forward-over-reverse",
    "reverse-over-forward",
    "reverse-over-reverse",
    "forward-over-forward",
)


def _jac(mode: str) -> Callable[..., Any]:
    return {"forward": jax.jacfwd, "reverse": jax.jacrev}[mode]


def _directions(x: jax.Array) -> jax.Array:
    """The ``x.size`` unit vectors of x's space, stacked: shape ``(d, *x.shape)``."""
    return jnp.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))


# --------------------------------------------------------------------------- first order


def jacobian(fa: AuxFn, x: jax.Array, mode: str) -> tuple[Any, Any]:
    """``J[o..., i...] = ∂y[o...]/∂x[i...]`` of shape ``y.shape + x.shape``."""
    return _jac(mode)(fa, has_aux=True)(x)


def batch_jacobian(fa: AuxFn, xs: jax.Array, mode: str) -> tuple[Any, Any]:
    """Per-sample Jacobian ``J[b, o..., i] = ∂y[b, o...]/∂x[b, i]`` of a point-wise batch function.

    Forward mode pushes the ``d`` tangents ``1_B ⊗ e_i`` through the batch function; reverse mode
    pulls the ``m`` cotangents ``1_B ⊗ e_o``. Neither forms the ``(B, m, B, d)`` array, which is
    exact only when sample ``b``'s output depends on sample ``b``'s input alone.
    """
    d = xs.shape[1]
    if mode == "forward":
        tangents = jnp.broadcast_to(jnp.eye(d, dtype=xs.dtype)[:, None, :], (d, *xs.shape))

        def push(t):
            _, ty, aux = jax.jvp(fa, (xs,), (t,), has_aux=True)
            return ty, aux

        jac, aux = jax.vmap(push, out_axes=(-1, None))(tangents)
        return jac, aux
    y, pull, aux = jax.vjp(fa, xs, has_aux=True)
    m_shape = y.shape[1:]
    m = math.prod(m_shape)
    eye = jnp.eye(m, dtype=y.dtype).reshape((m, 1, *m_shape))
    cotangents = jnp.broadcast_to(eye, (m, *y.shape))
    (jac,) = jax.vmap(pull)(cotangents)  # (m, B, d)
    jac = jnp.moveaxis(jac, 0, 1).reshape((xs.shape[0], *m_shape, d))
    return jac, aux


def divergence(fa: AuxFn, x: jax.Array, mode: str) -> tuple[Any, Any]:
    """``div f = Σ_i ∂f_i/∂x_i``, the trace of the Jacobian."""
    jac, aux = jacobian(fa, x, mode)
    return jnp.trace(jac), aux


# --------------------------------------------------------------------------- second order


def hessian(fa: AuxFn, x: jax.Array, method: str) -> tuple[Any, Any]:
    """``H[o..., i, j] = ∂²y[o...]/∂x_i∂x_j``, nested as ``method`` says (outer-over-inner)."""
    outer, inner = method.split("-over-")
    return _jac(outer)(_jac(inner)(fa, has_aux=True), has_aux=True)(x)


def laplacian(fa: AuxFn, x: jax.Array, method: str) -> tuple[Any, Any]:
    """``Δy = Σ_i ∂²y/∂x_i²`` per output component.

    ``forward-over-forward`` pushes only the ``d`` diagonal second-order tangents
    ``∂²y/∂x_i² = d²/dt² y(x + t e_i)``; the other three form the Hessian and take its trace,
    which costs no more since each Hessian-vector product yields a full column anyway.
    """
    if method == "forward-over-forward":

        def second(e):
            def first(z):
                _, ty, aux = jax.jvp(fa, (z,), (e,), has_aux=True)
                return ty, aux

            _, tty, aux = jax.jvp(first, (x,), (e,), has_aux=True)
            return tty, aux

        diag, aux = jax.vmap(second, out_axes=(0, None))(_directions(x))
        return jnp.sum(diag, axis=0), aux
    hess, aux = hessian(fa, x, method)
    return jnp.trace(hess, axis1=-2, axis2=-1), aux


# --------------------------------------------------------------------------- any order


def _nested_jvp(fa: AuxFn, directions: list[jax.Array]) -> AuxFn:
    """``x ↦ (∂_{v_1} … ∂_{v_k} y(x), aux)`` by ``k`` nested ``jax.jvp`` calls."""
    g = fa
    for v in directions:

        def g(z, g=g, v=v):
            _, ty, aux = jax.jvp(g, (z,), (v,), has_aux=True)
            return ty, aux

    return g


def derivative(fa: AuxFn, t: jax.Array, order: int, mode: str) -> tuple[Any, Any]:
    """``d^k y/dt^k`` of a function of a scalar by ``k`` nested forward or reverse passes."""
    if mode == "forward":
        return _nested_jvp(fa, [jnp.ones_like(t)] * order)(t)
    g = fa
    for _ in range(order):
        g = jax.jacrev(g, has_aux=True)
    return g(t)


def _unit(x: jax.Array, i: int) -> jax.Array:
    return jnp.zeros(x.size, x.dtype).at[i].set(1).reshape(x.shape)


def apply_nested(
    terms: Mapping[tuple[int, ...], float],
    fa: AuxFn,
    x: jax.Array,
    innermost: str = "forward",
) -> tuple[Any, Any]:
    """``Σ_α c_α ∂^α y(x)`` with every partial taken by nested first-order AD.

    Order-0 terms are ``c y``; order-1 terms combine into one tangent ``Σ c_α e_α``; order-2
    terms use one Hessian, forward-over-reverse; higher orders nest ``|α|`` jvps per term
    (``2^|α|`` vectors each: the exponential cost that Taylor mode removes).

    With ``innermost="reverse"`` every derivative has a reverse pass innermost: order 1 is a
    row of the reverse-mode Jacobian, order ``k >= 3`` nests ``k - 1`` jvps over it. That is
    the nesting which differentiates ``custom_vjp`` functions, whose derivatives exist only as
    reverse-mode rules.
    """
    y, aux = fa(x)
    total = jnp.zeros_like(y)
    by_order: dict[int, dict[tuple[int, ...], float]] = {}
    for alpha, c in terms.items():
        by_order.setdefault(sum(alpha), {})[alpha] = c
    y_of = lambda z: fa(z)[0]
    reverse = innermost == "reverse"

    def along_last(i: int) -> AuxFn:
        """``z -> (∂y/∂z_i, aux)`` by reverse mode."""

        def g(z):
            jac = jax.jacrev(y_of)(z).reshape((*y.shape, x.size))
            return jac[..., i], None

        return g

    for order, group in sorted(by_order.items()):
        if order == 0:
            total = total + sum(group.values()) * y
        elif order == 1:
            v = sum(c * _unit(x, alpha.index(1)) for alpha, c in group.items())
            if reverse:
                jac = jax.jacrev(y_of)(x).reshape((*y.shape, x.size))
                total = total + jnp.tensordot(jac, v.reshape(-1), axes=1)
            else:
                total = total + jax.jvp(y_of, (x,), (v,))[1]
        elif order == 2:
            weights = jnp.zeros((x.size, x.size), y.dtype)
            for alpha, c in group.items():
                idx = [i for i, a in enumerate(alpha) for _ in range(a)]
                weights = weights.at[idx[0], idx[1]].add(c)
            hess = jax.jacfwd(jax.jacrev(y_of))(x)
            hess = hess.reshape((*y.shape, x.size, x.size))
            total = total + jnp.einsum("...ij,ij->...", hess, weights)
        else:
            for alpha, c in group.items():
                idx = [i for i, a in enumerate(alpha) for _ in range(a)]
                if reverse:
                    inner = along_last(idx[-1])
                    dirs = [_unit(x, i) for i in idx[:-1]]
                    total = total + c * _nested_jvp(inner, dirs)(x)[0]
                else:
                    dirs = [_unit(x, i) for i in idx]
                    total = total + c * _nested_jvp(fa, dirs)(x)[0]
    return total, aux


# --------------------------------------------------------------------------- costs
# In forward passes of the network per point (the planner's unit; see `nestax._planner` for
# the calibration of the three constants on this machine).

#: A cotangent pulled back by a first-order reverse pass, in tangents pushed forward.
REVERSE_FACTOR = 1.0
#: A cotangent pulled back by the *inner* reverse pass of a second-order nesting
#: (forward-over-reverse, reverse-over-reverse), in tangents: that pass is vmapped over the
#: outer directions and differentiated again by the training gradient, and runs about 2-2.5
#: times slower per flop than forward-mode work here (its flops are those of one tangent).
NESTED_REVERSE_FACTOR = 2.5
#: One vector of nested ``jax.jvp`` chains, in Taylor-mode vectors (see `nested_chain_cost`).
NESTED_JVP_WEIGHT = 0.75
#: Fixed cost of the "nested" strategy's jvp chains (orders >= 3), in Taylor-mode vectors: a
#: chain is a sequence of small dependent kernels where the Taylor strategies run one batched
#: pass. Fitted to the training steps of u_xxy, ∂x∂y∂z and ∂x²∂y² (measured nested ÷
#: collapsed: 1.00, 0.79, 0.78; modelled with it: 1.03, 0.90, 0.89).
NESTED_CHAIN_OVERHEAD = 2.75


def first_order_cost(mode: str, d: int, m: int) -> float:
    """First derivatives of ``f: R^d -> R^m``: ``1 + d`` forward, ``1 + r m`` reverse."""
    return 1.0 + d if mode == "forward" else 1.0 + REVERSE_FACTOR * m


def second_order_cost(method: str, d: int, m: int, laplacian: bool) -> float:
    """A Hessian (or, ``laplacian``, its trace) by a nesting of first-order AD.

    ``(1 + d)(1 + r2 m)`` forward-over-reverse, ``1 + 3d`` (Laplacian) or ``1 + 2d + d²``
    (Hessian) forward-over-forward, ``(1 + d)(1 + r m d)`` reverse-over-forward and
    ``(1 + r2 m)(1 + r m d)`` reverse-over-reverse.
    """
    r, r2 = REVERSE_FACTOR, NESTED_REVERSE_FACTOR
    if method == "forward-over-forward":
        return 1.0 + 3 * d if laplacian else 1.0 + 2 * d + d * d
    return {
        "forward-over-reverse": (1.0 + d) * (1.0 + r2 * m),
        "reverse-over-forward": (1.0 + d) * (1.0 + r * m * d),
        "reverse-over-reverse": (1.0 + r2 * m) * (1.0 + r * m * d),
    }[method]


def nested_chain_cost(terms: Iterable[tuple[int, ...]]) -> float:
    """Cost of ``∂^α f`` for every multi-index ``α`` in ``terms`` by chains of nested jvps.

    A chain of ``k = |α|`` nested ``jax.jvp`` calls pushes ``2^k`` vectors, but XLA merges the
    duplicates (a tangent along ``e_i`` pushed twice), so the value costs one vector per
    distinct sub-multi-index ``β ≤ α`` (``U``: ``k + 1`` along one axis, ``2^k`` for distinct
    axes). The reverse pass of a training step sees the unmerged ``2^k``: measured, the step
    costs about ``(U + raw) / 2`` of them, each ``NESTED_JVP_WEIGHT`` of a Taylor-mode vector.
    Counts include the primal (the chains share it).
    """
    seen: set[tuple[int, ...]] = set()
    raw = 1
    for alpha in terms:
        raw += 2 ** sum(alpha) - 1
        seen.update(itertools.product(*(range(a + 1) for a in alpha)))
    distinct = max(len(seen), 1)
    return NESTED_JVP_WEIGHT * (distinct + raw) / 2.0


def derivative_cost(mode: str, order: int, m: int) -> float:
    """``d^k f/dt^k``: ``order`` nested jvps (`nested_chain_cost` of ``(k,)``) forward, or
    ``2^k r m`` by nested reverse passes."""
    if mode == "forward":
        return nested_chain_cost([(order,)])
    return float(2**order) * REVERSE_FACTOR * max(m, 1)


def _invariant_chain_cost(profile: Mapping[int, float], d: int) -> float:
    r"""`nested_chain_cost` of the terms of :math:`\Delta^m`, ``m`` in ``profile``, counted
    without listing them (a Laplacian power in d = 20 000 has 2·10⁸ terms).

    :math:`\Delta^m` has :math:`N_m = \binom{d+m-1}{m}` terms :math:`2\beta`, :math:`|\beta|
    = m`, each of order ``2m``, so ``raw`` is :math:`1 + \sum_m N_m (4^m - 1)`. A
    sub-multi-index :math:`\gamma \le 2\beta` of some term exists iff
    :math:`\sum_i \lceil \gamma_i / 2 \rceil \le M` (the largest ``m``): choosing ``j``
    non-zero coordinates (:math:`\binom{d}{j}`), their halves summing to ``s``
    (:math:`\binom{s-1}{j-1}` ways) and each :math:`\gamma_i \in \{2c_i - 1, 2c_i\}`
    (:math:`2^j`) counts them.
    """
    top = max(profile)
    raw = 1 + sum(math.comb(d + m - 1, m) * (4**m - 1) for m in profile)
    distinct = 1 + sum(
        math.comb(d, j) * 2**j * math.comb(s - 1, j - 1)
        for s in range(1, top + 1)
        for j in range(1, min(s, d) + 1)
    )
    return NESTED_JVP_WEIGHT * (distinct + raw) / 2.0


def nested_linear_cost(terms: Mapping[tuple[int, ...], float], d: int) -> float:
    """Cost of `apply_nested` for these terms.

    One primal; one jvp for all order-1 terms together; one forward-over-reverse Hessian for
    the order-2 terms; chains of nested jvps (`nested_chain_cost`) for higher orders. For a
    polynomial in the Laplacian (`InvariantTerms`) the same count comes from its profile,
    without building its terms.
    """
    if isinstance(terms, InvariantTerms):  # orders 2m; the chains are the m >= 2
        orders = {2 * m for m in terms.profile}
        chains = {m: c for m, c in terms.profile.items() if m >= 2}
        chain_cost = lambda: _invariant_chain_cost(chains, d)  # noqa: E731
    else:
        orders = {sum(a) for a in terms}
        chains = [a for a in terms if sum(a) >= 3]
        chain_cost = lambda: nested_chain_cost(chains)  # noqa: E731
    cost = 1.0
    if 1 in orders:
        cost += 1.0
    if 2 in orders:
        cost += (1.0 + d) * (1.0 + NESTED_REVERSE_FACTOR) - 1.0
    if chains:
        # the chains share the primal counted above
        cost += NESTED_CHAIN_OVERHEAD + chain_cost() - NESTED_JVP_WEIGHT
    return cost


def nested_reverse_cost(terms: Mapping[tuple[int, ...], float], d: int) -> float:
    """Cost of ``apply_nested(..., innermost="reverse")``: the same nesting with a reverse
    pass innermost (what differentiates a ``custom_vjp`` function). Each pass pulls a
    cotangent (``NESTED_REVERSE_FACTOR``) where the forward nesting pushes a tangent; it is
    only the cheapest candidate when the others cannot run."""
    return NESTED_REVERSE_FACTOR * nested_linear_cost(terms, d)


# --------------------------------------------------------------------------- the protocol

#: In the order that breaks the planner's ties (forward-over-forward before reverse-over-forward:
#: the Hessian at d <= 2 costs both the same, and pushing only tangents is as fast and stores less).
NAMES = (
    *FIRST_ORDER,
    "forward-over-reverse",
    "forward-over-forward",
    "reverse-over-forward",
    "reverse-over-reverse",
    "nested",
    "nested-reverse",
)
KINDS = {
    **{n: FIRST_ORDER_KINDS | {"derivative"} for n in FIRST_ORDER},
    **{n: frozenset({"hessian", "laplacian"}) for n in SECOND_ORDER},
    "nested": LINEAR_KINDS,
    "nested-reverse": LINEAR_KINDS,
}
NEEDS_ENGINE = False
EXACT = True
BUILDS_TERMS = frozenset({"nested", "nested-reverse"})
LAZY = False


def propose(problem: Problem, name: str) -> Proposal:
    """Nested first-order AD always applies (JAX's own rules); only its cost varies."""
    d, m, kind = problem.d, problem.m, problem.kind
    if name in FIRST_ORDER:
        if kind == "derivative":
            cost = derivative_cost(name, problem.order, m)
        else:
            cost = first_order_cost(name, d, m)
    elif name in SECOND_ORDER:
        cost = second_order_cost(name, d, m, laplacian=kind == "laplacian")
    elif name == "nested":
        cost = nested_linear_cost(problem.terms, d)
    else:
        cost = nested_reverse_cost(problem.terms, d)
    return Proposal(name, cost, problem)


def run(proposal: Proposal, f: Callable[..., Any], x: jax.Array) -> tuple[Any, Any]:
    """``(value, aux)`` by the proposal's nesting of ``jax.jvp``/``jax.vjp``."""
    p, name = proposal.problem, proposal.name
    if name in ("nested", "nested-reverse"):
        lf, lx = p.linear_view(f, x)
        innermost = "reverse" if name == "nested-reverse" else "forward"
        return apply_nested(p.terms, pair(lf, p.has_aux, p.op), lx, innermost=innermost)
    fa = pair(f, p.has_aux, p.op)
    if p.kind == "derivative":
        return derivative(fa, x, p.order, name)
    if p.kind == "laplacian":
        return laplacian(fa, x, name)
    return {
        "jacobian": jacobian,
        "batch_jacobian": batch_jacobian,
        "divergence": divergence,
        "hessian": hessian,
    }[p.kind](fa, x, name)
