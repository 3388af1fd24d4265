"""`fit`: the training loop shared by the UDE and PINN workflows."""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _checkpoint
from ._ahead import compile_ahead
from ._args import check_options, check_residual_form, check_stages
from ._data import check_data, replicate_like
from ._early_stopping import EarlyStopping
from ._errors import NonFiniteLossError, StepFailedError
from ._history import History
from ._progress import ProgressBar
from ._result import FitResult
from ._signals import StopRequest
from ._stages import Stage
from ._step import call_loss, is_linesearch, loss_terms, make_step, strong

DEFAULT_STAGES = (Stage("adam", 5000, learning_rate=1e-3), Stage("lbfgs", 1000))
MAX_CHUNK = 500  # steps dispatched ahead of the host at most, whatever `every` is
SNAPSHOT_EVERY = 64  # steps between copies of the carry kept to recover from a failed step


@jax.jit
def _copy_leaves(leaves: list[jax.Array]) -> list[jax.Array]:
    """Fresh buffers for ``leaves``, in one dispatch (a copy per leaf costs one each)."""
    return [jnp.copy(x) for x in leaves]


def _copy(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.array(x, dtype=x.dtype, copy=True), tree)


def fit(
    loss: Callable[..., Any],
    params: Any,
    stages: Sequence[Stage] | Stage = DEFAULT_STAGES,
    *,
    key: Any = None,
    data: Any = None,
    callback: Callable[[int, Any, dict[str, float]], Any] | None = None,
    every: int = 100,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    early_stopping: EarlyStopping | None = None,
    resume: bool = False,
    jit: bool = True,
) -> FitResult:
    r"""Minimise :math:`L(θ) = \sum_i L_i(θ)` over ``params`` with optax, in stages.

    Each stage runs its optimizer for its number of steps; step :math:`k` (counted from 0
    across stages) evaluates every term :math:`L_i(θ_k)` and :math:`\nabla_θ L(θ_k)`, records
    the terms and the total in the history, and updates :math:`θ_{k+1} = θ_k + u_k`. One
    jit-compiled step per stage runs ahead of the host (the later stages' steps compile on a
    background thread while the first stage trains); rows of the history are fetched every
    ``every`` steps in one transfer, where the NaN guard, the progress bar, the callback, early
    stopping and checkpoints act.

    Args:
        loss: ``loss(params)`` (``loss(params, key)`` when ``key`` is given) returning a scalar,
            or a ``dict`` of named scalar terms whose sum is minimised.
        params: a pytree of arrays (an equinox module: its floating-point arrays are trained,
            everything else is held fixed).
        stages: a list of :class:`Stage` run in order (default: Adam for 5 000 steps at 1e-3,
            then L-BFGS for 1 000).
        data: a pytree of arrays (collocation points, a batch) passed to every call of the loss
            as its second argument, ``loss(params, data)`` (``loss(params, data, key)`` with
            ``key``). They are an *argument* of the compiled step, never closed over: arrays
            sharded over several devices (:func:`nestax.pinn.shard_points`) stay sharded, the
            parameters and the optimizer state are replicated over the same devices, and XLA
            inserts the all-reduce of the gradient; this also runs across processes started with
            ``jax.distributed``. Default: ``loss.data`` when the loss has that attribute (the
            loss :meth:`nestax.pinn.Problem.loss` returns does), else no data.
        key: a PRNG key; step :math:`k` passes ``jax.random.fold_in(key, k)`` to ``loss`` (for
            resampling collocation points), so a resumed run draws the same keys.
        callback: ``callback(k, params_k, terms_k)`` at steps ``k = 0, every, 2 every, ...``,
            with the parameters :math:`θ_k` and the ``dict`` of floats ``terms_k`` recorded at
            them (``"total"`` included). A truthy return value stops training
            (``stopped="early_stopping"``); ``KeyboardInterrupt`` raised in it interrupts it.
        every: how often (in steps) the history is fetched and the callback called.
        progress: show a tqdm progress bar with the stage, the total and the terms.
        checkpoint_dir: a folder for checkpoints; one is saved every ``checkpoint_every``
            steps, when training is interrupted and when it ends. It is checked before the
            first step (created if missing, writable, some free space): a folder that cannot
            hold checkpoints raises ``ValueError`` at once, not after the training.
        checkpoint_every: steps between periodic checkpoints (needs ``checkpoint_dir``).
        early_stopping: an :class:`EarlyStopping` rule on the total.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` (start afresh when
            there is none). The arguments must describe the same problem; the run reaches the
            parameters an uninterrupted run reaches, bit for bit on a deterministic backend.
        jit: compile the step (turn off only to debug the loss with prints).

    Returns:
        A :class:`FitResult` with the parameters, the history of every term, timings and why
        training stopped. Ctrl-C or SIGTERM during training (their handlers are replaced for the
        duration of the call) save a checkpoint and return with ``stopped="interrupted"``.

    Raises:
        NonFiniteLossError: a term became ``nan`` or ``inf``; it names the term, the step and
            the stage, and carries the last parameters with a finite loss. A finite loss with a
            non-finite gradient stops the same way (``of="gradient"``).
        StepFailedError: the step failed at run time (a UDE solve with ``on_failure="raise"``
            that reached ``max_steps``); it names the step, carries the last parameters from
            which a step succeeded and, with ``checkpoint_dir``, the checkpoint saved.

    Both save a checkpoint of the state before the failing step when ``checkpoint_dir`` is set.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> def loss(p):
        ...     return {"data": jnp.sum((p - 1.0) ** 2), "reg": 1e-2 * jnp.sum(p**2)}
        >>> result = nx.fit(loss, jnp.zeros(3), [nx.Stage("adam", 300, learning_rate=0.05),
        ...                                      nx.Stage("lbfgs", 20)], progress=False)
        >>> result.stopped, result.steps, sorted(result.history)
        ('completed', 320, ['data', 'reg', 'total'])
        >>> bool(jnp.allclose(result.params, 1 / 1.01))
        True
    """
    stages = check_stages(stages)
    check_residual_form(loss, stages)
    check_options(key, callback, every, checkpoint_dir, checkpoint_every, early_stopping, resume)
    dyn, static = eqx.partition(params, eqx.is_inexact_array)
    if not jax.tree.leaves(dyn):
        raise ValueError("fit: argument `params` has no floating-point array leaves to train")
    if data is None:
        data = getattr(loss, "data", None)
    data = check_data(data)
    dyn = replicate_like(dyn, data)
    names = loss_terms(loss, dyn, static, key, data)  # traced, not compiled
    if checkpoint_dir is not None:  # found now, not at the first save after the training
        # parameters, optimizer state (Adam: two moments) and the history, with a margin
        nbytes = 4 * sum(np.dtype(x.dtype).itemsize * np.size(x) for x in jax.tree.leaves(dyn))
        nbytes += 8 * (len(names) + 1) * sum(s.steps for s in stages)
        _checkpoint.check_dir(checkpoint_dir, nbytes)
    key = replicate_like(key, data)
    loop = _Loop(loss, dyn, static, stages, names, key, jit, data)
    if resume:
        found = _checkpoint.load_latest(checkpoint_dir)  # type: ignore[arg-type]
        if found is not None:
            loop.restore(*found)
    return loop.run(callback, every, progress, checkpoint_dir, checkpoint_every, early_stopping)


