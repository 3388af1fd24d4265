r"""Strategy "iterated": a power of the Laplacian as nested collapsed Laplacians.

:math:`c\,\Delta^m f = c\,\Delta(\Delta(\cdots\Delta f))`: the innermost collapsed Laplacian
(forward Laplacian) pushes ``d + 2`` vectors through the network; each outer one pushes the
``d + 2`` vectors of a second-order jet through the *program* of the one inside it, so the
cost is about ``(d + 2)^m`` network passes per point. The collapsed strategy instead treats
:math:`\Delta^2` as one fourth-order operator (``3 d^2 + 2`` passes for ``d >= 5``), which
grows faster in ``d`` per pass but with less data per vector; measured on this machine (tanh MLP
128 x 3, batch 256, float32, ``benchmarks/results/operators_summary.md``) the nesting wins the
biharmonic from ``d = 5`` on (value 21 µs against 37 µs per point collapsed and 30 µs by nested
jvp chains; training step 291 against 357 and 300 µs) and loses at ``d = 2`` (3 directions
only), as the cost model says. folx computes its biharmonic the same way (folx of folx).

Only operators known to be ``c Δ^m`` with ``m >= 2`` qualify (``Biharmonic()`` and its
multiples); `propose` declines the others.

Example:
    >>> import jax.numpy as jnp
    >>> from nestax._strategies._terms import InvariantTerms
    >>> f = lambda x: jnp.sum(x**4)                      # Δ²f = 24 d
    >>> float(run_iterated(InvariantTerms({2: 1.0}, 3), f, jnp.ones(3), False)[0])
    72.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax

from .._taylor import Traced, unsupported_reason
from .._validate import split_aux
from ._collapsed import apply_collapsed
from ._protocol import LINEAR_KINDS, Declined, Problem, Proposal
from ._terms import InvariantTerms


def _power(terms: Any) -> tuple[int, float] | None:
    """``(m, c)`` when ``terms`` is ``c Δ^m`` with ``m >= 2``, else ``None``."""
    if not isinstance(terms, InvariantTerms) or len(terms.profile) != 1:
        return None
    ((m, c),) = terms.profile.items()
    return (m, c) if m >= 2 else None


def _laplacian_terms(d: int) -> dict[tuple[int, ...], float]:
    return {tuple(2 if j == i else 0 for j in range(d)): 1.0 for i in range(d)}


def _nest(f: Callable[..., Any], d: int, times: int, has_aux: bool) -> Callable[..., Any]:
    """``x -> Δ^times f(x)`` (with the aux of ``f`` passed through when ``has_aux``)."""
    lap = _laplacian_terms(d)
    g = f
    for _ in range(times):
        g = (lambda h: lambda x: apply_collapsed(lap, h, x, has_aux=has_aux))(g)
    return g


#: Time per modelled pass, relative to the collapsed strategy's: fitted to the biharmonic's
#: training step at d = 2, 4, 5 (1.27, 1.28, 1.35; the outer Laplacian's reverse pass moves
#: more data per vector than a single Taylor pass).
ITERATED_WEIGHT = 1.3


def cost_iterated(m: int, d: int) -> float:
    """Network passes per point, ``ITERATED_WEIGHT * (d + 2)^m``."""
    return ITERATED_WEIGHT * float((d + 2) ** m)


def run_iterated(terms: Any, f: Callable[..., Any], x: jax.Array, has_aux: bool):
    """``(c Δ^m f(x), aux)`` for ``terms`` = ``c Δ^m`` (`InvariantTerms`), ``m >= 2``."""
    if _power(terms) is None:
        raise ValueError(f"{_NOT_A_POWER}: got the terms {terms!r}")
    problem = Problem.linear("apply", f, x, has_aux, terms)
    return run(Proposal("iterated", cost_iterated(2, 1), problem), f, x)


# --------------------------------------------------------------------------- the protocol

NAMES = ("iterated",)
KINDS = {"iterated": LINEAR_KINDS}
NEEDS_ENGINE = True
EXACT = True
BUILDS_TERMS = frozenset()
LAZY = True

_NOT_A_POWER = (
    "apply: method='iterated' needs an operator of the form c * Laplacian^m with m >= 2 "
    "(such as Biharmonic())"
)


def propose(problem: Problem, name: str) -> Proposal | Declined:
    """``1.3 (d + 2)^m`` for ``c Δ^m``, ``m >= 2``, once the engine has traced the inner
    ``Δ^(m-1) f`` (kept for `run`) and can run the outer Laplacian through it."""
    power = _power(problem.terms)
    if power is None:
        why = "iterated Laplacians declined: the operator is not c * Laplacian^m, m >= 2"
        return Declined(name, why, error=f"{_NOT_A_POWER}; this one is not")
    declined = problem.engine_declined(name)
    if declined is not None:
        return declined
    m, _ = power
    d, has_aux = problem.d, problem.has_aux
    try:
        inner = Traced(_nest(problem.traced, d, m - 1, has_aux), problem.x)
    except Exception as err:  # an engine failure declines, visibly (auto falls back)
        why = f"iterated Laplacians declined: the engine failed on the inner one ({err})"
        return Declined(name, why[:300], Proposal(name, math.nan, problem))
    reason = unsupported_reason(inner.first() if has_aux else inner, problem.x, order=2)
    if reason is not None:
        why = f"iterated Laplacians declined: the engine cannot run the inner one ({reason})"
        return Declined(name, why, Proposal(name, math.nan, problem, artefacts=inner))
    note = f"iterated: Laplacian^{m} as {m} nested collapsed Laplacians"
    return Proposal(name, cost_iterated(m, d), problem, note, inner)


def run(proposal: Proposal, f: Callable[..., Any], x: jax.Array) -> tuple[Any, Any]:
    """``(c Δ^m f(x), aux)``: the outer collapsed Laplacian through the proposal's inner
    program."""
    p = proposal.problem
    m, c = _power(p.terms)
    inner = proposal.artefacts
    if inner is None or f is not p.traced:
        inner = _nest(f, p.d, m - 1, p.has_aux)
    out = apply_collapsed(_laplacian_terms(p.d), inner, x, has_aux=p.has_aux)
    value, aux = split_aux(out, p.has_aux, op="apply")
    return jax.tree_util.tree_map(lambda v: c * v, value), aux
