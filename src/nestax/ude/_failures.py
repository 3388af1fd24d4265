"""Solver failures: readable messages, a check that survives differentiation, host checks."""

from __future__ import annotations

import functools
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SolverError", "check_solution", "guard", "messages"]


class SolverError(RuntimeError):
    """A solve of a :class:`UDE` did not reach its final time (see :func:`check_solution`)."""


def messages(where: str, solver: Any, controller: Any, max_steps: int) -> tuple[str, ...]:
    """One readable message per ``diffrax.RESULTS`` index (index 0, success, is never shown)."""
    setup = (
        f"solver={type(solver).__name__}, stepsize_controller={_describe(controller)}, "
        f"max_steps={max_steps}"
    )
    hint = {
        "max_steps_reached": "Increase `max_steps`, or loosen `rtol`/`atol`; if the learned "
        "right-hand side makes the solution blow up, this is where training diverged",
        "dt_min_reached": "The step size collapsed: the problem may be stiff (try an implicit "
        "solver such as diffrax.Kvaerno5) or the solution is blowing up",
    }
    out = []
    for index in range(len(diffrax.RESULTS._index_to_message)):
        item = diffrax.RESULTS._index_to_message[index]
        name = next(
            (k for k, v in diffrax.RESULTS._name_to_item.items() if v._value == index), "error"
        )
        extra = hint.get(name, "")
        out.append(
            f"{where}: the ODE solve stopped before its final time: {item} ({setup}). "
            f"{extra + '. ' if extra else ''}Pass on_failure='flag' to get the failure as "
            "`solution.result` (and inf values) instead of this error."
        )
    return tuple(out)


def _describe(controller: Any) -> str:
    if isinstance(controller, diffrax.PIDController):
        return f"PIDController(rtol={controller.rtol}, atol={controller.atol})"
    if isinstance(controller, diffrax.StepTo):
        return f"StepTo({jnp.shape(controller.ts)[0]} times)"
    return type(controller).__name__


# The failure check must sit on the path that AD keeps. Under `jax.grad` the solution's values
# are often not needed (only their cotangents are), and XLA removes a check placed on them alone:
# diffrax's own `throw=True` then gives a silent zero gradient under `jit(grad(...))`. So the
# check is an identity whose derivative checks again: on the cotangent (reverse mode, every
# adjoint but ForwardMode) or on the tangent (forward mode, ForwardMode).
@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _guard_vjp(ys: Any, index: jax.Array, text: tuple[str, ...]) -> Any:
    return eqx.branched_error_if(ys, index != 0, index, text)


def _guard_vjp_fwd(ys, index, text):
    return _guard_vjp(ys, index, text), index


def _guard_vjp_bwd(text, index, cotangent):
    return eqx.branched_error_if(cotangent, index != 0, index, text), None


_guard_vjp.defvjp(_guard_vjp_fwd, _guard_vjp_bwd)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _guard_jvp(ys: Any, index: jax.Array, text: tuple[str, ...]) -> Any:
    return eqx.branched_error_if(ys, index != 0, index, text)


@_guard_jvp.defjvp
def _guard_jvp_rule(text, primals, tangents):
    ys, index = primals
    tangent = eqx.branched_error_if(tangents[0], index != 0, index, text)
    return _guard_jvp(ys, index, text), tangent


def guard(ys: Any, index: jax.Array, text: tuple[str, ...], *, forward: bool) -> Any:
    """``ys``, raising ``text[index]`` at run time where ``index != 0`` (a failed solve)."""
    return (_guard_jvp if forward else _guard_vjp)(ys, index, text)


def check_solution(solution: diffrax.Solution, what: str = "solve") -> diffrax.Solution:
    """Raise :class:`SolverError` on the host if any trajectory of ``solution`` failed.

    For solutions of a :class:`UDE` built with ``on_failure="flag"`` (outside ``jit``). The
    message lists the failed trajectories (for :meth:`UDE.solve_many`) and diffrax's reason.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import UDE, check_solution
        >>> ude = UDE(lambda t, u, k, a: -k * u, max_steps=2, on_failure="flag")
        >>> check_solution(ude.solve(1.0, jnp.ones(1), jnp.linspace(0, 9, 4)))
        Traceback (most recent call last):
        ...
        nestax.ude._failures.SolverError: solve: 1 of 1 trajectories failed: ...
    """
    codes = np.atleast_1d(np.asarray(solution.result._value))
    failed = np.flatnonzero(codes != 0)
    if failed.size == 0:
        return solution
    reasons = sorted({diffrax.RESULTS._index_to_message[int(c)] for c in codes[failed]})
    which = (
        ""
        if codes.size == 1
        else f" (indices {failed[:10].tolist()}" + (", ...)" if failed.size > 10 else ")")
    )
    raise SolverError(
        f"{what}: {failed.size} of {codes.size} trajectories failed{which}: " + " / ".join(reasons)
    )
