"""Benchmark suites, run by ``nestax bench <suite>``.

The registry is open: a later suite is one :func:`register` call naming a module that provides
``cases() -> list[Case]`` (see ``_harness.py``), optionally ``SETTINGS`` (a dict recorded in
the report) and ``prepare()`` (called before ``cases()``, for process-wide settings such as
JAX's dispatch mode, which only take effect before JAX's first computation). A suite that is
not a table of step times (``optimizers``: error against time while training) provides
``run_suite(out_dir, budget=...)`` instead, which writes its own report. Modules are imported
only when run.

Example:
    >>> from nestax.benchmarks import SUITES
    >>> "seeds" in SUITES
    True
"""

from __future__ import annotations

import os
from typing import Any

from ..examples import Entry, Registry  # the same lazily imported registry

__all__ = ["SUITES", "Suite", "get", "register", "run"]

#: A registered suite: its CLI name, module, and a one-line summary.
Suite = Entry
SUITES: Registry = Registry("benchmark suite")
register = SUITES.register  # add a suite (its module is imported lazily, by dotted name)
get = SUITES.lookup  # the suite ``name``, or a ``ValueError`` listing the valid names


def run(
    name: str,
    *,
    out_dir: str | os.PathLike = "runs/bench",
    repeats: int = 15,
    budget: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run suite ``name``; writes ``<out_dir>/<name>.json`` and ``.md`` and returns the report.

    ``repeats`` applies to the timing suites, ``budget`` (seconds of training per run) to
    those with ``run_suite``."""
    from ._harness import run_cases

    suite = get(name)
    module = suite.load()
    if hasattr(module, "run_suite"):
        return module.run_suite(out_dir, budget=budget, **kwargs)
    if budget is not None:
        raise ValueError(f"suite {name!r} times steps; `budget` does not apply to it")
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        prepare()
    return run_cases(
        name,
        module.cases(),
        repeats=repeats,
        out_dir=out_dir,
        settings=getattr(module, "SETTINGS", None),
        **kwargs,
    )


register(
    "seeds",
    "nestax.benchmarks.seeds",
    "gradient step of seed-cos, seed-batchnorm (vs hand-written JAX, PyTorch) and seed-ude "
    "(vs hand-written diffrax)",
)
register(
    "reduction",
    "nestax.benchmarks.reduction",
    "Laplacian / biharmonic training steps with exact input-subspace reduction vs folx and "
    "Hutchinson at equal time",
)
register(
    "pinn",
    "nestax.benchmarks.pinn",
    "Adam step of burgers and poisson-2d, nestax vs DeepXDE (PyTorch backend)",
)
register(
    "ude",
    "nestax.benchmarks.ude",
    "lotka-volterra training step (± seed penalty) vs hand-written diffrax+optax and "
    "torch+torchdiffeq",
)
register(
    "operators",
    "nestax.benchmarks.operators",
    "value and training step of Laplacians, biharmonics, 4th and mixed partials vs jax.hessian, "
    "nested jvp, folx and jet",
)
register(
    "planner",
    "nestax.benchmarks.planner",
    "is method='auto' as fast as the best explicit method? first- and second-order shapes",
)
register(
    "optimizers",
    "nestax.benchmarks.optimizers",
    "error vs wall time of Adam → L-BFGS, Adam → Gauss–Newton (ENGD) and SOAP on "
    "poisson-smooth, poisson-2d, heat and burgers (about 25 min)",
)
