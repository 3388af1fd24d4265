"""The per-term loss history, kept on the host and filled in chunks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class History:
    """Rows ``(L_1(θ_k), ..., L_n(θ_k), L(θ_k))`` for steps ``k = 0, 1, ...``.

    The training step returns one row per step as a small device array; the loop stacks a
    chunk of rows on the device and copies the stack to the host in one transfer, so recording
    every step costs no device synchronisation per step. ``names`` are the term names followed
    by ``"total"``.
    """

    def __init__(self, names: Sequence[str], rows: np.ndarray | None = None) -> None:
        self.names = tuple(names)
        self._chunks: list[np.ndarray] = []
        self._length = 0
        if rows is not None and len(rows):
            self.extend(rows)

    def __len__(self) -> int:
        return self._length

    def extend(self, rows: np.ndarray) -> None:
        """Append ``rows``, an array of shape ``(steps, len(names))``."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != len(self.names):
            raise ValueError(
                f"History: rows must have shape (steps, {len(self.names)}); got {rows.shape}"
            )
        self._chunks.append(rows)
        self._length += rows.shape[0]

    def rows(self) -> np.ndarray:
        """All rows, shape ``(steps, len(names))``."""
        if not self._chunks:
            return np.zeros((0, len(self.names)))
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks, axis=0)]
        return self._chunks[0]

    def as_dict(self) -> dict[str, np.ndarray]:
        """``dict`` name -> ``np.ndarray`` of shape ``(steps,)`` (copies)."""
        rows = self.rows()
        return {name: rows[:, i].copy() for i, name in enumerate(self.names)}

    def last(self) -> dict[str, float] | None:
        """The latest row as ``dict`` name -> ``float``, or ``None`` when empty."""
        if not self._chunks:
            return None
        return {name: float(v) for name, v in zip(self.names, self._chunks[-1][-1], strict=True)}
