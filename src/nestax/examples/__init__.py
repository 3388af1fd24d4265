"""Runnable examples, one module each, run by ``nestax run <name>``.

Adding an example is adding its file: every public module here that sets ``NAME = "..."``
and ``SUMMARY = "..."`` at top level is found from its source (:meth:`Registry.discover`,
nothing is imported, so ``nestax --help`` stays fast) and imported only when run. An example
module provides ``NAME``, ``SUMMARY``, ``DEFAULT_ITERS`` and
``run(iters, out_dir, seed, progress) -> dict`` (the metrics it wrote to ``metrics.json``).
The examples here write only their own body, ``run(args, **options)``, and the decorator
``_run.example`` gives it that signature, float64 and the default folder ``runs/<name>``.
An example that lives elsewhere is one :func:`register` call.

Example:
    >>> from nestax.examples import EXAMPLES
    >>> list(EXAMPLES)[:3]  # in the order they were registered: the seeds first
    ['seed-batchnorm', 'seed-cos', 'seed-ude']
"""

from __future__ import annotations

from ._registry import Entry, Registry

__all__ = ["EXAMPLES", "Entry", "Example", "Registry", "get", "register"]

#: A registered example: its CLI name, the module that runs it, and a one-line summary.
Example = Entry
EXAMPLES: Registry = Registry("example")
register = EXAMPLES.register  # add an example (its module is imported lazily, by dotted name)
get = EXAMPLES.lookup  # the example ``name``, or a ``ValueError`` listing the valid names

EXAMPLES.discover(__name__, __path__[0])
