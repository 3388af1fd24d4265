"""Argument checks of `fit`: each error names the argument, what was expected and what came."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._early_stopping import EarlyStopping
from ._stages import Stage


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_stages(stages: Any) -> tuple[Stage, ...]:
    """``stages`` as a non-empty tuple of `Stage` (a single `Stage` is accepted)."""
    if isinstance(stages, Stage):
        return (stages,)
    if not isinstance(stages, Sequence) or isinstance(stages, str) or not stages:
        raise TypeError(
            f"fit: argument `stages` must be a non-empty list of nestax.Stage; got {stages!r}"
        )
    for i, stage in enumerate(stages):
        if not isinstance(stage, Stage):
            raise TypeError(
                f"fit: argument `stages` must hold nestax.Stage objects; item {i} is "
                f"{type(stage).__name__} (write Stage({stage!r}, steps=...))"
            )
    return tuple(stages)


def check_residual_form(loss: Any, stages: Sequence[Stage]) -> None:
    """A Gauss–Newton stage needs a loss with a residual form (`Residuals`)."""
    from ._residuals import Residuals

    for i, stage in enumerate(stages):
        if stage.name == "gauss-newton" and not isinstance(loss, Residuals):
            raise TypeError(
                f"fit: stage {i} ('gauss-newton') needs a loss with a residual form "
                "(nestax.Residuals, e.g. nestax.pinn.Problem.residuals()); argument `loss` is "
                f"{type(loss).__name__}"
            )


def check_options(
    key: Any,
    callback: Any,
    every: Any,
    checkpoint_dir: Any,
    checkpoint_every: Any,
    early_stopping: Any,
    resume: Any,
) -> None:
    """Check the keyword arguments of `fit`."""
    if key is not None:
        dtype = getattr(key, "dtype", None)
        typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
        if not (typed or (dtype == jnp.uint32 and getattr(key, "ndim", 0) == 1)):
            raise TypeError(
                "fit: argument `key` must be a PRNG key (jax.random.key or jax.random.PRNGKey) "
                f"or None; got {type(key).__name__} with dtype {dtype}"
            )
        if typed and key.shape != ():
            raise ValueError(f"fit: argument `key` must be a single key; got shape {key.shape}")
    if callback is not None and not callable(callback):
        raise TypeError(f"fit: argument `callback` must be callable; got {type(callback).__name__}")
    if not _positive_int(every):
        raise ValueError(f"fit: argument `every` must be an integer >= 1; got {every!r}")
    if checkpoint_every is not None:
        if not _positive_int(checkpoint_every):
            raise ValueError(
                f"fit: argument `checkpoint_every` must be an integer >= 1; "
                f"got {checkpoint_every!r}"
            )
        if checkpoint_dir is None:
            raise ValueError("fit: argument `checkpoint_every` needs `checkpoint_dir`")
    if resume and checkpoint_dir is None:
        raise ValueError("fit: resume=True needs `checkpoint_dir` (where the checkpoints are)")
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(
            "fit: argument `early_stopping` must be a nestax.EarlyStopping or None; got "
            f"{type(early_stopping).__name__}"
        )
