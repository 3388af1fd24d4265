"""What a training run returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`nestax.fit`.

    Attributes:
        params: the trained parameters, with the structure of the ``params`` passed in.
        history: ``dict`` term -> ``np.ndarray`` of shape ``(steps,)``, plus ``"total"``:
            ``history[name][k]`` is term ``name`` evaluated at the parameters ``θ_k`` before the
            ``k``-th update (for a resumed run, counting from the very first step).
        steps: steps taken in all, ``len(history["total"])``.
        stage_steps: steps taken in each stage.
        wall_seconds: wall time of this call.
        seconds_per_step: time per step after compilation (the first step of each stage is
            left out, since it compiles), callbacks and checkpoints included.
        compile_seconds: time of the first step of each stage run in this call.
        stopped: ``"completed"``, ``"early_stopping"`` (the callback returned ``True`` or the
            ``early_stopping`` rule fired) or ``"interrupted"`` (Ctrl-C or SIGTERM; with a
            ``checkpoint_dir`` a checkpoint was saved, and ``resume=True`` continues).
    """

    params: Any
    history: dict[str, np.ndarray]
    steps: int
    stage_steps: tuple[int, ...]
    wall_seconds: float
    seconds_per_step: float
    compile_seconds: float
    stopped: Literal["completed", "early_stopping", "interrupted"]

    def __repr__(self) -> str:
        last = {k: float(v[-1]) for k, v in self.history.items() if len(v)}
        terms = ", ".join(f"{k}={v:.3e}" for k, v in last.items())
        return (
            f"FitResult(stopped={self.stopped!r}, steps={self.steps}, {terms}, "
            f"seconds_per_step={self.seconds_per_step:.2e})"
        )
