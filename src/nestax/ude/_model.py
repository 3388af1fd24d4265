"""`UDE`: a hybrid ODE (known physics and a network, in any combination) solved with diffrax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._failures import check_solution, guard, messages

__all__ = ["ADJOINTS", "UDE"]

ADJOINTS: dict[str, Callable[[], diffrax.AbstractAdjoint]] = {
    "checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "direct": diffrax.DirectAdjoint,
    "forward": diffrax.ForwardMode,
}
"""Adjoint names :class:`UDE` accepts, and the diffrax adjoint each one builds."""

_ON_FAILURE = ("raise", "flag")


class UDE(eqx.Module):
    r"""A universal differential equation :math:`u'(t) = F(t, u, θ, p)`, solved with diffrax.

    ``vector_field(t, u, params, args)`` is whatever combination of known physics (the
    parameters ``args``, held fixed) and learned terms (``params``: a network, any pytree) the
    user writes. The missing-physics Lotka–Volterra model, for instance,

    .. math:: u_1' = α u_1 + U_1(u),\qquad u_2' = -δ u_2 + U_2(u),

    is ``lambda t, u, net, p: jnp.stack([p[0] * u[0], -p[3] * u[1]]) + net(u)``. Network
    derivatives may appear in it too (a Hamiltonian vector field, see :func:`hamiltonian_ude`).

    Args:
        vector_field: ``(t, u, params, args) -> du/dt`` with the shape of ``u``.
        solver: a diffrax solver (default ``diffrax.Tsit5()``).
        rtol, atol: tolerances of the default ``diffrax.PIDController``.
        stepsize_controller: any diffrax step-size controller; replaces ``rtol``/``atol``.
            A fixed-step ``diffrax.ConstantStepSize()`` needs ``dt0``.
        dt0: initial (or fixed) step; ``None`` lets an adaptive controller choose it.
        adjoint: how ``jax.grad`` goes through the solve: ``"checkpoint"`` (default,
            ``diffrax.RecursiveCheckpointAdjoint``: exact gradient of the discrete solve),
            ``"backsolve"`` (continuous adjoint, approximate), ``"direct"``
            (``DirectAdjoint``: reverse and forward mode) or ``"forward"`` (``ForwardMode``:
            for ``jax.jvp`` / ``jax.jacfwd`` through the solve), or a diffrax adjoint instance.
        max_steps: the most steps one solve may take.
        on_failure: ``"raise"`` (default): a solve that stops early (``max_steps`` reached,
            step size collapsed) raises a runtime error whose message says why and with which
            settings. ``"flag"``: no error; the failure is in ``solution.result`` and the
            values after it are ``inf`` (so a loss built on them is not finite, and
            :func:`nestax.fit` stops naming the term). Use ``"flag"`` with line searches
            (L-BFGS), whose trial points may blow a solve up; :func:`check_solution` raises
            from a flagged solution on the host.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import UDE
        >>> ude = UDE(lambda t, u, k, args: -k * u, rtol=1e-10, atol=1e-10)
        >>> sol = ude.solve(jnp.asarray(2.0), jnp.ones(1), jnp.linspace(0.0, 1.0, 3))
        >>> sol.ys[:, 0]  # exp(-2 t)
        Array([1.        , 0.36787944, 0.13533528], dtype=float64)
    """

    vector_field: Callable[..., Any] = eqx.field(static=True)
    solver: diffrax.AbstractSolver
    stepsize_controller: diffrax.AbstractStepSizeController
    adjoint: diffrax.AbstractAdjoint
    dt0: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)

    def __init__(
        self,
        vector_field: Callable[..., Any],
        *,
        solver: diffrax.AbstractSolver | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-6,
        stepsize_controller: diffrax.AbstractStepSizeController | None = None,
        dt0: float | None = None,
        adjoint: str | diffrax.AbstractAdjoint = "checkpoint",
        max_steps: int = 4096,
        on_failure: str = "raise",
    ) -> None:
        if not callable(vector_field):
            raise TypeError(
                "UDE: argument `vector_field` must be callable as (t, u, params, args); got "
                f"{type(vector_field).__name__}"
            )
        solver = diffrax.Tsit5() if solver is None else solver
        if not isinstance(solver, diffrax.AbstractSolver):
            raise TypeError(
                f"UDE: argument `solver` must be a diffrax solver; got {type(solver).__name__}"
            )
        if stepsize_controller is None:
            for name, tol in (("rtol", rtol), ("atol", atol)):
                if not float(tol) > 0:
                    raise ValueError(f"UDE: argument `{name}` must be positive; got {tol!r}")
            stepsize_controller = diffrax.PIDController(rtol=rtol, atol=atol)
        elif not isinstance(stepsize_controller, diffrax.AbstractStepSizeController):
            raise TypeError(
                "UDE: argument `stepsize_controller` must be a diffrax step-size controller; "
                f"got {type(stepsize_controller).__name__}"
            )
        if isinstance(adjoint, str):
            if adjoint not in ADJOINTS:
                raise ValueError(
                    f"UDE: unknown adjoint={adjoint!r}; expected one of "
                    f"{', '.join(map(repr, ADJOINTS))} or a diffrax adjoint instance"
                )
            adjoint = ADJOINTS[adjoint]()
        elif not isinstance(adjoint, diffrax.AbstractAdjoint):
            raise TypeError(
                "UDE: argument `adjoint` must be a name or a diffrax adjoint; got "
                f"{type(adjoint).__name__}"
            )
        if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer):
            raise TypeError(f"UDE: argument `max_steps` must be an int; got {max_steps!r}")
        if max_steps < 1:
            raise ValueError(f"UDE: argument `max_steps` must be >= 1; got {max_steps}")
        if on_failure not in _ON_FAILURE:
            raise ValueError(
                f"UDE: argument `on_failure` must be 'raise' or 'flag'; got {on_failure!r}"
            )
        self.vector_field = vector_field
        self.solver = solver
        self.stepsize_controller = stepsize_controller
        self.adjoint = adjoint
        self.dt0 = dt0
        self.max_steps = int(max_steps)
        self.on_failure = on_failure

    def rhs(self, params: Any, args: Any = None) -> Callable[[Any, Any], Any]:
        """The right-hand side ``(t, u) -> F(t, u, params, args)`` with weights fixed."""
        return lambda t, u: self.vector_field(t, u, params, args)

    # ----------------------------------------------------------------------------- solving
    def _diffeqsolve(self, params, u0, ts, args, t0, saveat, adjoint=None):
        field = lambda t, u, pa: self.vector_field(t, u, pa[0], pa[1])
        return diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            self.solver,
            ts[0] if t0 is None else t0,
            ts[-1],
            self.dt0,
            u0,
            args=(params, args),
            saveat=saveat,
            stepsize_controller=self.stepsize_controller,
            adjoint=self.adjoint if adjoint is None else adjoint,
            max_steps=self.max_steps,
            throw=False,
        )

    def solve(
        self, params: Any, u0: Any, ts: Any, args: Any = None, *, t0: Any = None
    ) -> diffrax.Solution:
        r"""Solve from ``u(t0) = u0`` and return the solution at the times ``ts``.

        Args:
            params: the learned part (a network or any pytree); gradients flow to it.
            u0: the initial state, an array of floats (any shape the vector field takes).
            ts: increasing save times, shape ``(T,)``; the solve runs from ``t0`` (default
                ``ts[0]``) to ``ts[-1]``.
            args: known parameters passed to the vector field (held fixed unless the loss
                differentiates with respect to them).
            t0: start time, when it is not ``ts[0]``.

        Returns:
            A ``diffrax.Solution``: ``ys`` of shape ``(T, *u0.shape)``, ``ts``, ``result``
            (``diffrax.RESULTS.successful`` unless the solve stopped early; with
            ``on_failure="raise"`` a failure raises instead) and ``stats``.
        """
        u0, ts = self._check(u0, ts, t0, "solve")
        _finite_on_host({"u0": u0, "ts": ts, "params": params, "args": args}, "solve")
        self._check_field(params, u0, ts, args, t0, "solve")
        sol = self._diffeqsolve(params, u0, ts, args, t0, diffrax.SaveAt(ts=ts))
        if self.on_failure == "flag":
            return sol
        index = jnp.where((bad := _bad_inputs(u0, ts, params, args)) != 0, bad, sol.result._value)
        return self._guard(sol, "UDE.solve", index, self._messages("UDE.solve"))

    def solve_many(
        self, params: Any, u0s: Any, ts: Any, args: Any = None, *, t0: Any = None
    ) -> diffrax.Solution:
        r"""Solve from several initial states at once (``jax.vmap`` over the leading axis).

        Args:
            u0s: initial states stacked on axis 0, shape ``(B, *state)``.
            ts: save times shared by all, ``(T,)``, or one row per trajectory, ``(B, T)``.
            params, args, t0: as in :meth:`solve`, shared by all trajectories.

        Returns:
            A ``diffrax.Solution`` whose fields have a leading batch axis: ``ys`` is
            ``(B, T, *state)`` and ``result`` one code per trajectory.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> jax.config.update("jax_enable_x64", True)
            >>> from nestax.ude import UDE
            >>> ude = UDE(lambda t, u, k, args: -k * u)
            >>> ude.solve_many(1.0, jnp.ones((4, 2)), jnp.linspace(0.0, 1.0, 5)).ys.shape
            (4, 5, 2)
        """
        u0s = _float_array(u0s, "u0s", "solve_many")
        if u0s.ndim < 1:
            raise ValueError(
                "UDE.solve_many: argument `u0s` must stack initial states on axis 0, shape "
                f"(B, *state); got shape {tuple(u0s.shape)}"
            )
        ts = _float_array(ts, "ts", "solve_many")
        if ts.ndim == 2 and ts.shape[0] != u0s.shape[0]:
            raise ValueError(
                f"UDE.solve_many: `ts` of shape {tuple(ts.shape)} must have one row per initial "
                f"state; `u0s` has {u0s.shape[0]} (shape {tuple(u0s.shape)})"
            )
        if ts.ndim not in (1, 2):
            raise ValueError(
                f"UDE.solve_many: argument `ts` must have shape (T,) or (B, T); got "
                f"{tuple(ts.shape)}"
            )
        ts_axis = 0 if ts.ndim == 2 else None
        _finite_on_host({"u0s": u0s, "ts": ts, "params": params, "args": args}, "solve_many")

        def one(u0, t):
            u0, t = self._check(u0, t, t0, "solve_many")
            self._check_field(params, u0, t, args, t0, "solve_many")
            sol = self._diffeqsolve(params, u0, t, args, t0, diffrax.SaveAt(ts=t))
            return sol, _bad_inputs(u0, t, params, args)

        sol, bad = jax.vmap(one, in_axes=(0, ts_axis))(u0s, ts)
        if self.on_failure == "flag":
            return sol
        # one message per (first failing trajectory, reason): the error names the trajectory
        codes = jnp.where(bad != 0, bad, sol.result._value)
        base = self._messages("UDE.solve_many")
        n, cap = u0s.shape[0], min(u0s.shape[0], _NAMED)
        first = jnp.argmax(codes != 0)
        index = jnp.where(
            jnp.any(codes != 0), jnp.minimum(first, cap) * len(base) + codes[first], 0
        )
        text = tuple(
            m.replace(
                "UDE.solve_many:",
                f"UDE.solve_many: trajectory {b} (of {n})"
                if b < cap
                else f"UDE.solve_many: a trajectory with index >= {cap} (of {n})",
                1,
            )
            for b in range(cap + 1)
            for m in base
        )
        return self._guard(sol, "UDE.solve_many", index, text)

    def _check(self, u0, ts, t0, op):
        u0 = _float_array(u0, "u0", op)
        ts = _float_array(ts, "ts", op)
        if ts.ndim != 1 or ts.shape[0] < 1:
            raise ValueError(
                f"UDE.{op}: argument `ts` must be increasing save times, shape (T,); got shape "
                f"{tuple(ts.shape)}"
            )
        if t0 is None and ts.shape[0] < 2:
            raise ValueError(
                f"UDE.{op}: `ts` has one time only; pass `t0` (the start time) as well"
            )
        return u0, ts

    def _messages(self, where: str) -> tuple[str, ...]:
        """diffrax's reasons, then one per non-finite input (the codes of `_bad_inputs`)."""
        solver = messages(where, self.solver, self.stepsize_controller, self.max_steps)
        inputs = tuple(
            f"{where}: argument `{name}` is not finite (nan or inf), so the solve means nothing "
            "(it would report reaching max_steps, or return inf); check the values passed in "
            "(under jit they cannot be checked before the solve)."
            for name in _INPUTS
        )
        return solver + inputs

    def _guard(
        self, sol: diffrax.Solution, where: str, index: jax.Array, text: tuple[str, ...]
    ) -> diffrax.Solution:
        """``sol``, raising ``text[index]`` at run time where ``index != 0``."""
        forward = isinstance(self.adjoint, diffrax.ForwardMode)
        return eqx.tree_at(lambda s: s.ys, sol, guard(sol.ys, index, text, forward=forward))

    def _check_field(self, params, u0, ts, args, t0, op) -> None:
        """Trace the vector field once at the start: ``du/dt`` must have the shape of ``u``."""
        start = ts[0] if t0 is None else t0
        out = jax.eval_shape(lambda: self.vector_field(start, u0, params, args))
        shape = getattr(out, "shape", None)
        if shape != u0.shape:
            got = shape if shape is not None else type(out).__name__
            raise ValueError(
                f"UDE.{op}: argument `vector_field` must return du/dt with the shape of `u`, "
                f"{tuple(u0.shape)}; got {got}"
            )

    # ----------------------------------------------------------------------------- checks
    def accepted_steps(
        self, params: Any, u0: Any, ts: Any, args: Any = None, *, t0: Any = None
    ) -> jax.Array:
        """The times ``t0 < t1 < ... < T`` of the steps the adaptive solve takes (host side).

        With :meth:`with_steps` they make a solve that takes exactly these steps. diffrax
        stops gradients through step-size selection, so ``jax.grad`` through the adaptive solve
        equals ``jax.grad`` through that fixed-step solve, which is a smooth function of the
        weights: the one finite differences can check to 1e-6 (:func:`nestax.check_gradients`).
        The adaptive loss itself is only piecewise smooth in the weights.
        """
        u0, ts = self._check(u0, ts, t0, "accepted_steps")
        # no gradient is taken here, and not every adjoint can save every step
        saveat, adjoint = diffrax.SaveAt(steps=True), diffrax.RecursiveCheckpointAdjoint()
        sol = self._diffeqsolve(params, u0, ts, args, t0, saveat, adjoint)
        check_solution(sol, "UDE.accepted_steps")
        n = int(sol.stats["num_accepted_steps"])
        start = ts[:1] if t0 is None else jnp.reshape(jnp.asarray(t0, ts.dtype), (1,))
        return jnp.concatenate([start, sol.ts[:n]])

    def with_steps(self, steps: Any) -> UDE:
        """This UDE with a ``diffrax.StepTo(steps)`` controller: exactly those step times.

        ``steps`` must run from the start time to the final time (see :meth:`accepted_steps`).
        """
        steps = _float_array(steps, "steps", "with_steps")
        if steps.ndim != 1 or steps.shape[0] < 2:
            raise ValueError(
                "UDE.with_steps: argument `steps` must be increasing times, shape (n >= 2,); "
                f"got shape {tuple(steps.shape)}"
            )
        return UDE(
            self.vector_field,
            solver=self.solver,
            stepsize_controller=diffrax.StepTo(steps),
            adjoint=self.adjoint,
            max_steps=max(self.max_steps, steps.shape[0]),
            on_failure=self.on_failure,
        )


