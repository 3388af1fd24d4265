"""Runs one tutorial script cell by cell and records what each cell printed and drew.

``python docs/_run_tutorial.py SCRIPT OUT_DIR``: the script is split at its ``# %%`` lines;
each cell runs in one shared namespace, in ``OUT_DIR`` as the working directory (figures the
script saves land there); ``OUT_DIR/cells.json`` lists, per cell, its prose (the leading
comment lines), its code, its stdout and the new image files. An exception fails the run.
"""

import ast
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path


def cells(source: str) -> tuple[str, list[dict]]:
    tree = ast.parse(source)
    intro = ast.get_docstring(tree) or ""
    if intro:  # drop the module docstring from the first cell
        source = "\n".join(source.splitlines()[tree.body[0].end_lineno :])
    out = []
    first, *rest = ("\n" + source).split("\n# %%")
    for n, chunk in enumerate([first, *rest]):
        lines = chunk.split("\n")[1:]  # the rest of a `# %%` line is a cell title: dropped
        prose = []
        while lines and (lines[0].startswith("#") or not lines[0].strip() and not prose):
            if lines[0].strip():
                prose.append(lines[0][2:] if lines[0].startswith("# ") else lines[0][1:])
            else:
                prose.append("")
            lines.pop(0)
        cell = {"prose": "\n".join(prose).strip(), "code": "\n".join(lines).strip()}
        if n or cell["prose"] or cell["code"]:
            out.append(cell)
    return intro, out


def main(script: str, out_dir: str) -> None:
    path, out = Path(script).resolve(), Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    intro, parts = cells(path.read_text())
    os.chdir(out)
    namespace = {"__name__": "__main__", "__file__": str(path)}
    start = time.perf_counter()
    for cell in parts:
        before = set(p.name for p in out.glob("*.png"))
        stdout, cell_start = io.StringIO(), time.perf_counter()
        with contextlib.redirect_stdout(stdout):
            exec(compile(cell["code"] or "pass", str(path), "exec"), namespace)
        cell["stdout"] = stdout.getvalue()
        cell["seconds"] = time.perf_counter() - cell_start
        cell["figures"] = sorted(set(p.name for p in out.glob("*.png")) - before)
    seconds = time.perf_counter() - start
    (out / "cells.json").write_text(
        json.dumps({"intro": intro, "cells": parts, "seconds": seconds})
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
