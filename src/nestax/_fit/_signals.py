"""Turn Ctrl-C and SIGTERM into a request to stop, for the duration of a training run."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class StopRequest:
    """Context manager: while active, SIGINT and SIGTERM set ``requested`` instead of killing.

    The loop checks ``requested`` after every step, saves a checkpoint and returns, so a step
    is never cut in half. A second Ctrl-C raises ``KeyboardInterrupt`` (useful when a slow
    callback holds the loop), except while the loop is recording a step (``critical``): then
    the loop raises it itself right after; and once training stops, while the last checkpoint
    is written, a further Ctrl-C is held back so the checkpoint is complete. The previous
    handlers are restored on exit. Outside the main thread, where Python cannot install
    handlers, nothing is installed and only a ``KeyboardInterrupt`` raised by a callback stops
    the run.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self.critical = False
        self.deferred = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.requested is not None:
            if self.critical:
                self.deferred = True
                return
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def check_deferred(self) -> None:
        """Raise the ``KeyboardInterrupt`` a second Ctrl-C asked for during a critical section."""
        if self.deferred:
            self.deferred = False
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]
        self._previous.clear()
