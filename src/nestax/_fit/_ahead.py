"""Compile the later stages' steps on a background thread while the first stage trains.

A stage's step is compiled at its first call. For Adam then L-BFGS the L-BFGS step (the loss
and its gradient inside a line search's loops) is the larger program: on a PINN with a
Laplacian it takes seconds to compile, the whole run of a short stage on a GPU. XLA compiles
without holding Python's lock, so the compilation can run beside the stage before it, and the
later stage's first call finds the executable in JAX's cache.

The background work only fills that cache: the step the loop calls is the same jitted function
either way, so a failed or mismatched compilation ahead costs time, never a wrong result (JAX
settings made with a context manager are per thread and do not reach the background thread:
under one, the stage compiles at its first call as before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._stages import Stage
from ._step import is_linesearch, make_step, strong


def _abstract(x: Any, committed: bool) -> Any:
    """``x``'s type as the step will see it; a sharding only for arrays placed by the user
    (JAX keys its cache on it: an uncommitted array has none)."""
    if not isinstance(x, jax.Array | jax.ShapeDtypeStruct):
        return x
    sharding = x.sharding if committed else None
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding, weak_type=x.weak_type)


def _warm(
    loss: Callable[..., Any],
    dyn: Any,
    static: Any,
    stage: Stage,
    key: Any,
    committed: bool,
    **options: Any,
) -> None:
    """Compile the step of ``stage`` for parameters of the types ``dyn`` (no device work)."""
    state = jax.eval_shape(lambda d: strong(stage.transformation.init(d)), dyn)
    state = jax.tree.map(lambda x: _abstract(x, committed), state)
    failed = jax.ShapeDtypeStruct((), jnp.bool_)
    leaves, carry_def = jax.tree.flatten((dyn, state, dyn, failed))
    step = make_step(
        loss, static, stage.transformation, carry_def, linesearch=is_linesearch(state), **options
    )
    step.lower(leaves, key, jax.ShapeDtypeStruct((), np.uint32)).compile()


def compile_ahead(
    loss: Callable[..., Any],
    dyn: Any,
    static: Any,
    stages: Sequence[Stage],
    first: int,
    key: Any,
    **options: Any,
) -> tuple[ThreadPoolExecutor | None, dict[int, Future[None]]]:
    """Start compiling the steps of ``stages[first:]``, one after another, on one thread.

    Returns the executor (``None`` when there is nothing to do) and a future per stage; wait on
    a stage's future before its first step so that the two compilations do not race.
    """
    if len(stages) - first < 1:
        return None, {}
    committed = any(getattr(x, "committed", False) for x in jax.tree.leaves(dyn))
    dyn = jax.tree.map(lambda x: _abstract(x, committed), dyn)  # now: the arrays are donated
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nestax-compile")
    futures = {
        i: pool.submit(_warm, loss, dyn, static, stages[i], key, committed, **options)
        for i in range(first, len(stages))
    }
    return pool, futures
