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

The thread is a daemon: the interpreter never joins it where a Ctrl-C could cut the join short
(a non-daemon thread is joined at exit, and a Ctrl-C there let the interpreter tear down while
XLA still compiled: ``terminate called ...``, exit -6). Instead an exit handler waits for a
compilation still running, and a Ctrl-C meanwhile only says so.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import FrameType
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
    data: Any = None,
    **options: Any,
) -> None:
    """Compile the step of ``stage`` for parameters of the types ``dyn`` (no device work)."""
    state = jax.eval_shape(lambda d: strong(stage.transformation.init(d)), dyn)
    state = jax.tree.map(lambda x: _abstract(x, committed), state)
    failed = jax.ShapeDtypeStruct((), jnp.bool_)
    leaves, carry_def = jax.tree.flatten((dyn, state, dyn, failed))
    step = make_step(
        loss, static, stage.transformation, carry_def, linesearch=is_linesearch(state),
        uses_data=data is not None, **options,
    )  # fmt: skip
    step.lower(leaves, key, jax.ShapeDtypeStruct((), np.uint32), data).compile()


class Compiler:
    """One daemon thread running jobs in order, each with its `Future`."""

    def __init__(self, jobs: list[tuple[Future[None], Callable[[], None]]]) -> None:
        self._jobs = jobs
        self._cancelled = False
        self.thread = threading.Thread(target=self._run, name="nestax-compile", daemon=True)
        _RUNNING.add(self.thread)
        self.thread.start()

    def _run(self) -> None:
        try:
            for future, job in self._jobs:
                if self._cancelled or not future.set_running_or_notify_cancel():
                    continue
                try:
                    job()
                except BaseException as err:  # met again, and reported, when the stage runs
                    future.set_exception(err)
                else:
                    future.set_result(None)
        finally:
            _RUNNING.discard(threading.current_thread())

    def shutdown(self, wait: bool = False, cancel_futures: bool = True) -> None:
        """Skip the jobs not started (``cancel_futures``); never interrupts one that runs."""
        if cancel_futures:
            self._cancelled = True
            for future, _ in self._jobs:
                future.cancel()
        if wait:
            self.thread.join()


_RUNNING: set[threading.Thread] = set()


def _wait_at_exit() -> None:
    """At exit, let a compilation still running finish (XLA cannot be stopped midway)."""
    alive = [t for t in list(_RUNNING) if t.is_alive()]
    if not alive or threading.current_thread() is not threading.main_thread():
        return

    def note(signum: int, frame: FrameType | None) -> None:
        print("nestax: exiting once the background compilation ends", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, note)
    try:
        for thread in alive:
            while thread.is_alive():
                thread.join(0.05)  # short waits: the handler runs between them
    finally:
        signal.signal(signal.SIGINT, previous)


# jax registers its own exit handler at import (above); handlers run last-in first-out, so this
# one waits for the thread before jax tears its backends down.
atexit.register(_wait_at_exit)


def compile_ahead(
    loss: Callable[..., Any],
    dyn: Any,
    static: Any,
    stages: Sequence[Stage],
    first: int,
    key: Any,
    data: Any = None,
    **options: Any,
) -> tuple[Compiler | None, dict[int, Future[None]]]:
    """Start compiling the steps of ``stages[first:]``, one after another, on one thread.

    Returns the compiler (``None`` when there is nothing to do) and a future per stage; wait on
    a stage's future before its first step so that the two compilations do not race.
    """
    if len(stages) - first < 1:
        return None, {}
    committed = any(getattr(x, "committed", False) for x in jax.tree.leaves(dyn))
    dyn = jax.tree.map(lambda x: _abstract(x, committed), dyn)  # now: the arrays are donated
    futures: dict[int, Future[None]] = {i: Future() for i in range(first, len(stages))}
    jobs = [
        (
            futures[i],
            lambda i=i: _warm(loss, dyn, static, stages[i], key, committed, data, **options),
        )
        for i in range(first, len(stages))
    ]
    return Compiler(jobs), futures
