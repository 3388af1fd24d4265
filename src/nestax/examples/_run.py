"""What every example's ``run`` shares: float64, ``metrics.json``, and the PINN report.

Training itself is ``nestax.fit``; its result carries ``history``, ``seconds_per_step`` and
``wall_seconds``, which ``write_metrics`` records (`Rounds` stands in for it after a training
in rounds). `report_field` is the end of every 2-D PINN example: error on a grid, metrics,
solution and loss plots.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np


def enable_x64() -> None:
    """Examples run in float64 (their gradient check needs it); call before making arrays."""
    jax.config.update("jax_enable_x64", True)


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
    out_dir: str | os.PathLike,
    name: str,
    problem: Any,
    result: Any,
    check: Any,
    seed: int,
    grid: tuple[np.ndarray, np.ndarray],
    reference: Any,
    *,
    labels: tuple[str, str] = ("x", "y"),
    extra: Mapping[str, Any] | None = None,
    boundaries: Sequence[tuple[int, str]] = (),
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Evaluate ``result.params`` on the meshgrid ``grid`` against ``reference`` (a function of
    one point, or the values on the grid); write ``metrics.json`` (with ``rel_l2_error``),
    ``solution.png`` and ``loss.png`` (with the stage and round ``boundaries`` marked).
    Returns ``(metrics, prediction, reference)`` on the grid.
    """
    from nestax import pinn

    a, b = grid
    pts = np.stack([a.ravel(), b.ravel()], 1)
    if callable(reference):
        ref = np.asarray(jax.vmap(reference)(jax.numpy.asarray(pts))).reshape(a.shape)
    else:
        ref = np.asarray(reference).reshape(a.shape)
    errors = pinn.evaluate(problem, result.params, pts, ref.ravel())
    metrics = write_metrics(out_dir, name, result, check, seed, extra={**errors, **(extra or {})})
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
    out_dir: str | os.PathLike,
    name: str,
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
    pinn.plot_curves(curves, os.path.join(out_dir, "slices.png"), f"{name}: slices", "x", "u")


def train_field(
    name: str,
    problem: Any,
    net: Any,
    stages: list,
    grid: tuple[np.ndarray, np.ndarray],
    reference: Any,
    *,
    out_dir: str | os.PathLike | None,
    seed: int,
    progress: bool,
    labels: tuple[str, str] = ("x", "y"),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run of a PINN example trained by one `nestax.fit`: a gradient check of the residual
    term (random directions: one finite difference per weight would take longer than
    training), the points sharded when there are several devices, training (on
    ``problem.residuals()`` when a stage is ``"gauss-newton"``, else ``problem.loss()``), and
    `report_field` on ``grid``. Returns the metrics written."""
    import nestax as nx
    from nestax import pinn

    out_dir = default_out_dir(name) if out_dir is None else out_dir
    # a second-order stage trains the residual form (first-order stages see its sum)
    second = any(s.name == "gauss-newton" for s in stages)
    make = problem.residuals if second else problem.loss
    loss = make()
    check = nx.check_gradients(lambda p: loss(p)["residual"], net, n_directions=8)
    if distribute(problem):  # the points as data of the step, sharded over the devices
        loss = make()
    result = nx.fit(loss, net, stages=stages, progress=progress)
    metrics, _, _ = report_field(
        out_dir, name, problem, result, check, seed, grid, reference, labels=labels, extra=extra,
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
