"""Benchmark harness: warm-up, interleaved repeats, medians, ratios, JSON and a markdown table.

Protocol, for every case of a suite:

1. Each contender is built (``make()`` returns a zero-argument ``step``) and called a few times,
   so JIT compilation and caches are out of the way. The first call's time is reported as
   ``compile_s``. A contender whose required package is not importable, or that fails, is
   skipped with a note.
2. Each contender gets a call count ``number`` so that one sample lasts about ``sample_s``.
3. ``repeats`` rounds: in each round every contender takes one sample (``number`` calls, each
   waited for: ``block_until_ready`` for JAX, ``torch.cuda.synchronize`` for PyTorch on a
   GPU), and the order of the contenders rotates from round to round, so slow drifts of the
   machine hit all of them alike.
4. Per contender: median, interquartile range and minimum of the per-call times, and the
   ratio to the case's reference contender (for the suites here ``nestax``; below 1 means
   nestax takes less time than that peer): the median over rounds of
   ``time(reference) / time(this)`` within the same round. Pairing samples taken a fraction of
   a second apart cancels most of the machine's drift; ``ratio_of_medians`` is kept too.

Results go to ``<out>/<suite>.json`` and ``<out>/<suite>.md``; the table is also printed.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["Case", "Contender", "run_cases", "markdown_table"]


@dataclasses.dataclass(frozen=True)
class Contender:
    """One way of computing a case.

    ``make()`` builds everything (networks, data, jitted functions) and returns ``step``, a
    zero-argument callable doing one unit of work and returning its outputs. ``framework``
    says how to wait for them (``"jax"``: ``block_until_ready``; ``"torch"``: done on the
    CPU, ``torch.cuda.synchronize`` on a GPU). ``requires`` lists importable module names;
    if one is missing the contender is skipped with a note.
    """

    name: str
    make: Callable[[], Callable[[], Any]]
    framework: str = "jax"
    requires: tuple[str, ...] = ()
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Case:
    """Contenders that compute the same thing; ratios are taken to ``reference``."""

    name: str
    description: str
    contenders: Sequence[Contender]
    reference: str = "nestax"


def _block(out: Any, framework: str) -> None:
    if framework == "jax":
        jax.block_until_ready(out)
    elif framework == "torch":
        import torch

        if torch.cuda.is_available():  # eager CUDA kernels run behind the host
            torch.cuda.synchronize()


def _missing(requires: Sequence[str]) -> list[str]:
    return [m for m in requires if importlib.util.find_spec(m) is None]


def run_cases(
    suite: str,
    cases: Sequence[Case],
    *,
    repeats: int = 15,
    sample_s: float = 0.05,
    warmup: int = 3,
    out_dir: str | os.PathLike = "runs/bench",
    settings: dict[str, Any] | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Time every case, write ``<out_dir>/<suite>.json`` and ``.md``, print the table.

    Returns the dict written to the JSON file.
    """
    if repeats < 1:
        raise ValueError(f"run_cases: argument `repeats` must be >= 1; got {repeats}")
    report: dict[str, Any] = {
        "suite": suite,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": {},
        "settings": {
            "repeats": repeats,
            "sample_s": sample_s,
            "warmup": warmup,
            **(settings or {}),
        },
        "cases": [],
    }
    for case in cases:
        echo(f"[{suite}] {case.name}: warming up {len(case.contenders)} contenders...")
        report["cases"].append(_run_case(case, repeats, sample_s, warmup))
    report["environment"] = _environment()  # after the runs: contenders may set threads
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{suite}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown_table(report)
    (out / f"{suite}.md").write_text(table)
    echo(table)
    echo(f"wrote {out / (suite + '.json')} and {out / (suite + '.md')}")
    return report


