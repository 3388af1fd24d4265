"""A registry of named, lazily imported modules: the examples (and the benchmark suites).

Example:
    >>> reg = Registry("example")
    >>> reg.register("demo", "json", "a module to run").load().__name__
    'json'
    >>> reg.lookup("demo").summary
    'a module to run'
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

__all__ = ["Entry", "Registry"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered name: the module (dotted path, imported on `load`) and a one-line summary."""

    name: str
    module: str
    summary: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


class Registry(dict[str, Entry]):
    """``name -> Entry``; ``kind`` ("example", "benchmark suite") words the error messages."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str, module: str, summary: str) -> Entry:
        """Add ``name`` (its ``module`` is imported lazily, by dotted name)."""
        if name in self:
            article = "an" if self.kind[:1] in "aeiou" else "a"
            raise ValueError(f"register: {article} {self.kind} {name!r} is already registered")
        self[name] = Entry(name, module, summary)
        return self[name]

    def lookup(self, name: str) -> Entry:
        """The entry ``name``, or a ``ValueError`` that lists the valid names."""
        try:
            return self[name]
        except KeyError:
            valid = ", ".join(sorted(self))
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of: {valid}") from None
