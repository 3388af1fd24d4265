"""Stop training once the total loss stops improving."""

from __future__ import annotations

import math
from collections.abc import Iterable


class EarlyStopping:
    r"""Stop when the total loss has not improved by ``min_delta`` for ``patience`` steps.

    With :math:`b_k = \min_{j \le k} L(θ_j)` the best total so far (counting only improvements
    larger than ``min_delta``), training stops at the first step :math:`k` that is
    ``patience`` steps after the last step :math:`j` with :math:`L(θ_j) < b_{j-1} -`
    ``min_delta``. The rule is a pure function of the recorded history, so a resumed run
    replays it and stops where an uninterrupted one would. :func:`nestax.fit` checks it each
    time it fetches the history (every ``every`` steps), so the run may go on for up to
    ``every - 1`` steps after the rule fired.

    Args:
        patience: steps without improvement before stopping, an integer ``>= 1``.
        min_delta: the smallest decrease of the total that counts as an improvement, ``>= 0``.

    Example:
        >>> import nestax as nx
        >>> rule = nx.EarlyStopping(patience=2, min_delta=0.1)
        >>> rule.first_stop([3.0, 2.0, 1.95, 1.92, 1.0])
        3
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(
                f"EarlyStopping: argument `patience` must be an integer >= 1; got {patience!r}"
            )
        if not (isinstance(min_delta, int | float) and min_delta >= 0):
            raise ValueError(f"EarlyStopping: argument `min_delta` must be >= 0; got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.reset()

    def reset(self) -> None:
        """Forget every value seen."""
        self.best = math.inf
        self.wait = 0
        self.seen = 0

    def update(self, totals: Iterable[float]) -> int | None:
        """Feed the next totals in step order; return the step index where the rule fired."""
        for value in totals:
            step = self.seen
            self.seen += 1
            if value < self.best - self.min_delta:
                self.best = float(value)
                self.wait = 0
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    return step
        return None

    def first_stop(self, totals: Iterable[float]) -> int | None:
        """From a fresh start, the first step at which the rule fires on ``totals``, or ``None``."""
        self.reset()
        return self.update(totals)

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta})"
