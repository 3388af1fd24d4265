"""Plumbing shared by every public operator: argument checks and the result."""

from __future__ import annotations

from typing import Any

import jax

from .._validate import as_array, check_rank

POINT_HINT = "To evaluate at many points, map over them: jax.vmap({op}(f))(xs)."


def finish(value: Any, aux: Any, has_aux: bool) -> Any:
    """What the user gets back: ``value``, or ``(value, aux)`` with ``has_aux``."""
    return (value, aux) if has_aux else value


def check_callable(f: Any, op: str) -> None:
    if not callable(f):
        raise TypeError(f"{op}: argument `f` must be a callable x -> y; got {type(f).__name__}")


def point(x: Any, op: str, rank: int = 1) -> jax.Array:
    """Validate one evaluation point (a scalar for ``rank=0``)."""
    x = as_array(x, op=op)
    check_rank(x, rank, op=op, what=POINT_HINT.format(op=f"nestax.{op}") if rank == 1 else "")
    return x
