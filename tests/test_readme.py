"""Every Python block of README.md (and of the docs' front page) runs as written, each in a
fresh interpreter.

A block that starts with ``>>>`` is a doctest: its printed output must match (``...`` elides);
any other block is a script that must exit cleanly. Nothing is shared between blocks, so each
one must define what it uses — as a reader who copies one block would need.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def _blocks(language: str, path: Path = README) -> list[tuple[int, str]]:
    text = path.read_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == language
    ]


PYTHON_BLOCKS = [("README.md", n, code) for n, code in _blocks("python")] + [
    ("docs/index.md", n, code) for n, code in _blocks("python", ROOT / "docs" / "index.md")
]


def test_readme_has_python_blocks():
    assert sum(name == "README.md" for name, _, _ in PYTHON_BLOCKS) >= 5


@pytest.mark.parametrize(
    "name, line, code", PYTHON_BLOCKS, ids=[f"{name}:{n}" for name, n, _ in PYTHON_BLOCKS]
)
def test_readme_python_block_runs(name, line, code, tmp_path):
    if code.lstrip().startswith(">>>"):
        path = tmp_path / "block.txt"
        command = [
            sys.executable,
            "-m",
            "doctest",
            "-o",
            "ELLIPSIS",
            "-o",
            "NORMALIZE_WHITESPACE",
            str(path),
        ]
    else:
        path = tmp_path / "block.py"
        command = [sys.executable, str(path)]
    path.write_text(code)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"{name} block at line {line} failed:\n{run.stdout}\n{run.stderr}"


def test_quickstart_is_two_commands():
    (_, quickstart), *_ = _blocks("bash")
    commands = [line.split("#")[0].strip() for line in quickstart.splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README links at least the architecture page"
    missing = [link for link in local if not (README.parent / link).exists()]
    assert not missing, f"README.md links files that do not exist: {missing}"
