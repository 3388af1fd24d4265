"""Isolates each doctest of ``src/nestax`` from JAX's global configuration.

Docstring examples are written for a fresh session (float32, rank promotion allowed), yet
some of them switch float64 on, and the test suite's ``tests/conftest.py`` switches float64 on
for the whole process. Each doctest therefore starts from JAX's defaults and the settings it
found are put back afterwards, so no example can change what another one prints.
"""

from pathlib import Path

import jax
import pytest
from _pytest.doctest import DoctestItem, DoctestModule

_DEFAULTS = {"jax_enable_x64": False, "jax_numpy_rank_promotion": "allow"}


@pytest.fixture(autouse=True)
def _fresh_jax_config_for_doctests(request):
    if not isinstance(request.node, DoctestItem):
        yield
        return
    saved = {name: getattr(jax.config, name) for name in _DEFAULTS}
    for name, value in _DEFAULTS.items():
        jax.config.update(name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)


_PACKAGE = Path(__file__).parent / "src" / "nestax"


def pytest_collect_file(file_path, parent):
    """Collects the docstring examples of ``src/nestax`` as tests (``testpaths`` lists it), as
    ``--doctest-modules`` would, but for the package only: the helper modules of ``tests/``
    run code on import and are no place for doctests."""
    if parent.config.option.doctestmodules or file_path.suffix != ".py":
        return None
    if _PACKAGE in file_path.parents and file_path.name != "__main__.py":
        return DoctestModule.from_parent(parent, path=file_path)
    return None
