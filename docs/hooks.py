"""mkdocs hook: every ``docs/tutorials/*.py`` runs while the site builds.

Each script runs in a fresh interpreter (``docs/_run_tutorial.py``), cell by cell; its page,
``tutorials/<name>.md``, is generated from the cells: prose, code, what the code printed and
the figures it saved. A tutorial that raises fails the build. ``NESTAX_DOCS_JOBS`` (default 2)
tutorials run at a time.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.tutorials")
_DOCS = Path(__file__).parent
_RUNNER = _DOCS / "_run_tutorial.py"
_OUT = Path(tempfile.mkdtemp(prefix="nestax_tutorials_"))
_JOBS = int(os.environ.get("NESTAX_DOCS_JOBS", "2"))


def _run(script: Path) -> tuple[Path, dict]:
    out = _OUT / script.stem
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
    }
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(_RUNNER), str(script), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        raise PluginError(f"tutorial {script.name} failed:\n{run.stdout}\n{run.stderr}")
    record = json.loads((out / "cells.json").read_text())
    record["wall"] = time.perf_counter() - start
    return out, record


def _fence(text: str, language: str = "") -> list[str]:
    return [f"```{language}", text.rstrip("\n"), "```", ""]


def _page(script: Path, record: dict) -> str:
    lines = [record["intro"], ""]
    lines += [
        '!!! info "Executed when this site was built"',
        f"    The script [`{script.name}`]({script.name}) ran in {record['wall']:.1f} s "
        f"(its cells {record['seconds']:.1f} s, the rest is starting Python and JAX) on "
        f"{os.cpu_count()} CPU core(s) at a load average of {os.getloadavg()[0]:.1f}, "
        f"{_JOBS} tutorial(s) at a time; what follows each code cell is what it printed and "
        "drew.",
        "",
    ]
    for cell in record["cells"]:
        if cell["prose"]:
            lines += [cell["prose"], ""]
        if cell["code"]:
            lines += _fence(cell["code"], "python")
        if cell["stdout"].strip():
            lines += _fence(cell["stdout"], "text")
        for figure in cell["figures"]:
            lines += [f"![{figure}]({script.stem}/{figure})", ""]
    return "\n".join(lines)


def on_files(files, config):
    scripts = sorted((_DOCS / "tutorials").glob("*.py"))
    with ThreadPoolExecutor(max_workers=_JOBS) as pool:
        results = list(pool.map(_run, scripts))
    for script, (out, record) in zip(scripts, results, strict=True):
        log.info("tutorial %s: %.1f s", script.name, record["wall"])
        files.append(
            File.generated(config, f"tutorials/{script.stem}.md", content=_page(script, record))
        )
        for cell in record["cells"]:
            for figure in cell["figures"]:
                files.append(
                    File.generated(
                        config, f"tutorials/{script.stem}/{figure}", abs_src_path=str(out / figure)
                    )
                )
    return files
