"""The oldest JAX nestax runs on, checked when nestax is imported.

The Taylor engine reads jaxprs through ``jax.extend.core`` (``DropVar`` and friends), which
JAX provides from 0.10.0 on; with an older JAX the first operator call would fail deep inside
the engine. Importing nestax fails early instead, naming both versions.
"""

from __future__ import annotations

import re

import jax

MINIMUM_JAX = "0.10.0"  # keep equal to the `jax>=` bound in pyproject.toml


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise ValueError(f"unrecognised version string {version!r}")
    return tuple(int(part or 0) for part in match.groups())


def check_jax_version(installed: str | None = None) -> None:
    """Raise ``ImportError`` if the installed JAX (or ``installed``) is older than 0.10.0."""
    installed = jax.__version__ if installed is None else installed
    if _release(installed) < _release(MINIMUM_JAX):
        raise ImportError(
            f"nestax needs JAX >= {MINIMUM_JAX}, but JAX {installed} is installed; upgrade "
            f'it with `python -m pip install -U "jax>={MINIMUM_JAX}"` (on an NVIDIA GPU: '
            f'"jax[cuda12]>={MINIMUM_JAX}")'
        )


check_jax_version()
