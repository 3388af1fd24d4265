"""What every example's ``run`` shares: its signature, float64, ``metrics.json``, the PINN report.

Every example's ``run`` is its body decorated with `example`, which gives it the common
signature ``run(iters, out_dir, seed, progress, **options)`` and hands the body those four as
`Args`. Training itself is ``nestax.fit``; its result carries ``history``,
``seconds_per_step`` and ``wall_seconds``, which ``write_metrics`` records (`Rounds` stands in
for it after a training in rounds). `report_field` is the end of every 2-D PINN example: error
on a grid, metrics, solution and loss plots; `train_field` the whole run of one trained by one
`nestax.fit`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np


def enable_x64() -> None:
    """Examples run in float64 (their gradient check needs it); call before making arrays."""
    jax.config.update("jax_enable_x64", True)


class Args(NamedTuple):
    """The four arguments every example's ``run`` takes, as `example` hands them to its body
    (``out_dir`` is ``runs/<name>`` when none was given), and the example's ``name``."""

    name: str
    iters: int
    out_dir: str | os.PathLike
    seed: int
    progress: bool


def example(name: str, default_iters: int) -> Callable[[Callable], Callable]:
    """Decorator: ``body(args: Args, **options) -> metrics`` becomes the example's

    ``run(iters=default_iters, out_dir=None, seed=0, progress=True, **options) -> metrics``,

    which switches float64 on (before the body makes any array) and calls ``body``. Its
    signature (``inspect.signature``, which ``nestax run --set`` reads) is those four
    parameters followed by ``body``'s keyword options.

    Example:
        >>> @example("demo", 5)
        ... def run(args: Args, *, width: int = 3) -> dict:
        ...     return {"iters": args.iters, "out": str(args.out_dir), "width": width}
        >>> run(width=4)
        {'iters': 5, 'out': 'runs/demo', 'width': 4}
        >>> inspect.signature(run)
        <Signature (iters: 'int' = 5, out_dir: 'str | os.PathLike | None' = None, seed: 'int' = 0, progress: 'bool' = True, *, width: 'int' = 3) -> 'dict'>
    """  # noqa: E501
    common = (
        ("iters", default_iters, "int"),
        ("out_dir", None, "str | os.PathLike | None"),
        ("seed", 0, "int"),
        ("progress", True, "bool"),
    )

    def decorate(body: Callable) -> Callable:
        @functools.wraps(body)
        def run(iters=default_iters, out_dir=None, seed=0, progress=True, **options):
            enable_x64()
            out_dir = default_out_dir(name) if out_dir is None else out_dir
            return body(Args(name, iters, out_dir, seed, progress), **options)

        signature = inspect.signature(body)
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(p, kind, default=d, annotation=a) for p, d, a in common]
        params += list(signature.parameters.values())[1:]
        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return run

    return decorate


