"""A registry of named, lazily imported modules: the examples (and the benchmark suites).

:meth:`Registry.discover` fills a registry from a package's files without importing them: every
public module that assigns the string constants ``NAME`` and ``SUMMARY`` at its top level is
one entry, so adding an example is adding its file.

Example:
    >>> reg = Registry("example")
    >>> reg.register("demo", "json", "a module to run").load().__name__
    'json'
    >>> reg.lookup("demo").summary
    'a module to run'
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pathlib
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

    def discover(self, package: str, directory: str | pathlib.Path) -> None:
        """Register every public module of ``package`` (its files in ``directory``) that sets
        ``NAME = "..."`` and ``SUMMARY = "..."`` at top level, read from the source with
        :mod:`ast` (nothing is imported). Entries whose name starts with ``seed-`` come first,
        then the rest by name."""
        found = []
        for path in sorted(pathlib.Path(directory).glob("*.py")):
            if path.name.startswith("_"):
                continue
            constants = _string_constants(path.read_text(encoding="utf-8"), ("NAME", "SUMMARY"))
            if len(constants) == 2:
                found.append((constants["NAME"], f"{package}.{path.stem}", constants["SUMMARY"]))
        seeds_first = lambda entry: (not entry[0].startswith("seed-"), entry[0])  # noqa: E731
        for name, module, summary in sorted(found, key=seeds_first):
            self.register(name, module, summary)

    def lookup(self, name: str) -> Entry:
        """The entry ``name``, or a ``ValueError`` that lists the valid names."""
        try:
            return self[name]
        except KeyError:
            valid = ", ".join(sorted(self))
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of: {valid}") from None


def _string_constants(source: str, names: tuple[str, ...]) -> dict[str, str]:
    """The top-level assignments ``NAME = "literal"`` in ``source`` for ``NAME`` in ``names``."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    out[target.id] = value.value
    return out
