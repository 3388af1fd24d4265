r"""Strategy "reduced": exact input-subspace reduction for rotation-invariant operators.

A network reads its input through linear maps: ``u(x) = g(M x + b)`` with ``M`` the stacked
*readers* (``N x d``; for an MLP the first weight matrix, ``N`` = its width; see
`nestax._taylor.input_readers`). With ``Q`` (``d x k``, ``k = N < d``) an orthonormal basis of a
space containing the rows of ``M`` (Gram–Schmidt on ``M^T``), ``u`` is constant along every
direction orthogonal to ``Q``, so for an operator invariant under rotations of the input,
``L = sum_m c_m Delta^m``,

.. math::  (L u)(x) = (L_k \tilde u)(Q^\top x), \qquad \tilde u(y) = u(Q y + (I - QQ^\top) x),

the same operator in ``k`` dimensions. Concretely the operator's Taylor directions are planned
in ``k`` dimensions and mapped through ``Q``: the Laplacian is
``sum_j d^2/dt^2 u(x + t q_j)`` over the ``k`` columns of ``Q`` (collapsed: ``k + 2`` vectors per
point instead of ``d + 2``), the biharmonic uses its ``k``-dimensional direction set, and so on.

Operators that single out coordinates are reduced on their rotation-invariant *block*: for
``u_t - nu Delta_x u`` the block is the ``x`` coordinates (the readers restricted to those
columns), and the rest (``u_t``) is computed unreduced by collapsed Taylor mode.

``Q`` depends on the parameters only, never on the point: under `jax.vmap` over points it is
computed once per batch (unbatched), and `reduction_basis` computes it explicitly for reuse.
Its derivative with respect to the parameters is not needed: ``L u`` does not depend on the
choice of ``Q`` and, for any parameter direction, the terms through ``dQ`` cancel (every
direction orthogonal to the readers meets ``M`` in at least one slot of each derivative
tensor), so first derivatives with respect to the parameters are exact with ``Q`` held fixed.
Second derivatives with respect to the parameters through ``Q`` raise a clear error.

An input that reaches a non-linear operation directly (``(1 - |x|^2) N(x)``, ``relu(x)``)
makes ``N >= d``: no reduction (use `nestax.BallAnsatz` for the product rule).

Example:
    >>> import jax, jax.numpy as jnp
    >>> W = jax.random.normal(jax.random.key(0), (6, 2))
    >>> u = lambda x: jnp.sum(jnp.tanh(x @ W))
    >>> x = jnp.linspace(-1.0, 1.0, 6)
    >>> terms = {tuple(2 * (i == j) for i in range(6)): 1.0 for j in range(6)}
    >>> ref = jnp.trace(jax.hessian(u)(x))
    >>> bool(jnp.allclose(apply_reduced(terms, u, x), ref, rtol=1e-5))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._taylor import Readers, Traced, batch_size, collapsed_directional, input_readers
from .._validate import as_array, check_rank, split_aux
from ._collapsed import collapsed_passes, cost_collapsed
from ._directions import counts, plan
from ._orthonormal import orthonormal_columns
from ._protocol import LINEAR_KINDS, Declined, Problem, Proposal
from ._terms import InvariantTerms, _profile_terms, laplacian_power_terms

#: When not under ``vmap`` the basis is paid by one point; under ``vmap`` by the whole batch.
#: Its cost in forward passes: the readers' Jacobian (``N`` cotangents through the first
#: linear maps) plus the Gram–Schmidt basis (about ``2k`` passes' worth of flops).
OVERHEAD_PASSES = lambda n, k: float(n + 2 * k)  # noqa: E731


class Block(NamedTuple):
    """``terms = sum_m profile[m] Delta_S^m + remainder``, ``S = coords`` (``None``: all)."""

    coords: tuple[int, ...] | None
    profile: dict[int, float]
    remainder: dict[tuple[int, ...], float]


def invariant_block(terms: Any, d: int) -> Block | None:
    """The largest block of coordinates on which ``terms`` is a polynomial in the Laplacian.

    Coordinates are grouped by their pure-power coefficients (those of ``d_i^2, d_i^4, ...``);
    the largest group ``S`` with at least two coordinates whose full ``Delta_S^m`` term sets
    are present becomes the block. ``None`` if there is none (a single ``Partial``).
    """
    if isinstance(terms, InvariantTerms):
        return Block(None, dict(terms.profile), {})
    pure: dict[int, dict[int, float]] = {}
    for alpha, c in terms.items():
        nz = [i for i, a in enumerate(alpha) if a]
        if len(nz) == 1 and alpha[nz[0]] % 2 == 0:
            pure.setdefault(nz[0], {})[alpha[nz[0]] // 2] = float(c)
    classes: dict[tuple, list[int]] = {}
    for i, prof in sorted(pure.items()):
        classes.setdefault(tuple(sorted(prof.items())), []).append(i)
    best = max(classes.items(), key=lambda kv: len(kv[1]), default=None)
    if best is None or len(best[1]) < 2:
        return None
    coords = tuple(best[1])
    profile, block_terms = {}, {}
    for m, c in best[0]:
        expected = {}
        for beta, v in laplacian_power_terms(m, len(coords)).items():
            alpha = [0] * d
            for i, b in zip(coords, beta, strict=True):
                alpha[i] = b
            expected[tuple(alpha)] = c * v
        if all(math.isclose(terms.get(a, 0.0), v, rel_tol=1e-12) for a, v in expected.items()):
            profile[m] = c
            block_terms.update(expected)
    if not profile:
        return None
    remainder = {a: c for a, c in terms.items() if a not in block_terms}
    return Block(None if len(coords) == d else coords, profile, remainder)


# --------------------------------------------------------------------------- the basis


@jax.custom_jvp
def _first_order_only(q: jax.Array) -> jax.Array:
    return q


@_first_order_only.defjvp
def _first_order_only_jvp(primals, tangents):
    raise NotImplementedError(
        "the reduced strategy gives exact first derivatives with respect to the parameters, not "
        "second ones (its basis is held fixed); for Hessians over the parameters use "
        "method='collapsed'"
    )


@jax.custom_jvp
def orthonormal_span(m: jax.Array) -> jax.Array:
    """``Q`` (``d x N``), orthonormal or zero columns whose span contains the rows of ``m``
    (``N x d``), also when ``m`` is rank-deficient (see `orthonormal_columns`: XLA's own
    operations, not LAPACK's thread pool). Held fixed under differentiation (see the module
    docstring): its tangent is zero.
    """
    return orthonormal_columns(m.T)


@orthonormal_span.defjvp
def _orthonormal_span_jvp(primals, tangents):
    q = _first_order_only(orthonormal_span(primals[0]))
    return q, jnp.zeros_like(q)


class Basis(NamedTuple):
    """What the reduction found: ``q`` (``d_S x k``, or ``None``: no reduction) and why."""

    q: Any
    readers: Readers
    coords: tuple[int, ...] | None
    d: int

    @property
    def k(self) -> int:
        return self.block_size if self.q is None else int(self.q.shape[1])

    @property
    def block_size(self) -> int:
        return self.d if self.coords is None else len(self.coords)


def _y_only(f: Callable[..., Any], has_aux: bool) -> Callable[..., Any]:
    if not has_aux:
        return f
    if isinstance(f, Traced):
        return f.first()
    return lambda x: split_aux(f(x), has_aux, op="reduced")[0]


def reduction_basis(
    f: Callable[..., Any],
    x: Any,
    *,
    coords: tuple[int, ...] | None = None,
    has_aux: bool = False,
    readers: Readers | None = None,
) -> Basis:
    """The orthonormal basis of the input directions ``f`` reads (optionally of a block).

    Computed from the parameters ``f`` closes over, never from ``x`` (any point of the right
    shape will do): call it once per parameter value and pass it to `apply_reduced` to share it
    explicitly. ``q`` is ``None`` when the readers span the whole block (``N >= d_S``).
    ``readers``: those of ``f`` found already (`input_readers` without the matrix).

    Example:
        >>> import jax.numpy as jnp
        >>> W = jnp.ones((5, 3))
        >>> b = reduction_basis(lambda x: jnp.sum(jnp.tanh(x @ W)), jnp.zeros(5))
        >>> b.k, b.q.shape
        (3, (5, 3))
    """
    x = as_array(x, op="reduced")
    check_rank(x, 1, op="reduced")
    d = x.shape[0]
    g = _y_only(f, has_aux)
    if readers is None:
        readers = input_readers(g, x, with_matrix=False)
    size = d if coords is None else len(coords)
    if readers.size >= size or readers.size == 0:
        return Basis(None, readers, coords, d)
    readers = input_readers(g, x, known=readers)
    m = readers.matrix if coords is None else readers.matrix[:, jnp.asarray(coords)]
    return Basis(orthonormal_span(m), readers, coords, d)


# --------------------------------------------------------------------------- applying


def _sum_parts(parts: list[tuple[Any, Any]], c0: float, f, x, has_aux: bool):
    out0, total = None, None
    for y0, part in parts:
        out0 = y0 if out0 is None else out0
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    if out0 is None:
        out0 = f(x)
    y0, aux = split_aux(out0, has_aux, op="reduced")
    if total is None:
        value = jax.tree_util.tree_map(lambda y: c0 * y if c0 else jnp.zeros_like(y), y0)
    else:
        value, _ = split_aux(total, has_aux, op="reduced")
        if c0:
            value = jax.tree_util.tree_map(lambda v, y: v + c0 * y, value, y0)
    return value, aux


def _block_directions(dirs: np.ndarray, basis: Basis) -> Any:
    """Directions planned in ``k`` dimensions, mapped through ``Q`` into ``R^d``."""
    if basis.q is None:
        mapped = dirs
    elif dirs.shape[0] == dirs.shape[1] and np.array_equal(dirs, np.eye(dirs.shape[0])):
        mapped = basis.q.T  # the Laplacian: the columns of Q themselves
    else:
        mapped = jnp.asarray(dirs, basis.q.dtype) @ basis.q.T
    if basis.coords is None:
        return mapped
    full = jnp.zeros((mapped.shape[0], basis.d), jnp.result_type(mapped))
    return full.at[:, jnp.asarray(basis.coords)].set(mapped)


def apply_reduced(
    terms: Any,
    f: Callable[..., Any],
    x: Any,
    *,
    has_aux: bool = False,
    basis: Basis | None = None,
    readers: Readers | None = None,
) -> Any:
    """``L f(x)`` with the rotation-invariant block of ``L`` applied in the reduced basis.

    Args:
        terms: ``{alpha: c_alpha}`` (or `InvariantTerms`) whose largest rotation-invariant block
            is reduced (see `invariant_block`); the rest is computed unreduced.
        f, x, has_aux: as in `apply_collapsed`.
        basis: a precomputed `reduction_basis` (default: computed here, from the parameters).
        readers: ``f``'s readers found already (for the basis computed here).

    Raises:
        ValueError: ``terms`` has no rotation-invariant block of two or more coordinates.
    """
    x = as_array(x, op="reduced")
    check_rank(x, 1, op="reduced")
    d = x.shape[0]
    block = invariant_block(terms, d)
    if block is None:
        raise ValueError(_NO_BLOCK)
    if basis is None:
        basis = reduction_basis(f, x, coords=block.coords, has_aux=has_aux, readers=readers)
    elif basis.coords != block.coords or basis.d != d:
        raise ValueError(
            f"reduced: argument `basis` was computed for coords={basis.coords} in d={basis.d}; "
            f"the operator's block is coords={block.coords} in d={d}"
        )
    parts = []
    _, groups = plan(_profile_terms(block.profile, basis.k), basis.k, op="reduced")
    for g in groups:
        dirs = _block_directions(g.directions, basis)
        parts.append(collapsed_directional(f, x, dirs, g.weights, g.order))
    c0, rest = plan(block.remainder, d, op="reduced") if block.remainder else (0.0, ())
    c0 += block.profile.get(0, 0.0)
    for g in rest:
        parts.append(collapsed_directional(f, x, g.directions, g.weights, g.order))
    value, aux = _sum_parts(parts, c0, f, x, has_aux)
    return (value, aux) if has_aux else value


# --------------------------------------------------------------------------- the protocol

NAMES = ("reduced",)
KINDS = {"reduced": LINEAR_KINDS}
NEEDS_ENGINE = True
EXACT = True
BUILDS_TERMS = frozenset()
LAZY = True


def propose(problem: Problem, name: str) -> Proposal | Declined:
    """The reduced cost, from one abstract walk of ``f``'s readers (kept for `run`).

    Cost, in forward passes per point: ``1 + sum_k ((k-1) R_k + 1)`` over the operator's
    groups planned in the reduced dimension (Laplacian: ``k + 2``), plus the unreduced
    remainder, plus the basis (``N + 2k`` passes) divided by the batch size seen under
    ``vmap`` (1 outside it). Declined (and, if named anyway, run unreduced) when the operator
    has no rotation-invariant block or ``f`` reads as many directions as the block has.
    """
    declined = problem.engine_declined(name)
    if declined is not None:
        return declined
    d, terms = problem.d, problem.terms
    block = invariant_block(terms, d) if problem.kind != "derivative" else None
    if block is None:
        why = (
            "input-subspace reduction declined: the operator singles out coordinates (no block "
            "of two or more coordinates on which it is rotation-invariant)"
        )
        return Declined(name, why, error=_NO_BLOCK)
    try:
        readers = input_readers(problem.traced_y, problem.x, with_matrix=False)  # abstract
    except Exception as err:  # a failure of the walk declines, visibly (auto falls back)
        why = f"input-subspace reduction declined: the reader walk failed ({err})"
        return Declined(name, why[:300], Proposal(name, math.nan, problem))
    size = d if block.coords is None else len(block.coords)
    where = (
        "" if block.coords is None else f" on the rotation-invariant block of {size} coordinates"
    )
    if readers.size >= size or readers.size == 0:
        why = readers.describe(d) if readers.readers else "f does not read x"
        note = f"input-subspace reduction declined{where}: {why}, and N >= {size}"

        def unreduced() -> Proposal:
            # built only when "reduced" is named: its cost plans the d-dimensional directions
            # (a biharmonic at d = 300 has 45 150 terms), which `auto` need not
            cost = collapsed_passes(counts(problem.directions[1]))
            return Proposal(name, cost, problem, artefacts=readers)

        return Declined(name, note, unreduced)
    k = readers.size
    cost = cost_collapsed(_profile_terms(block.profile, k), k)
    rest = ""
    if block.remainder:
        cost += cost_collapsed(block.remainder, d) - 1.0  # the primal pass is shared
        rest = f"; the other {len(block.remainder)} term(s) unreduced (collapsed)"
    batch = batch_size(problem.x)
    cost += OVERHEAD_PASSES(readers.size, k) / batch
    note = (
        f"input-subspace reduction{where}: {readers.describe(d)}; the operator runs in the "
        f"k = {k} dimensional span instead of {size} dimensions{rest}; the basis (Gram–Schmidt, "
        f"~{OVERHEAD_PASSES(readers.size, k):.0f} passes) is shared by the {batch} point(s) of "
        "the batch"
    )
    return Proposal(name, cost, problem, note, readers)


_NO_BLOCK = (
    "reduced: the operator has no block of two or more coordinates on which it is "
    "invariant under rotations (a polynomial in the Laplacian); use method='collapsed'"
)


def run(proposal: Proposal, f: Callable[..., Any], x: Any) -> tuple[Any, Any]:
    """``(value, aux)``, the basis from the readers the proposal found."""
    p = proposal.problem
    readers = proposal.artefacts if f is p.traced else None
    out = apply_reduced(p.terms, f, x, has_aux=p.has_aux, readers=readers)
    return out if p.has_aux else (out, None)