def adam_then_lbfgs(iters: int, learning_rate: float = 1e-3, memory_size: int = 50) -> list:
    """The usual PINN schedule: the first third of ``iters`` Adam, the rest L-BFGS."""
    import nestax as nx

    adam = max(iters // 3, 1)
    stages = [nx.Stage("adam", adam, learning_rate=learning_rate)]
    if iters > adam:
        stages.append(nx.Stage("lbfgs", iters - adam, memory_size=memory_size))
    return stages


def default_out_dir(name: str) -> Path:
    return Path("runs") / name


class Rounds(NamedTuple):
    """What `write_metrics` reads from a fit result, for a training in several rounds."""

    params: Any
    history: Mapping[str, Any]
    wall_seconds: float

    @property
    def seconds_per_step(self) -> float:
        return self.wall_seconds / max(len(self.history["total"]), 1)


def report_field(
    args: Args,
    problem: Any,
    result: Any,
    check: Any,
    grid: Sequence[np.ndarray],
    reference: Any,
    *,
    labels: tuple[str, str] = ("x", "y"),
    extra: Mapping[str, Any] | None = None,
    boundaries: Sequence[tuple[int, str]] = (),
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Evaluate ``result.params`` on the meshgrid ``grid`` against ``reference`` (a function of
    one point, or the values on the grid); write ``metrics.json`` (with ``rel_l2_error``),
    ``solution.png`` and ``loss.png`` (with the stage and round ``boundaries`` marked) into
    ``args.out_dir``. Returns ``(metrics, prediction, reference)`` on the grid.
    """
    from nestax import pinn

    a, b = grid
    pts = np.stack([a.ravel(), b.ravel()], 1)
    if callable(reference):
        ref = np.asarray(jax.vmap(reference)(jax.numpy.asarray(pts))).reshape(a.shape)
    else:
        ref = np.asarray(reference).reshape(a.shape)
    errors = pinn.evaluate(problem, result.params, pts, ref.ravel())
    out_dir, name = args.out_dir, args.name
    extra = {**errors, **(extra or {})}
    metrics = write_metrics(out_dir, name, result, check, args.seed, extra=extra)
    pred = pinn.predict(problem, result.params, pts).reshape(a.shape)
    pinn.plot_field(
        grid,
        pred,
        ref,
        os.path.join(out_dir, "solution.png"),
        f"{name}: rel. L2 error {errors['rel_l2_error']:.2e}",
        labels=labels,
    )
    pinn.plot_losses(
        result.history, os.path.join(out_dir, "loss.png"), f"{name}: loss terms", boundaries
    )
    return metrics, pred, ref


def plot_time_slices(
    args: Args,
    grid: tuple[np.ndarray, np.ndarray],
    pred: np.ndarray,
    ref: np.ndarray,
    rows: Sequence[int],
) -> None:
    """``slices.png``: reference (solid) and PINN (dotted) against ``x`` at the times of the
    meshgrid rows ``rows`` (``grid = (t, x)``, ``indexing="ij"``)."""
    from nestax import pinn

    tt, xx = grid
    curves = {}
    for j, k in enumerate(rows):
        curves[f"t={tt[k, 0]:.2f} reference"] = (xx[k], ref[k], f"C{j}-")
    for j, k in enumerate(rows):
        curves[f"t={tt[k, 0]:.2f} PINN"] = (xx[k], pred[k], f"C{j}:")
    path = os.path.join(args.out_dir, "slices.png")
    pinn.plot_curves(curves, path, f"{args.name}: slices", "x", "u")


def report_time_field(
    args: Args,
    problem: Any,
    result: Any,
    check: Any,
    grid: tuple[np.ndarray, np.ndarray],
    reference: Any,
    rows: Sequence[int],
    boundaries: Sequence[tuple[int, str]],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """`report_field` on the meshgrid ``grid = (t, x)``, then `plot_time_slices` at ``rows``;
    the metrics written."""
    metrics, pred, ref = report_field(
        args, problem, result, check, grid, reference, labels=("t", "x"), extra=extra,
        boundaries=boundaries,
    )  # fmt: skip
    plot_time_slices(args, grid, pred, ref, rows)
    return metrics


def train_rounds(
    args: Args, problem: Any, net: Any, stages: list, rounds: int, later: list, **options: Any
) -> tuple[Any, Rounds]:
    """``problem.train(net, stages, rounds=rounds, later_stages=later, **options)``, timed:
    its result and the `Rounds` for `write_metrics`."""
    t0 = time.perf_counter()
    out = problem.train(
        net, stages, rounds=rounds, later_stages=later, progress=args.progress, **options
    )
    return out, Rounds(out.params, out.history, time.perf_counter() - t0)


def mesh(*axes: tuple[float, float, int]) -> tuple[np.ndarray, ...]:
    """The meshgrid (``indexing="ij"``) of ``np.linspace(start, stop, n)`` for each axis."""
    return tuple(np.meshgrid(*(np.linspace(*axis) for axis in axes), indexing="ij"))


#: The evaluation grid of the examples on the unit square: 101 × 101 points.
UNIT_SQUARE = ((0, 1, 101), (0, 1, 101))


def train_field(
    args: Args,
    problem: Any,
    stages: list,
    reference: Any,
    *,
    width: int,
    depth: int,
    grid: Sequence[tuple[float, float, int]] = UNIT_SQUARE,
    labels: tuple[str, str] = ("x", "y"),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run of a PINN example on two coordinates trained by one `nestax.fit`: a tanh MLP
    (``width``, ``depth``; key ``args.seed``), a gradient check of the residual term (random
    directions: one finite difference per weight would take longer than training), the
    points sharded when there are several devices, training (on ``problem.residuals()`` when
    a stage is ``"gauss-newton"``, else ``problem.loss()``), and `report_field` on
    ``mesh(*grid)``. Returns the metrics written."""
    import nestax as nx
    from nestax import pinn

    net = pinn.mlp(jax.random.key(args.seed), 2, width=width, depth=depth)
    # a second-order stage trains the residual form (first-order stages see its sum)
    second = any(s.name == "gauss-newton" for s in stages)
    make = problem.residuals if second else problem.loss
    loss = make()
    check = nx.check_gradients(lambda p: loss(p)["residual"], net, n_directions=8)
    if distribute(problem):  # the points as data of the step, sharded over the devices
        loss = make()
    result = nx.fit(loss, net, stages=stages, progress=args.progress)
    metrics, _, _ = report_field(
        args, problem, result, check, mesh(*grid), reference, labels=labels, extra=extra,
        boundaries=pinn.stage_boundaries(stages, result.stage_steps),
    )  # fmt: skip
    return metrics


def write_metrics(
    out_dir: str | os.PathLike,
    name: str,
    result: Any,
    check,
    seed: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json`` into ``out_dir`` and return the dict written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    iterations = len(result.history["total"])
    metrics: dict[str, Any] = {
        "example": name,
        "seed": seed,
        "iterations": iterations,
        "initial_loss": float(result.history["total"][0]),
        "final_loss": float(result.history["total"][-1]),
        "final_terms": {k: float(v[-1]) for k, v in result.history.items()},
        "seconds_per_iteration": result.seconds_per_step,
        "wall_seconds": result.wall_seconds,
        "gradient_check_max_rel_error": check.max_rel_error,
        "gradient_check_max_abs_error": check.max_abs_error,
        "gradient_check_ok": check.ok,
        "gradient_check_mode": check.mode,
        "gradient_check_n_checked": check.n_checked,
        "dtype": "float64",
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "devices": jax.device_count(),
        "processes": jax.process_count(),
    }
    if extra:
        metrics.update(extra)
    if jax.process_index() == 0:  # every process trained the same replicated parameters
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def distribute(problem: Any) -> bool:
    """Shard the problem's points over every device (of every process) when there are several
    (``nestax run --devices N`` / ``--num-processes P``); whether it did."""
    from nestax import pinn

    if jax.device_count() < 2:
        return False
    pinn.shard_problem(problem, pinn.points_mesh())
    return True


@dataclasses.dataclass
class Joined:
    """Consecutive :func:`nestax.fit` results as one run, for ``metrics.json`` and the loss plot."""

    history: dict[str, np.ndarray]
    seconds_per_step: float
    wall_seconds: float


def join(*results) -> Joined:
    """Consecutive :func:`nestax.fit` results (two or more) as one run."""
    lengths = [len(r.history["total"]) for r in results]
    names = list(dict.fromkeys(name for r in results for name in r.history))
    names.remove("total")
    history = {}
    for name in [*names, "total"]:  # a term absent from one phase is NaN there
        history[name] = np.concatenate(
            [r.history.get(name, np.full(n, np.nan)) for r, n in zip(results, lengths, strict=True)]
        )
    wall = sum(r.wall_seconds for r in results)
    steady = wall - sum(r.compile_seconds for r in results)
    n_compiled = sum(len(r.stage_steps) for r in results)
    return Joined(history, steady / max(1, sum(lengths) - n_compiled), wall)
