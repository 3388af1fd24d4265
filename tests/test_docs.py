"""The documentation: the docstring conversion, API pages that cover the public names, and a
strict build of the site with every tutorial executed."""

import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import nestax
import nestax.pinn
import nestax.rules
import nestax.ude

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_spec = importlib.util.spec_from_file_location("_docs_rst", DOCS / "_rst.py")


def _converter():
    pytest.importorskip("griffe", reason="the docs extra is not installed (pip install .[docs])")
    module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(module)
    return module.rst_to_markdown


@pytest.mark.parametrize(
    "rst, markdown",
    [
        (":math:`\\partial^\\alpha f`", "$\\partial^\\alpha f$"),
        ("the ``method`` argument", "the `method` argument"),
        (
            "see :func:`nestax.fit` and :class:`~nestax.Stage`",
            "see `nestax.fit` and `nestax.Stage`",
        ),
        ("`Jet`\\ s", "`Jet`s"),
        ("a role over :math:`a +\n    b` two lines", "a role over $a +\n    b$ two lines"),
        ("Example:\n    >>> f(``x``)\n    1", "Examples:\n    >>> f(``x``)\n    1"),
    ],
)
def test_rst_inline_and_doctests(rst, markdown):
    assert _converter()(rst) == markdown


def test_rst_blocks():
    text = "Intro:\n\n.. math::  a = b\n\nThe table::\n\n    x  y\n\nend"
    assert _converter()(text).split() == [
        "Intro:",
        "$$",
        "a",
        "=",
        "b",
        "$$",
        "The",
        "table:",
        "```text",
        "x",
        "y",
        "```",
        "end",
    ]


def test_every_public_name_has_an_api_entry():
    documented = set(
        re.findall(
            r"^::: ([\w.]+)", "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md")), re.M
        )
    )
    missing = []
    for module in (nestax, nestax.pinn, nestax.ude, nestax.rules):
        for name in dir(module):
            if name.startswith("_") or isinstance(getattr(module, name), types.ModuleType):
                continue
            if f"{module.__name__}.{name}" not in documented:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names without an API entry in docs/api/: {missing}"


def test_site_builds_strictly_with_the_tutorials_run(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install .[docs])")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # every tutorial ran: its page holds what it printed, and the figures it saved
    poisson = (site / "tutorials" / "poisson_1d" / "index.html").read_text()
    assert "rel_l2_error" in poisson and "Executed when this site was built" in poisson
    for figure in ["poisson_1d/solution.png", "seeds/seed_cos.png", "ude/ude.png"]:
        assert (site / "tutorials" / figure).stat().st_size > 1000, figure
    high = (site / "tutorials" / "high_dimensions" / "index.html").read_text()
    assert "reduced :" in high and "predicted" in high  # its printed comparisons
    # the docstrings' maths reached MathJax, and no reStructuredText role was left raw
    api = (site / "api" / "nestax" / "index.html").read_text()
    assert api.count('class="arithmatex"') > 10
    for page in (site / "api").glob("*/index.html"):
        assert ":math:" not in page.read_text(), page
