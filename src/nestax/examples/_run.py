"""What every example's ``run`` shares: float64 and ``metrics.json``.

Training itself is ``nestax.fit``; its result carries ``history``, ``seconds_per_step`` and
``wall_seconds``, which ``write_metrics`` records.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax


def enable_x64() -> None:
    """Examples run in float64 (their gradient check needs it); call before making arrays."""
    jax.config.update("jax_enable_x64", True)


def adam_then_lbfgs(iters: int, learning_rate: float = 1e-3, memory_size: int = 50) -> list:
    """The usual PINN schedule: the first third of ``iters`` Adam, the rest L-BFGS."""
    from .. import _fit

    adam = max(iters // 3, 1)
    stages = [_fit.Stage("adam", adam, learning_rate=learning_rate)]
    if iters > adam:
        stages.append(_fit.Stage("lbfgs", iters - adam, memory_size=memory_size))
    return stages


def default_out_dir(name: str) -> Path:
    return Path("runs") / name


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
    }
    if extra:
        metrics.update(extra)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