def _run_case(case: Case, repeats: int, sample_s: float, warmup: int) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    live: list[tuple[Contender, Callable[[], Any], int]] = []
    for c in case.contenders:
        row: dict[str, Any] = {"name": c.name, "framework": c.framework, "note": c.note}
        rows[c.name] = row
        missing = _missing(c.requires)
        if missing:
            row.update(status="skipped", note=f"not installed: {', '.join(missing)}")
            continue
        try:
            step = c.make()
            t0 = time.perf_counter()
            _block(step(), c.framework)
            row["compile_s"] = time.perf_counter() - t0
            for _ in range(warmup):
                _block(step(), c.framework)
            t0 = time.perf_counter()
            _block(step(), c.framework)
            once = max(time.perf_counter() - t0, 1e-7)
        except Exception as err:  # a failing peer is reported, not fatal
            row.update(status="failed", note=f"{type(err).__name__}: {err}"[:300])
            continue
        row.update(status="ok", number=max(1, math.ceil(sample_s / once)), samples=[])
        live.append((c, step, row["number"]))

    for r in range(repeats):
        shift = r % max(1, len(live))
        for c, step, number in live[shift:] + live[:shift]:
            t0 = time.perf_counter()
            for _ in range(number):
                _block(step(), c.framework)
            rows[c.name]["samples"].append((time.perf_counter() - t0) / number)

    ref = rows.get(case.reference, {})
    ref_ok = ref.get("status") == "ok"
    ref_samples = np.asarray(ref["samples"]) if ref_ok else None
    for row in rows.values():
        if row.get("status") != "ok":
            continue
        s = np.asarray(row["samples"])
        q25, med, q75 = np.percentile(s, [25, 50, 75])
        row.update(
            median_s=float(med),
            q25_s=float(q25),
            q75_s=float(q75),
            iqr_s=float(q75 - q25),
            min_s=float(s.min()),
            repeats=len(s),
            samples=[float(v) for v in s],
        )
        if ref_samples is None:
            row["ratio_reference_over_this"] = row["ratio_of_medians"] = None
        else:
            row["ratio_reference_over_this"] = float(np.median(ref_samples / s))
            row["ratio_of_medians"] = float(np.median(ref_samples) / med)
    return {
        "name": case.name,
        "description": case.description,
        "reference": case.reference,
        "results": list(rows.values()),
    }


def _environment() -> dict[str, Any]:
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
    }
    if importlib.util.find_spec("torch") is not None:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            env["torch_device"] = torch.cuda.get_device_name()
    return env


def _fmt_time(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def markdown_table(report: dict[str, Any]) -> str:
    """The readable version of a suite's JSON report."""
    env = report["environment"]
    refs = {case["reference"] for case in report["cases"]}
    ref = refs.pop() if len(refs) == 1 else "reference"
    lines = [
        f"# Benchmark suite `{report['suite']}`",
        "",
        f"{report['created']} · {env['machine']} · {env['cpu_count']} CPUs · jax {env['jax']} "
        f"({env['jax_backend']})"
        + (f" · torch {env['torch']} ({env['torch_threads']} threads)" if "torch" in env else ""),
        "",
        f"Median of {report['settings']['repeats']} interleaved repeats per contender, after "
        f"warm-up; IQR = interquartile range; best = fastest sample. `{ref} ÷ this` = median over "
        f"rounds of (time of {ref} ÷ time of this contender) in the same round: below 1 means "
        f"{ref} takes less time.",
        "",
        f"| case | contender | median | IQR | best | {ref} ÷ this | first call | note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for case in report["cases"]:
        for row in case["results"]:
            note = row.get("note", "").replace("|", "/")
            if row.get("status") == "ok":
                ratio = row["ratio_reference_over_this"]
                lines.append(
                    f"| {case['name']} | {row['name']} | {_fmt_time(row['median_s'])} | "
                    f"{_fmt_time(row['iqr_s'])} | {_fmt_time(row['min_s'])} | "
                    f"{'—' if ratio is None else f'{ratio:.3f}'} | "
                    f"{_fmt_time(row['compile_s'])} | {note} |"
                )
            else:
                dashes = " — |" * 5
                lines.append(
                    f"| {case['name']} | {row['name']} |{dashes} {row['status']}: {note} |"
                )
    lines.append("")
    for case in report["cases"]:
        lines.append(f"- **{case['name']}**: {case['description']}")
    settings = {
        k: v for k, v in report["settings"].items() if k not in ("repeats", "sample_s", "warmup")
    }
    if settings:
        lines.append("")
        lines.extend(f"- {k}: {v}" for k, v in settings.items())
    return "\n".join(lines) + "\n"
