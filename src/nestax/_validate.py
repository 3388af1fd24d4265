"""Trace-time argument checks shared by every layer.

Each check raises a ``ValueError`` or ``TypeError`` whose message names the operator, the
argument, what was expected and what came in. Shapes are static under ``jit``, so every check
here runs once, at trace time, and costs nothing at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp


class MethodNotApplicableError(NotImplementedError, ValueError):
    """A method named explicitly cannot differentiate ``f`` (or cannot apply to the operator).

    Both a ``NotImplementedError`` (the method has no way through a construct) and a
    ``ValueError`` (the method does not fit the argument).

    The message names the construct that stops it (a primitive without a rule, a
    ``custom_vjp`` function under forward mode, a ``while_loop`` under reverse mode) and the
    methods that apply. `nestax.UnsupportedPrimitiveError` (the Taylor engine's) is one.
    """


def as_array(x: Any, *, op: str, arg: str = "x") -> jax.Array:
    """Convert ``x`` to a floating JAX array, or raise a ``TypeError`` naming ``arg``."""
    if x is None:
        raise TypeError(f"{op}: argument `{arg}` must be an array of floats; got None")
    try:
        arr = jnp.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{op}: argument `{arg}` must be an array of floats; got {type(x).__name__}"
        ) from err
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(
            f"{op}: argument `{arg}` must have a floating dtype (derivatives are taken with "
            f"respect to it); got dtype {arr.dtype}"
        )
    return arr


def check_rank(x: jax.Array, rank: int, *, op: str, arg: str = "x", what: str = "") -> None:
    """Raise if ``x.ndim != rank``."""
    if x.ndim != rank:
        expected = {0: "a scalar, shape ()", 1: "one point, shape (d,)"}.get(rank, f"rank {rank}")
        hint = f" {what}" if what else ""
        raise ValueError(
            f"{op}: argument `{arg}` must be {expected}; got shape {tuple(x.shape)}.{hint}"
        )


def check_method(method: Any, allowed: Sequence[str], *, op: str) -> str:
    """Return ``method`` if it is ``"auto"`` or one of ``allowed``; raise otherwise."""
    if not isinstance(method, str):
        raise TypeError(f"{op}: argument `method` must be a string; got {type(method).__name__}")
    if method != "auto" and method not in allowed:
        choices = ", ".join(repr(m) for m in ("auto", *allowed))
        raise ValueError(
            f"{op}: unknown or inapplicable method={method!r}; expected one of {choices}"
        )
    return method


def split_aux(out: Any, has_aux: bool, *, op: str) -> tuple[Any, Any]:
    """Split ``f``'s output into ``(y, aux)``; with ``has_aux=False`` aux is ``None``."""
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        got = f"a tuple of length {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise TypeError(f"{op}: with has_aux=True, `f` must return a pair (y, aux); got {got}")
    return out


def shape_of(out: Any, has_aux: bool, *, op: str) -> tuple[int, ...]:
    """Shape of ``y`` in an output ``out`` of ``f`` (or its shape), ``(y, aux)`` if ``has_aux``."""
    y, _ = split_aux(out, has_aux, op=op)
    if not hasattr(y, "shape"):
        raise TypeError(
            f"{op}: `f` must return an array"
            f"{' as the first element of (y, aux)' if has_aux else ''}; got {type(y).__name__}"
        )
    return tuple(y.shape)


def check_scalar_output(shape: tuple[int, ...], *, op: str) -> None:
    """Raise unless ``f`` returns a scalar."""
    if shape != ():
        raise ValueError(
            f"{op}: `f` must return a scalar, shape (); got shape {shape}. "
            "Use nestax.jacobian for vector-valued functions."
        )
