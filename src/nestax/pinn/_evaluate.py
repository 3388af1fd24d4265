r"""Evaluation against a reference solution, and plots.

The relative :math:`L^2` error on evaluation points :math:`\{x_j\}` is

.. math::
    e = \frac{\big(\sum_j |u_\theta(x_j) - u^*(x_j)|^2\big)^{1/2}}
             {\big(\sum_j |u^*(x_j)|^2\big)^{1/2}},

the figure PINN papers report (on a uniform grid or many random points).

Example:
    >>> import numpy as np
    >>> from nestax import pinn
    >>> round(pinn.relative_l2(np.array([3.0, 4.0]), np.array([3.0, 4.05])), 5)
    0.00992
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def relative_l2(pred, ref) -> float:
    """:math:`\\|u - u^*\\|_2 / \\|u^*\\|_2` over all entries (shapes must match)."""
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if pred.shape != ref.shape:
        raise ValueError(
            f"relative_l2: `pred` and `ref` must have the same shape; got {pred.shape} and "
            f"{ref.shape}"
        )
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


def predict(problem, params, x, batch: int = 50_000) -> np.ndarray:
    """The trial function :math:`u_\\theta` at every row of ``x`` (shape ``(n,)``)."""
    f = eqx.filter_jit(lambda p, y: jax.vmap(problem.trial(p))(y))
    x = jnp.asarray(x)
    return np.concatenate(
        [np.asarray(f(params, x[i : i + batch])) for i in range(0, len(x), batch)]
    )


def evaluate(problem, params, x, reference) -> dict[str, float]:
    """``{"rel_l2_error", "max_abs_error"}`` of the trial function against ``reference``
    (an array of values at ``x``, or a function of one point)."""
    pred = predict(problem, params, x)
    ref = np.asarray(jax.vmap(reference)(jnp.asarray(x)) if callable(reference) else reference)
    ref = ref.reshape(pred.shape)
    return {
        "rel_l2_error": relative_l2(pred, ref),
        "max_abs_error": float(np.max(np.abs(pred - ref))),
    }


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_field(
    grid: tuple[np.ndarray, np.ndarray],
    pred: np.ndarray,
    ref: np.ndarray,
    path: str | Path,
    title: str,
    labels: tuple[str, str] = ("x", "y"),
) -> Path:
    """Three panels on a 2-D grid ``(A, B)`` (``meshgrid``, ``indexing="ij"``): prediction,
    reference and the absolute error (the error map). Prediction and reference share one
    colour scale (symmetric about 0), so equal colours are equal values; the error has its
    own."""
    plt = _plt()
    a, b = grid
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    err = np.abs(pred - ref)
    vmax = float(np.nanmax(np.abs(np.stack([pred, ref])))) or 1.0
    for ax, z, name, cmap, limits in zip(
        axes,
        (pred, ref, err),
        ("PINN", "reference", "|error|"),
        ("RdBu_r", "RdBu_r", "magma"),
        ((-vmax, vmax), (-vmax, vmax), (0.0, None)),
        strict=True,
    ):
        m = ax.pcolormesh(a, b, z, shading="auto", cmap=cmap, vmin=limits[0], vmax=limits[1])
        fig.colorbar(m, ax=ax)
        ax.set_title(name)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
    fig.suptitle(title)
    return _save(plt, fig, path)


def stage_boundaries(
    stages: Sequence[Any], stage_steps: Sequence[int], offset: int = 0
) -> list[tuple[int, str]]:
    """``[(step, stage name), ...]`` where each stage after the first began, for
    :func:`plot_losses`; ``stage_steps`` are the steps each stage ran
    (``FitResult.stage_steps``), ``offset`` the step the first one began at.

    Example:
        >>> import nestax as nx
        >>> from nestax import pinn
        >>> pinn.stage_boundaries([nx.Stage("adam", 100), nx.Stage("lbfgs", 50)], (100, 50))
        [(100, 'lbfgs')]
    """
    out, step = [], offset
    for k, (stage, n) in enumerate(zip(stages, stage_steps, strict=True)):
        if k > 0 and n > 0:
            out.append((step, stage.name))
        step += n
    return out


def plot_losses(
    history: Mapping[str, np.ndarray],
    path: str | Path,
    title: str,
    boundaries: Sequence[tuple[int, str]] = (),
) -> Path:
    """Semilog plot of every loss term against the step.

    The total is a wide pale line beneath the terms (a term that is nearly all of the loss
    stays visible on it). ``boundaries``: ``(step, label)`` pairs, a vertical line and its
    label where a stage or a round began (:func:`stage_boundaries`, ``TrainResult.boundaries``).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (name, values) in enumerate(history.items()):
        y = np.maximum(np.asarray(values), 1e-300)
        if name == "total":
            ax.semilogy(y, "-", color="0.6", lw=4, alpha=0.6, zorder=1, label=name)
        else:
            ax.semilogy(y, "--", color=f"C{k}", lw=1.5, zorder=2, label=name)
    for step, label in boundaries:
        ax.axvline(step, color="0.3", lw=0.8, ls=":", zorder=0)
        ax.annotate(
            label, (step, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -2),
            textcoords="offset points", rotation=90, va="top", ha="left", fontsize=7,
            color="0.3",
        )  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return _save(plt, fig, path)


def plot_curves(
    series, path: str | Path, title: str, xlabel: str, ylabel: str, legend_outside: bool = False
) -> Path:
    """Curves on one axis; ``series`` maps a label to ``(x, y, fmt)``. ``legend_outside``: the
    legend to the right of the axes, where it covers no curve."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 4) if legend_outside else (6, 4))
    for label, (x, y, fmt) in series.items():
        ax.plot(np.asarray(x), np.asarray(y), fmt, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend_outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    else:
        ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(plt, fig, path)


def _save(plt, fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
