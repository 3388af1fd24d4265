"""The import-time JAX version check, and that it agrees with pyproject.toml."""

import re
from pathlib import Path

import jax
import pytest

from nestax import _jax_version


@pytest.mark.parametrize("version", ["0.4.35", "0.9.2", "0.9.0.1"])
def test_too_old_jax_raises_naming_both_versions(version):
    with pytest.raises(ImportError) as error:
        _jax_version.check_jax_version(version)
    assert version in str(error.value) and _jax_version.MINIMUM_JAX in str(error.value)


@pytest.mark.parametrize("version", ["0.10.0", "0.10.2", "0.11.2", "0.10.1.dev20261201", "1.0"])
def test_new_enough_jax_passes(version):
    _jax_version.check_jax_version(version)


def test_installed_jax_passes():
    _jax_version.check_jax_version(jax.__version__)


def test_minimum_matches_pyproject():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    bounds = dict(re.findall(r'"(jax|jaxlib)>=([0-9.]+)', text))
    assert bounds == {"jax": _jax_version.MINIMUM_JAX, "jaxlib": _jax_version.MINIMUM_JAX}