_INPUTS = ("u0", "ts", "params", "args")
_NAMED = 16  # solve_many names the first failing trajectory up to this index


def _bad_inputs(u0: Any, ts: Any, params: Any, args: Any) -> jax.Array:
    """0 if every float array in the inputs is finite, else the code of the first that is not
    (after diffrax's result codes, in the order of `_INPUTS`): one reduction per input."""
    code = jnp.zeros((), jnp.int32)
    base = len(diffrax.RESULTS._index_to_message)
    for j in reversed(range(len(_INPUTS))):
        leaves = [x for x in jax.tree.leaves((u0, ts, params, args)[j]) if eqx.is_inexact_array(x)]
        if leaves:
            ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
            code = jnp.where(ok, code, base + j)
    return code


def _finite_on_host(inputs: dict[str, Any], op: str) -> None:
    """Refuse non-finite concrete inputs before solving (values under a trace are checked at
    run time instead, by `_bad_inputs`)."""
    for arg, tree in inputs.items():
        flat, _ = jax.tree_util.tree_flatten_with_path(tree)
        for path, leaf in flat:
            if isinstance(leaf, jax.core.Tracer) or not (
                isinstance(leaf, float) or eqx.is_inexact_array(leaf)
            ):
                continue
            values = np.asarray(leaf)
            if np.isfinite(values).all():
                continue
            where = f" at {jax.tree_util.keystr(path)}" if path else ""
            if arg == "u0s" and values.ndim >= 1:
                rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
                where = f" in rows {rows[:10].tolist()} (those trajectories)"
            bad = values[~np.isfinite(values)].ravel()[:3].tolist()
            raise ValueError(f"UDE.{op}: argument `{arg}` must be finite; got {bad}{where}")


def _float_array(x: Any, arg: str, op: str) -> jax.Array:
    try:
        arr = jnp.asarray(x)
    except TypeError as err:
        raise TypeError(
            f"UDE.{op}: argument `{arg}` must be an array of floats; got {type(x).__name__}"
        ) from err
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"UDE.{op}: argument `{arg}` must have a floating dtype; got {arr.dtype}")
    return arr
