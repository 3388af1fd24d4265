"""Plumbing shared by every public operator: argument checks, ``has_aux`` and the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from .._validate import as_array, check_rank, output_shape, split_aux

POINT_HINT = "To evaluate at many points, map over them: jax.vmap({op}(f))(xs)."


def with_aux(f: Callable[..., Any], has_aux: bool, op: str) -> Callable[[jax.Array], Any]:
    """``f`` normalised to return ``(y, aux)``; ``aux`` is ``None`` without ``has_aux``."""

    def fa(x):
        return split_aux(f(x), has_aux, op=op)

    return fa


def finish(value: Any, aux: Any, has_aux: bool) -> Any:
    """What the user gets back: ``value``, or ``(value, aux)`` with ``has_aux``."""
    return (value, aux) if has_aux else value


def check_callable(f: Any, op: str) -> None:
    if not callable(f):
        raise TypeError(f"{op}: argument `f` must be a callable x -> y; got {type(f).__name__}")


def point(x: Any, f: Callable[..., Any], has_aux: bool, op: str, rank: int = 1):
    """Validate one evaluation point; return ``(x, output shape of f)``."""
    x = as_array(x, op=op)
    check_rank(x, rank, op=op, what=POINT_HINT.format(op=f"nestax.{op}") if rank == 1 else "")
    return x, output_shape(f, x, has_aux, op=op)


def size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def with_plan(fn: Callable[..., Any], plan: Callable[..., Any]) -> Callable[..., Any]:
    """Attach ``fn.plan(x)``: the planner's decision at ``x`` (what ``nestax.explain`` shows).

    ``plan`` returns a tuple whose last element is the :class:`~nestax._planner.Plan`.
    """
    fn.plan = lambda x: plan(x)[-1]
    return fn
