"""The progress bar of `nestax.fit`: tqdm, with the ETA measured after compilation.

The first step of a stage compiles (seconds to minutes) and the steps after it take
milliseconds; tqdm's own rate would count the compilation and promise hours. `ProgressBar`
measures its rate from the end of the last compiling step only, and shows the compilation
time separately, first in the postfix (``compile 4.2 s, total=...``).
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class ProgressBar(tqdm):
    """A tqdm bar whose rate (and so its ETA) leaves out the compiling steps.

    Call :meth:`compiled` right after a step that compiled, with the compilation time so far:
    the rate is then the steps since that call over the time since it (``?`` until one more
    step has run), on the bar's own clock (``self._time``, tqdm's, replaceable in tests).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.compile_seconds = 0.0  # set first: tqdm's __init__ already draws the bar
        self._mark: tuple[float, int] | None = None  # (clock, n) after the last compiling step
        super().__init__(*args, **kwargs)

    def compiled(self, compile_seconds: float) -> None:
        """The last step compiled; ``compile_seconds`` is the compilation time of the run so
        far. The rate restarts from now."""
        self.compile_seconds = float(compile_seconds)
        if not self.disable:
            self._mark = (self._time(), self.n)
            self.refresh()

    @property
    def steady_rate(self) -> float:
        """Steps per second since the last compiling step; 0.0 when none has been measured."""
        if self._mark is None:
            return 0.0
        t, n = self._mark
        dt, dn = self._time() - t, self.n - n
        return dn / dt if dn > 0 and dt > 0 else 0.0

    @property
    def format_dict(self) -> dict[str, Any]:
        d = super().format_dict
        if self.disable and not hasattr(self, "unit"):  # never shown (tqdm's own test)
            return d
        d["rate"] = self.steady_rate  # 0.0 shows as "?" (None would make tqdm count compiling)
        if self.compile_seconds > 0:
            terms = d.get("postfix")
            d["postfix"] = f"compile {self.compile_seconds:.1f} s" + (f", {terms}" if terms else "")
        return d
