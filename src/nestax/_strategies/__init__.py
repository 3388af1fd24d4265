"""The strategies: every way of computing a derivative, one module each, one protocol
(`_protocol`: ``propose(problem, name)`` and ``run(proposal, f, x)``).

`REGISTRY` maps each method name to its module, in the order that breaks the planner's ties
(the first listed wins): nested first-order AD (forward, reverse, the four nestings, "nested",
"nested-reverse"), then "reduced", "iterated", "taylor", "collapsed" and the randomized
estimators. A new strategy is one module plus one entry in `MODULES`.
"""

from __future__ import annotations

from types import ModuleType

from . import _collapsed, _iterated, _nested, _randomized, _reduced, _taylor

MODULES: tuple[ModuleType, ...] = (_nested, _reduced, _iterated, _taylor, _collapsed, _randomized)

REGISTRY: dict[str, ModuleType] = {name: module for module in MODULES for name in module.NAMES}


def names_for(kind: str) -> tuple[str, ...]:
    """The method names that compute problems of ``kind``, in registry order."""
    return tuple(n for n, module in REGISTRY.items() if kind in module.KINDS[n])