class _Loop:
    """The state of one call of `fit`: where training is, and the step that moves it on."""

    def __init__(self, loss, dyn, static, stages, names, key, jit, data=None) -> None:
        self.loss, self.static, self.stages, self.key, self.jit = loss, static, stages, key, jit
        self.data = data
        self.names = names
        self.columns = (*names, "total")
        self.history = History(self.columns)
        self.stage = self.stage_step = self.gstep = 0
        dyn = _copy(dyn)  # the caller keeps its arrays: the carry's buffers are donated
        self.carry = (dyn, None, _copy(dyn), jnp.asarray(False))
        self.rows: list[jax.Array] = []
        self.stopped: str | None = None
        self._snap: tuple[int, int, list[jax.Array], int] | None = None  # see `_recover`

    # The carry (θ_k, optimizer state, θ_good, failed) lives as a flat list of leaves while a
    # stage runs, and is rebuilt as a tree only where the host needs it.
    @property
    def carry(self) -> tuple[Any, Any, Any, Any]:
        return jax.tree.unflatten(self.carry_def, self.leaves)

    @carry.setter
    def carry(self, tree: tuple[Any, Any, Any, Any]) -> None:
        self.leaves, self.carry_def = jax.tree.flatten(tree)

    # ----------------------------------------------------------------------------- resume
    def _meta(self) -> dict[str, Any]:
        return {
            "global_step": self.gstep,
            "stage": self.stage,
            "stage_step": self.stage_step,
            "stages": [[s.name, s.steps] for s in self.stages],
            "columns": list(self.columns),
            "key": self.key is not None,
            "stopped": self.stopped or "running",
        }

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Continue from a checkpoint, after checking it belongs to this problem."""
        now = self._meta()
        for field, arg in (("stages", "stages"), ("columns", "loss"), ("key", "key")):
            if meta[field] != now[field]:
                raise ValueError(
                    f"fit(resume=True): argument `{arg}` does not match the checkpoint "
                    f"({field}: {meta[field]!r} in the checkpoint, {now[field]!r} now)"
                )
        if self.key is not None and not np.array_equal(
            arrays["key"], _checkpoint._to_numpy(self.key)
        ):
            raise ValueError("fit(resume=True): argument `key` differs from the checkpoint's key")
        dyn = _checkpoint.restore(
            self.carry[0], arrays, "params", meta["n_params"], "parameters",
            meta.get("param_paths"),
        )  # fmt: skip
        self.gstep, self.stage, self.stage_step = (
            meta["global_step"],
            meta["stage"],
            meta["stage_step"],
        )
        self.history = History(self.columns, arrays["history"])
        opt_state = None
        if meta["stopped"] in ("completed", "early_stopping"):
            self.stopped = meta["stopped"]
        else:
            template = strong(self.stages[self.stage].transformation.init(dyn))
            what = f"optimizer state of stage {self.stage}"
            opt_state = _checkpoint.restore(
                template, arrays, "opt", meta["n_opt"], what, meta.get("opt_paths")
            )
        self.carry = (dyn, opt_state, _copy(dyn), jnp.asarray(False))

    # ----------------------------------------------------------------------------- running
    def run(self, callback, every, progress, checkpoint_dir, checkpoint_every, rule) -> FitResult:
        """Run the remaining stages; see `fit`."""
        self.callback, self.every, self.rule = callback, every, rule
        self.checkpoint_dir, self.checkpoint_every = checkpoint_dir, checkpoint_every
        if rule is not None:
            rule.reset()
            if rule.update(self.history.rows()[:, -1]) is not None and self.stopped is None:
                self.stopped = "early_stopping"
        total = sum(s.steps for s in self.stages)
        start_step, self.compile_seconds, self.compiled = self.gstep, 0.0, 0
        t0 = time.perf_counter()
        pool, self.ahead = None, {}
        if self.jit and self.stopped is None:  # the later stages compile while this one runs
            pool, self.ahead = compile_ahead(
                self.loss, self.carry[0], self.static, self.stages, self.stage + 1, self.key,
                names=self.names, uses_key=self.key is not None, jit=True, data=self.data,
            )  # fmt: skip
        with (
            StopRequest() as stop,
            ProgressBar(
                total=total,
                initial=self.gstep,
                disable=not progress or jax.process_index() > 0,
                dynamic_ncols=True,
            ) as bar,
        ):
            self.bar = bar
            try:
                self._stages(stop)
            except KeyboardInterrupt:
                stop.critical = True  # a further Ctrl-C waits until the checkpoint is written
                self._sync(callback=False)
                self.stopped = "interrupted"
            finally:
                if pool is not None:  # a compilation running goes on, on its daemon thread
                    pool.shutdown(wait=False, cancel_futures=True)
            stop.critical = True
            self.stopped = self.stopped or "completed"
            if checkpoint_dir is not None:
                self._save()
            stop.critical = stop.deferred = False  # stopping anyway: the result comes back
        wall = time.perf_counter() - t0
        steps_run = self.gstep - start_step
        steady = steps_run - self.compiled
        offsets = np.cumsum([0] + [s.steps for s in self.stages])
        return FitResult(
            params=eqx.combine(self.carry[0], self.static),
            history=self.history.as_dict(),
            steps=self.gstep,
            stage_steps=tuple(
                int(np.clip(self.gstep - o, 0, s.steps))
                for o, s in zip(offsets[:-1], self.stages, strict=True)
            ),
            wall_seconds=wall,
            seconds_per_step=(wall - self.compile_seconds) / steady if steady > 0 else float("nan"),
            compile_seconds=self.compile_seconds,
            stopped=self.stopped,  # type: ignore[arg-type]
        )

    def _stages(self, stop: StopRequest) -> None:
        n = len(self.stages)
        while self.stopped is None and self.stage < n:
            stage = self.stages[self.stage]
            if self.stage_step >= stage.steps:
                self.stage, self.stage_step = self.stage + 1, 0
                self.carry = (self.carry[0], None, self.carry[2], jnp.asarray(False))
                continue
            dyn, opt_state, good, failed = self.carry
            if opt_state is None:
                opt_state = replicate_like(
                    strong(stage.transformation.init(dyn), copy=True), self.data
                )
                self.carry = (dyn, opt_state, good, failed)
            ahead = self.ahead.pop(self.stage, None)
            if ahead is not None:  # its compilation started in the background: let it finish
                t = time.perf_counter()
                ahead.exception()  # a failure there is met again, and reported, below
                self.compile_seconds += time.perf_counter() - t
            step = make_step(
                self.loss, self.static, stage.transformation, self.carry_def, names=self.names,
                uses_key=self.key is not None, linesearch=is_linesearch(opt_state), jit=self.jit,
                uses_data=self.data is not None,
            )  # fmt: skip
            self.bar.set_description(f"{stage.name} ({self.stage + 1}/{n})", refresh=False)
            self._step, first = step, True
            while self.stopped is None and self.stage_step < stage.steps:
                end = self.gstep + stage.steps - self.stage_step
                end = min(end, self._next(self.gstep - 1, self.every) + 1, self.gstep + MAX_CHUNK)
                if self.checkpoint_every and self.checkpoint_dir is not None:
                    end = min(end, self._next(self.gstep, self.checkpoint_every))
                self._snapshot()
                while self.gstep < end and not stop.requested:
                    t = time.perf_counter()
                    stop.critical = True
                    try:
                        self.leaves, row = step(
                            self.leaves, self.key, np.uint32(self.gstep), self.data
                        )
                    except Exception as err:
                        stop.critical = False
                        if not self._failed_at_run_time(err):
                            raise  # a trace-time error of the loss: as it is
                        self._recover(err, self.gstep + 1)
                        continue
                    self.rows.append(row)
                    self.gstep, self.stage_step = self.gstep + 1, self.stage_step + 1
                    stop.critical = False
                    stop.check_deferred()
                    self.bar.update(1)
                    if first:
                        jax.block_until_ready(row)
                        self.compile_seconds += time.perf_counter() - t
                        self.compiled, first = self.compiled + 1, False
                        self.bar.compiled(self.compile_seconds)  # the ETA starts from here
                self._sync(callback=True)
                if stop.requested and self.stopped is None:
                    self.stopped = "interrupted"

    @staticmethod
    def _next(step: int, period: int) -> int:
        """The smallest multiple of ``period`` larger than ``step``."""
        return (step // period + 1) * period

    def _sync(self, *, callback: bool) -> None:
        """Fetch the pending rows; guard, record, report, and act on them."""
        if not self.rows:
            return
        try:
            block = np.stack(jax.device_get(self.rows))  # transfers overlap; no stacking kernel
        except Exception as err:  # a step failed at run time, seen only now (asynchronous)
            self._recover(err, self.gstep)
            return self._sync(callback=callback)
        self.rows = []
        start = self.gstep - len(block)
        finite = np.isfinite(block)
        block = block[:, :-1]  # the last column flags a non-finite gradient
        if not finite.all():
            j = int(np.argmin(finite.all(axis=1)))
            col = int(np.argmin(finite[j]))
            self.history.extend(block[:j])
            k = start + j
            of, value, term = "loss", float(block[j, min(col, block.shape[1] - 1)]), None
            if col == block.shape[1]:  # the terms are finite; their gradient is not
                if self.stages[self.stage].name == "gauss-newton":  # or the step
                    of, value, term = "step", float("nan"), "total"
                else:
                    of, value, term = "gradient", float("nan"), self._bad_gradient(k) or "total"
            # the failed steps left the carry as it was before step k: checkpoint that state
            self.gstep, self.stage_step = k, k - (self.gstep - self.stage_step)
            error = NonFiniteLossError(
                term=term or self.columns[col], value=value, step=k, stage=self.stage,
                stage_name=self.stages[self.stage].name, stage_step=self.stage_step,
                params=eqx.combine(self.carry[2], self.static), history=self.history.as_dict(),
                of=of,
            )  # fmt: skip
            error.checkpoint = self._save() if self.checkpoint_dir is not None else None
            raise error
        self.history.extend(block)
        last = block[-1]
        self.bar.set_postfix_str(
            " ".join(f"{c}={v:.3e}" for c, v in zip(self.columns, last, strict=True)), refresh=False
        )
        if self.rule is not None and self.rule.update(block[:, -1]) is not None:
            self.stopped = "early_stopping"
        k = self.gstep - 1
        if callback and self.callback is not None and k % self.every == 0:
            terms = {c: float(v) for c, v in zip(self.columns, last, strict=True)}
            params_k = eqx.combine(_copy(self.carry[2]), self.static)  # θ_k, the last step's input
            if self.callback(k, params_k, terms):
                self.stopped = "early_stopping"
        every_ckpt = self.checkpoint_every
        if every_ckpt and self.gstep % every_ckpt == 0 and self.stopped is None:
            self._save()

    def _bad_gradient(self, k: int) -> str | None:
        """The first term whose gradient at ``θ_k`` (the carry's parameters: a failed step
        leaves them) is not finite, or ``None`` when only their sum overflows."""
        if not self.names:
            return None
        dyn = self.carry[0]
        key = None if self.key is None else jax.random.fold_in(self.key, np.uint32(k))
        for name in self.names:

            def term(d: Any, name: str = name) -> Any:
                params = eqx.combine(d, self.static)
                return call_loss(self.loss, params, self.data, key)[name]

            grad = (jax.jit(jax.grad(term)) if self.jit else jax.grad(term))(dyn)
            if not all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grad)):
                return name
        return None

    # ------------------------------------------------------------------------- run-time failures
    # A step whose loss fails at run time (an `equinox.error_if`, a UDE solve with
    # on_failure="raise") raises from the step call or, dispatched ahead, from the fetch of its
    # rows; either way the buffers it was given are donated and lost. So a copy of the carry is
    # kept (taken at the start of a chunk, at most every SNAPSHOT_EVERY steps and at the start
    # of each stage: one device copy of the carry, one dispatch), and a failure re-runs the
    # steps one at a time from that copy, keeping the input of each step, until the failing one.
    def _snapshot(self, *, force: bool = False) -> None:
        snap = self._snap
        if force or snap is None or snap[3] != self.stage or self.gstep - snap[0] >= SNAPSHOT_EVERY:
            leaves = _copy_leaves(self.leaves) if self.jit else [x.copy() for x in self.leaves]
            self._snap = (self.gstep, self.stage_step, leaves, self.stage)

    def _failed_at_run_time(self, err: Exception) -> bool:
        if isinstance(err, jax.errors.JaxRuntimeError | eqx.EquinoxRuntimeError):
            return True
        return any(isinstance(x, jax.Array) and x.is_deleted() for x in self.leaves)

    def _recover(self, err: Exception, upto: int) -> None:
        """Re-run the steps from the chunk's start to ``upto``; raise at the one that fails."""
        if self._snap is None:
            raise err
        self.gstep, self.stage_step, leaves, _ = self._snap
        self._snap = None  # its buffers are donated below
        self.rows = []
        recorded = len(self.history)  # the rows of steps before it are in the history already
        while self.gstep < upto:
            keep = _copy_leaves(leaves) if self.jit else leaves  # the step donates its input
            try:
                leaves, row = self._step(leaves, self.key, np.uint32(self.gstep), self.data)
                jax.block_until_ready((leaves, row))
            except Exception as again:
                self.leaves = keep  # (θ_k, s_k, θ_{k-1}, flag): the state before step k
                self._stop_failed(again)
            if self.gstep >= recorded:
                self.rows.append(row)
            self.gstep, self.stage_step = self.gstep + 1, self.stage_step + 1
        self.leaves = leaves
        self._snapshot(force=True)
        warnings.warn(
            f"fit: a step failed ({_reason(err)}) but passed when run again; training goes on",
            stacklevel=3,
        )

    def _stop_failed(self, err: Exception) -> None:
        k, stage_step = self.gstep, self.stage_step
        self._sync(callback=False)  # the rows before step k (an earlier nan is reported first)
        path = self._save() if self.checkpoint_dir is not None else None
        raise StepFailedError(
            reason=_reason(err), step=k, stage=self.stage, stage_name=self.stages[self.stage].name,
            stage_step=stage_step, params=eqx.combine(self.carry[2], self.static),
            history=self.history.as_dict(), checkpoint=path,
        ) from err  # fmt: skip

    def _save(self) -> Any:
        """Save a checkpoint of the current state; its JSON file's path, or ``None``."""
        if any(isinstance(x, jax.Array) and x.is_deleted() for x in self.leaves):
            warnings.warn("fit: interrupted mid-step; no checkpoint saved", stacklevel=3)
            return None
        dyn, opt_state, _, _ = self.carry
        if jax.process_index() > 0:  # every process holds the replicated state: one writes it
            return None
        try:
            return _checkpoint.save(
                self.checkpoint_dir, meta=self._meta(), params=dyn, opt_state=opt_state,
                key=self.key, history=self.history.rows(),
            )  # fmt: skip
        except OSError as err:  # a full disk, a lost mount: the training itself is not lost
            warnings.warn(
                f"fit: could not save the checkpoint of step {self.gstep} in "
                f"{self.checkpoint_dir}: {err}; training goes on", stacklevel=3,
            )  # fmt: skip
            return None


def _reason(err: BaseException) -> str:
    """The readable part of a run-time error (equinox's message inside XLA's text)."""
    text = str(err)
    found = re.search(r"EquinoxRuntimeError: (.*?)(?:\n\s*\n|$)", text, re.S)
    if found:
        return found.group(1).strip()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
