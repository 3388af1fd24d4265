r"""The Gauss–Newton / Levenberg–Marquardt stage (energy natural gradient for PINNs).

For a residual-form loss :math:`L(θ) = \lVert r(θ) \rVert^2`, :math:`r \in ℝ^N`,
:math:`θ \in ℝ^P` (the flattened trainable parameters, ``jax.flatten_util.ravel_pytree``),
one step linearises :math:`r(θ + δ) \approx r + Jδ` with :math:`J = \partial r/\partial θ` and
minimises :math:`\tfrac12\lVert r + Jδ\rVert^2 + \tfrac{λ}2\lVert δ\rVert^2`:

.. math::
    δ = -(J^\top J + λ I_P)^{-1} J^\top r \quad\text{(parameter space, } P \le N\text{)}
    \;=\; -J^\top (J J^\top + λ I_N)^{-1} r \quad\text{(sample space, Woodbury, } N < P\text{)}.

Both are solved with lineax (``lx.Cholesky`` on a ``positive_semidefinite_tag`` matrix); the
matrix-free variant solves the parameter-space system with ``lx.CG`` on the operator
:math:`v \mapsto J^\top(Jv) + λv`, built from one ``jax.linearize`` of :math:`r` (a JVP and
its transpose per product), never forming :math:`J`.

Energy natural gradient descent (ENGD; Müller & Zeinhofer, ICML 2023) is this step on the PDE
residuals: for a linear PDE, :math:`J^\top J` is the Gramian of the energy inner product on the
tangent space of the network, and the step is the function-space Newton step projected onto it.
``damping=0, adaptive=False, linesearch=K`` is ENGD with its grid line search over
:math:`η \in \{1, 2^{-1}, \dots, 2^{-(K-1)}\}`.

Damping (Levenberg–Marquardt, gain-ratio rule): with :math:`φ(θ) = \tfrac12\lVert r(θ)\rVert^2`,
the step :math:`ηδ` predicts the reduction
:math:`\text{pred} = -η\, δ^\top J^\top r - \tfrac{η^2}2 \lVert Jδ\rVert^2` and achieves
:math:`\text{act} = φ(θ) - φ(θ + ηδ)`; with :math:`ρ = \text{act}/\text{pred}`, the step is
accepted when :math:`ρ > ρ_\text{min}` (else the parameters stay), and :math:`λ` is multiplied
by ``decrease`` when :math:`ρ > 3/4`, by ``increase`` when :math:`ρ < 1/4` (or the trial
loss is not finite), clipped to ``[min_damping, max_damping]``.

Why not optimistix: ``optimistix.LevenbergMarquardt`` runs its own loop to convergence (its
``step`` carries function evaluations and a trust-region state of its own) and solves the
damped system by QR of :math:`J`; :func:`nestax.fit` needs one compiled step per iteration
that shares the history, the NaN guard and the checkpoints of the other stages, and the
Woodbury branch. The step here is that one iteration; the linear algebra is lineax's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jax.flatten_util import ravel_pytree

from ._residuals import Residuals

SPACES = ("auto", "parameter", "sample")
SOLVERS = ("cholesky", "cg")
JACOBIANS = ("auto", "fwd", "rev")


class GaussNewtonState(NamedTuple):
    """The damping :math:`λ` (a scalar array) and the number of steps taken."""

    damping: jax.Array
    count: jax.Array


def _bad(name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"Stage('gauss-newton'): setting `{name}` must be {expected}; got {value!r}")


def _number(name: str, value: Any, ok: Any, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, value, expected)
    value = float(value)
    if not (math.isfinite(value) and ok(value)):
        raise _bad(name, value, expected)
    return value


@dataclasses.dataclass(frozen=True)
class GaussNewton:
    r"""Settings of a ``"gauss-newton"`` stage (see the module docstring for the maths).

    Args:
        damping: initial :math:`λ \ge 0` (default ``1e-3``).
        adaptive: adapt :math:`λ` by the gain ratio and reject steps that do not reduce the
            loss (default ``True``); ``False`` keeps :math:`λ` fixed and takes every finite
            step (ENGD).
        increase, decrease: factors of :math:`λ` after a bad (:math:`ρ < 1/4`) and a good
            (:math:`ρ > 3/4`) step; ``increase > 1``, ``0 < decrease < 1``.
        min_damping, max_damping: bounds of the adaptive :math:`λ`.
        min_gain: :math:`ρ_\text{min}`, the gain ratio a step needs to be accepted.
        linesearch: ``K >= 0`` step sizes :math:`2^{-k}`, ``k < K``, tried in one batch; the
            best is taken (``0``: :math:`η = 1`).
        space: ``"parameter"``, ``"sample"`` (Woodbury) or ``"auto"`` (sample when
            :math:`N < P`).
        solver: ``"cholesky"`` (dense, lineax) or ``"cg"`` (matrix-free, ``lx.CG``).
        cg_rtol, cg_max_steps: tolerance and iteration cap of CG (an inexact step is guarded
            by the gain ratio).
        jacobian: how :math:`J` of a general :class:`Residuals` is formed: ``"fwd"``
            (``jax.jacfwd``, :math:`P` JVPs), ``"rev"`` (``jax.jacrev``, :math:`N` VJPs) or
            ``"auto"`` (the fewer; ``"rev"`` when the residuals have no forward mode, e.g.
            through a ``custom_vjp`` such as diffrax's checkpointed adjoint). Point-wise
            residuals (:meth:`Residuals.pointwise`, every PINN) always use ``jax.vmap`` of a
            per-point ``jax.jacrev`` over the weights.
    """

    damping: float = 1e-3
    adaptive: bool = True
    increase: float = 2.0
    decrease: float = 1.0 / 3.0
    min_damping: float = 1e-12
    max_damping: float = 1e10
    min_gain: float = 1e-4
    linesearch: int = 0
    space: str = "auto"
    solver: str = "cholesky"
    cg_rtol: float = 1e-8
    cg_max_steps: int = 200
    jacobian: str = "auto"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("damping", _number("damping", self.damping, lambda v: v >= 0, "a number >= 0"))
        if not isinstance(self.adaptive, bool):
            raise _bad("adaptive", self.adaptive, "True or False")
        set_("increase", _number("increase", self.increase, lambda v: v > 1, "a number > 1"))
        set_(
            "decrease",
            _number("decrease", self.decrease, lambda v: 0 < v < 1, "a number in (0, 1)"),
        )
        set_(
            "min_damping",
            _number("min_damping", self.min_damping, lambda v: v >= 0, "a number >= 0"),
        )
        set_(
            "max_damping",
            _number(
                "max_damping", self.max_damping, lambda v: v >= self.min_damping,
                f"a number >= min_damping ({self.min_damping})",
            ),
        )  # fmt: skip
        set_("min_gain", _number("min_gain", self.min_gain, lambda v: 0 <= v < 1, "in [0, 1)"))
        for name, low in (("linesearch", 0), ("cg_max_steps", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise _bad(name, v, f"an integer >= {low}")
        set_("cg_rtol", _number("cg_rtol", self.cg_rtol, lambda v: 0 < v < 1, "in (0, 1)"))
        for name, allowed in (("space", SPACES), ("solver", SOLVERS), ("jacobian", JACOBIANS)):
            if getattr(self, name) not in allowed:
                raise _bad(name, getattr(self, name), f"one of {allowed}")
        if self.solver == "cg" and self.space == "sample":
            raise _bad("space", self.space, "'parameter' or 'auto' with solver='cg'")

    # the optax-like part the training loop uses for every stage: a fresh state
    def init(self, dyn: Any) -> GaussNewtonState:
        flat, _ = ravel_pytree(dyn)
        dtype = flat.dtype
        lam = (
            jnp.clip(self.damping, self.min_damping, self.max_damping)
            if self.adaptive
            else (self.damping)
        )
        return GaussNewtonState(jnp.asarray(lam, dtype), jnp.asarray(0, jnp.int32))

    # ------------------------------------------------------------------------------ one step
    def step(
        self,
        loss: Residuals,
        dyn: Any,
        static: Any,
        state: GaussNewtonState,
        args: tuple[Any, ...],
        names: Sequence[str],
    ) -> tuple[Any, GaussNewtonState, jax.Array]:
        """``(θ_{k+1}, state, row)``; the row holds the terms at θ_k, the total and a last
        entry 0 when the step is finite, ``nan`` when not."""
        theta, unravel = ravel_pytree(dyn)
        params = lambda t: eqx.combine(unravel(t), static)  # noqa: E731

        def stacked(t: jax.Array) -> tuple[jax.Array, jax.Array]:
            out = loss.residuals(params(t), *args)
            parts = [out[n] for n in names] if names else [out]
            terms = jnp.stack([jnp.sum(p**2) for p in parts])
            return jnp.concatenate(parts), terms

        r, terms = stacked(theta)
        n, p = r.shape[0], theta.shape[0]
        lam = state.damping.astype(theta.dtype)
        if self.solver == "cg":
            r_lin, jvp = jax.linearize(lambda t: stacked(t)[0], theta)
            vjp = jax.linear_transpose(jvp, theta)
            g = vjp(r)[0]
            op = lx.FunctionLinearOperator(
                lambda v: vjp(jvp(v))[0] + lam * v,
                jax.ShapeDtypeStruct(theta.shape, theta.dtype),
                lx.positive_semidefinite_tag,
            )
            solver = lx.CG(rtol=self.cg_rtol, atol=0.0, max_steps=self.cg_max_steps)
            delta = -lx.linear_solve(op, g, solver, throw=False).value
            j_delta = jvp(delta)
        else:
            jac = self._jacobian(loss, stacked, params, theta, args, names)
            g = jac.T @ r
            sample = self.space == "sample" or (self.space == "auto" and n < p)
            if sample:  # Woodbury: an N x N system
                gram = jac @ jac.T + lam * jnp.eye(n, dtype=theta.dtype)
                y = _cholesky(gram, r)
                delta = -(jac.T @ y)
            else:
                gram = jac.T @ jac + lam * jnp.eye(p, dtype=theta.dtype)
                delta = -_cholesky(gram, g)
            j_delta = jac @ delta
        phi0 = 0.5 * jnp.sum(r**2)
        g_delta, jd2 = jnp.dot(g, delta), jnp.sum(j_delta**2)
        if self.linesearch:
            etas = 2.0 ** -jnp.arange(self.linesearch, dtype=theta.dtype)
            trial = jax.vmap(lambda e: 0.5 * jnp.sum(stacked(theta + e * delta)[0] ** 2))(etas)
            trial = jnp.where(jnp.isfinite(trial), trial, jnp.inf)
            best = jnp.argmin(trial)
            eta, phi1 = etas[best], trial[best]
        else:
            eta = jnp.asarray(1.0, theta.dtype)
            phi1 = 0.5 * jnp.sum(stacked(theta + delta)[0] ** 2)
        predicted = -eta * g_delta - 0.5 * eta**2 * jd2
        actual = phi0 - phi1
        rho = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0), -jnp.inf)
        rho = jnp.where(jnp.isfinite(phi1), rho, -jnp.inf)
        if self.adaptive:
            accept = rho > self.min_gain
            factor = jnp.where(rho > 0.75, self.decrease, jnp.where(rho < 0.25, self.increase, 1.0))
            new_lam = jnp.clip(lam * factor, self.min_damping, self.max_damping)
        else:
            accept = jnp.isfinite(phi1)
            new_lam = lam
        finite = jnp.all(jnp.isfinite(delta)) & jnp.all(jnp.isfinite(g))
        new_theta = jnp.where(accept & finite, theta + eta * delta, theta)
        row = terms if not names else jnp.concatenate([terms, jnp.sum(terms)[None]])
        row = jnp.concatenate([row, jnp.where(finite, 0.0, jnp.nan).astype(row.dtype)[None]])
        new_state = GaussNewtonState(new_lam.astype(state.damping.dtype), state.count + 1)
        return unravel(new_theta), new_state, row

    def _jacobian(self, loss, stacked, params, theta, args, names) -> jax.Array:
        """:math:`J` as an ``(N, P)`` matrix, rows in the order of the stacked residual."""
        point_terms = loss.point_terms(params(theta), *args)
        if point_terms is not None:  # per-point reverse mode: N rows of one VJP each
            rows = []
            order = list(names) if names else list(point_terms)
            for name in order:
                point, x, scale = point_terms[name]

                def at(t: jax.Array, xj: jax.Array, point: Any = point) -> jax.Array:
                    return jnp.ravel(point(params(t), xj))

                jac = jax.vmap(jax.jacrev(at), in_axes=(None, 0))(theta, x)  # (n, m, P)
                rows.append(scale * jnp.reshape(jac, (-1, theta.shape[0])))
            return jnp.concatenate(rows, axis=0)
        fun = lambda t: stacked(t)[0]  # noqa: E731
        n = jax.eval_shape(fun, theta).shape[0]
        how = self.jacobian
        if how == "auto":
            how = "rev" if n < theta.shape[0] or _forward_error(fun, theta) else "fwd"
        elif how == "fwd" and (err := _forward_error(fun, theta)):
            raise ValueError(
                f"Stage('gauss-newton'): setting `jacobian` is 'fwd', but the residuals have no "
                f"forward mode ({err}); use jacobian='rev' or 'auto'"
            )
        return (jax.jacrev if how == "rev" else jax.jacfwd)(fun)(theta)


def _forward_error(fun: Any, theta: jax.Array) -> str | None:
    """Why ``jax.jacfwd(fun)`` cannot be traced, or ``None`` when it can: a ``custom_vjp``
    function inside (a diffrax solve with its default checkpointed adjoint, for instance)
    has no JVP rule."""
    try:
        jax.eval_shape(jax.jacfwd(fun), theta)
    except TypeError as err:
        return str(err).strip().splitlines()[0]
    return None


def _cholesky(matrix: jax.Array, rhs: jax.Array) -> jax.Array:
    """``matrix⁻¹ rhs`` for a symmetric positive (semi)definite ``matrix``, with lineax; a
    singular matrix gives non-finite values (the step then stops training as a NaN loss)."""
    op = lx.MatrixLinearOperator(matrix, lx.positive_semidefinite_tag)
    return lx.linear_solve(op, rhs, lx.Cholesky(), throw=False).value
