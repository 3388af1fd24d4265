"""PNG plots for the examples (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def loss_curve(history: Mapping[str, np.ndarray], path: str | Path, title: str) -> Path:
    """Semilog plot of every loss term against the iteration."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in history.items():
        style = "-" if name == "total" else "--"
        ax.semilogy(np.arange(len(values)), np.maximum(values, 1e-300), style, label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def curves(
    series: Mapping[str, tuple[np.ndarray, np.ndarray, str]],
    path: str | Path,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Several curves on one axis; ``series`` maps a label to (x, y, matplotlib format)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y, fmt) in series.items():
        ax.plot(np.asarray(x), np.asarray(y), fmt, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
