r"""Suite ``optimizers``: relative L2 error against wall-clock time for three optimizer schedules.

On four PINN examples — poisson-smooth, poisson-2d, heat and burgers — each schedule trains
the *same* network (the example's default architecture, the same initial weights from the same
seed) on the *same* collocation points (the example's default number, fixed: no resampling)
for a fixed budget of wall-clock seconds:

- ``adam-lbfgs``: Adam (1 000 steps at 1e-3), then L-BFGS (history 50, zoom line search);
- ``engd``: an Adam warm-up (200 steps at 1e-3), then Gauss–Newton on the residual form of the
  loss (:meth:`nestax.pinn.Problem.residuals`; energy natural gradient with
  Levenberg–Marquardt damping, initial λ = 1e-3, in sample space by the Woodbury identity when
  there are fewer residuals than weights);
- ``soap``: SOAP (:func:`nestax.soap`, learning rate 3e-3) for the whole budget.

The clock starts before :func:`nestax.fit` is called, so compilation counts; every
``every`` steps the callback of :func:`nestax.fit` evaluates the relative L2 error of the
trial function against the example's reference (its exact solution, or burgers' Cole–Hopf
solution on Raissi's 100 × 256 grid) when at least ``budget / readings`` seconds of training
have passed since the last reading; the time spent evaluating is taken off the clock. A run
stops at the first reading past its budget. The report gives, per problem and schedule, the
time at which the error first read at most 1e-4 and the error reached within the budget.

Where the errors come from is checked in the report: the same evaluation applied to the
example's exact solution (``exact``; poisson-smooth, poisson-2d, heat) gives ~0, to the
zero function gives 1, and for burgers to the initial data at t = 0 gives ~0 on that row.

Outputs: ``<out>/optimizers.json``, ``optimizers.md`` and ``optimizers.png`` (one panel per
problem, log error against seconds). ``nestax bench optimizers [--budget S]`` or
``python -m nestax.benchmarks.optimizers [--budget S] [--tiny]``; ``--tiny`` trains a tiny
network on a few points of poisson-smooth for a second per schedule (what the test runs).

Example:
    >>> from nestax.benchmarks import optimizers
    >>> sorted(optimizers.SCHEDULES), optimizers.TARGET
    (['adam-lbfgs', 'engd', 'soap'], 0.0001)
"""

from __future__ import annotations

import datetime
import inspect
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["BUDGETS", "SCHEDULES", "TARGET", "run_suite", "schedule", "setup"]

TARGET = 1e-4
#: seconds of training per schedule on each problem (the full run: about 25 minutes)
BUDGETS = {"poisson-smooth": 60.0, "poisson-2d": 120.0, "heat": 90.0, "burgers": 240.0}
PROBLEMS = tuple(BUDGETS)
SCHEDULES = {
    "adam-lbfgs": "Adam 1 000 (1e-3) → L-BFGS (history 50)",
    "engd": "Adam 200 (1e-3) → Gauss–Newton (λ₀ = 1e-3, adaptive)",
    "soap": "SOAP (3e-3)",
}
READINGS = 60  # error readings per run, at most about one every budget / READINGS seconds
EVERY = 5  # steps between the callbacks that may take a reading
FOREVER = 10_000_000  # the last stage's steps: the budget ends every run
TINY = {"n_interior": 32, "width": 8, "depth": 2}


def schedule(name: str, adam_steps: int | None = None) -> list:
    """The stages of schedule ``name`` (``SCHEDULES``); the last one runs until the budget."""
    import nestax as nx

    if name == "adam-lbfgs":
        a = 1000 if adam_steps is None else adam_steps
        return [nx.Stage("adam", a, learning_rate=1e-3), nx.Stage("lbfgs", FOREVER, memory_size=50)]
    if name == "engd":
        a = 200 if adam_steps is None else adam_steps
        return [
            nx.Stage("adam", a, learning_rate=1e-3),
            nx.Stage("gauss-newton", FOREVER, damping=1e-3),
        ]
    if name == "soap":
        return [nx.Stage("soap", FOREVER, learning_rate=3e-3)]
    raise ValueError(f"optimizers: unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}")


def _defaults(module: Any, *names: str) -> dict[str, Any]:
    """The example's own defaults of ``run`` (its network and number of points)."""
    params = inspect.signature(module.run).parameters
    return {n: params[n].default for n in names if n in params}


def setup(name: str, tiny: bool = False) -> dict[str, Any]:
    """``{"problem", "net", "points", "reference", "config", "checks"}`` for problem ``name``:
    the example's problem and network with its defaults (``tiny``: :data:`TINY`), the
    evaluation points and the reference values there, and the evaluation of known functions
    (see the module docstring)."""
    jax.config.update("jax_enable_x64", True)
    from nestax import pinn
    from nestax.examples import burgers, heat, poisson_2d, poisson_smooth

    modules = {
        "poisson-smooth": poisson_smooth,
        "poisson-2d": poisson_2d,
        "heat": heat,
        "burgers": burgers,
    }
    if name not in modules:
        raise ValueError(f"optimizers: unknown problem {name!r}; expected one of {PROBLEMS}")
    module = modules[name]
    cfg = _defaults(module, "n_interior", "n_boundary", "width", "depth")
    if tiny:
        cfg.update(TINY, **({"n_boundary": 8} if "n_boundary" in cfg else {}))
    if name == "heat":
        problem = heat.build(cfg["n_interior"], 0, cfg["n_boundary"])
    else:
        problem = module.build(cfg["n_interior"], 0)
    net = pinn.mlp(jax.random.key(0), 2, width=cfg["width"], depth=cfg["depth"])
    if name == "burgers":
        _, _, pts, ref = burgers.reference_grid()
        ref = ref.ravel()
    else:
        a, b = np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101), indexing="ij")
        pts = np.stack([a.ravel(), b.ravel()], 1)
        ref = np.asarray(jax.vmap(module.exact)(jnp.asarray(pts)))
    pts = jnp.asarray(pts)
    error = _error_fn(pts, ref)
    checks = {"zero_function": error(lambda x: jnp.zeros(())), "exact_solution": None}
    if hasattr(module, "exact"):
        checks["exact_solution"] = error(module.exact)
    else:  # burgers: the reference's t = 0 row against the initial data -sin(πx)
        t0 = np.asarray(pts[:, 0]) == 0.0
        init = -np.sin(np.pi * np.asarray(pts[t0, 1]))
        checks["initial_data_at_t0"] = pinn.relative_l2(ref[t0], init)
    import equinox as eqx

    cfg["n_weights"] = int(sum(x.size for x in jax.tree.leaves(eqx.filter(net, eqx.is_array))))
    return {
        "problem": problem,
        "net": net,
        "points": pts,
        "reference": ref,
        "config": cfg,
        "checks": checks,
        "error": error,
    }


def _error_fn(pts: jax.Array, ref: np.ndarray) -> Callable[[Callable], float]:
    """``error(u)``: the relative L2 error of the point function ``u`` on ``pts``."""
    from nestax import pinn

    def error(u: Callable) -> float:
        return pinn.relative_l2(np.asarray(jax.vmap(u)(pts)), ref)

    return error


def curve(setting: dict[str, Any], name: str, budget: float, tiny: bool = False) -> dict[str, Any]:
    """Train schedule ``name`` for ``budget`` seconds; the readings ``(seconds, step, error)``."""
    import equinox as eqx

    import nestax as nx

    problem = setting["problem"]
    stages = schedule(name, adam_steps=20 if tiny else None)
    second = any(s.name == "gauss-newton" for s in stages)
    loss = problem.residuals() if second else problem.loss()
    ref, pts = setting["reference"], setting["points"]
    predict = eqx.filter_jit(lambda p: jax.vmap(problem.trial(p))(pts))  # compiled once
    from nestax import pinn

    times: list[float] = []
    steps: list[int] = []
    errors: list[float] = []
    off = 0.0  # seconds spent evaluating, off the clock
    interval = budget / READINGS

    def read(k: int, params: Any, now: float) -> None:
        nonlocal off
        t = time.perf_counter()
        e = pinn.relative_l2(np.asarray(predict(params)), ref)
        off += time.perf_counter() - t
        times.append(now)
        steps.append(int(k))
        errors.append(e if math.isfinite(e) else float("inf"))

    def callback(k: int, params: Any, terms: dict[str, float]) -> bool:
        now = time.perf_counter() - t0 - off
        if not times or now - times[-1] >= interval or now >= budget:
            read(k, params, now)
        return now >= budget

    t0 = time.perf_counter()
    try:
        result = nx.fit(
            loss, setting["net"], stages, callback=callback, every=EVERY, progress=False
        )
        params, k, stopped = result.params, result.steps, result.stopped
    except nx.NonFiniteLossError as err:  # reported as the run's end, with its last good params
        params, k, stopped = err.params, err.step, f"non-finite {err.of} at step {err.step}"
    now = time.perf_counter() - t0 - off
    read(k, params, now)
    reached = next((t for t, e in zip(times, errors, strict=True) if e <= TARGET), None)
    return {
        "schedule": SCHEDULES[name],
        "stages": [repr(s) for s in stages],
        "seconds": times,
        "steps": steps,
        "errors": errors,
        "final_error": errors[-1],
        "best_error": min(errors),
        "seconds_to_target": reached,
        "stopped": stopped,
    }


def _environment() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cores_used": affinity,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [d.device_kind for d in jax.devices()],
    }


def run_suite(
    out_dir: str | os.PathLike = "runs/bench",
    problems: Sequence[str] | None = None,
    budget: float | None = None,
    tiny: bool = False,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run every schedule on every problem; write ``optimizers.json``, ``.md`` and ``.png``
    into ``out_dir`` and return the report. ``budget``: seconds per run (default
    :data:`BUDGETS`; ``tiny``: 1 s, poisson-smooth only, :data:`TINY` networks)."""
    if problems is None:
        problems = ("poisson-smooth",) if tiny else PROBLEMS
    if budget is not None and not budget > 0:
        raise ValueError(f"optimizers: argument `budget` must be > 0 seconds; got {budget!r}")
    report: dict[str, Any] = {
        "suite": "optimizers",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": {
            "target": TARGET,
            "budgets_s": {p: budget or (1.0 if tiny else BUDGETS[p]) for p in problems},
            "readings": READINGS,
            "every": EVERY,
            "tiny": tiny,
            "schedules": SCHEDULES,
            "dtype": "float64",
            "clock": "from before nx.fit (compilation included), error evaluations excluded",
        },
        "environment": _environment(),
        "problems": {},
    }
    for p in problems:
        setting = setup(p, tiny)
        row: dict[str, Any] = {"config": setting["config"], "checks": setting["checks"]}
        row["runs"] = {}
        for s in SCHEDULES:
            seconds = report["settings"]["budgets_s"][p]
            echo(f"[optimizers] {p}: {s} for {seconds:g} s ...")
            row["runs"][s] = c = curve(setting, s, seconds, tiny)
            reached = c["seconds_to_target"]
            echo(
                f"[optimizers] {p}: {s}: error {c['final_error']:.2e} after {c['steps'][-1]} "
                f"steps; 1e-4 {'not reached' if reached is None else f'at {reached:.1f} s'}"
            )
        report["problems"][p] = row
    report["environment"]["load_average_after"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "optimizers.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown_table(report)
    (out / "optimizers.md").write_text(table)
    plot(report, out / "optimizers.png")
    echo(table)
    echo(f"wrote {out / 'optimizers.json'}, {out / 'optimizers.md'}, {out / 'optimizers.png'}")
    return report


def _machine(env: dict[str, Any]) -> str:
    cores = env.get("cores_used")
    return (
        f"{env['cpu']}, {cores if cores is not None else env['cpu_count']} of "
        f"{env['cpu_count']} cores used, jax {env['jax']} ({env['jax_backend']})"
    )


def markdown_table(report: dict[str, Any]) -> str:
    """The readable version of the report: time to 1e-4 and the error within the budget."""
    env, settings = report["environment"], report["settings"]
    names = list(settings["schedules"])
    lines = [
        "# Benchmark suite `optimizers`: time to accuracy",
        "",
        f"{report['created']} · {_machine(env)} · load average "
        f"{', '.join(f'{v:.1f}' for v in env.get('load_average') or [])} before",
        "",
        f"Relative L2 error against the reference; seconds from the start of `nx.fit` "
        f"(compilation included, evaluation excluded). Cell: time to reach "
        f"{settings['target']:.0e} / error reached within the budget.",
        "",
        "| problem (points, weights, budget) | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for p, row in report["problems"].items():
        cfg = row["config"]
        cells = []
        for s in names:
            c = row["runs"][s]
            reached = c["seconds_to_target"]
            cells.append(
                f"{'not reached' if reached is None else f'{reached:.1f} s'} / "
                f"{c['final_error']:.1e}"
            )
        lines.append(
            f"| {p} ({cfg['n_interior']}, {cfg['n_weights']}, "
            f"{settings['budgets_s'][p]:g} s) | " + " | ".join(cells) + " |"
        )
    lines.append("")
    lines.extend(f"- **{s}**: {settings['schedules'][s]}" for s in names)
    lines.append(
        "- same network (tanh MLP of the example's size), initial weights, points (fixed, "
        "no resampling) and seed for every schedule; float64"
    )
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """One panel per problem: log error against seconds, one line per schedule."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    problems = report["problems"]
    n = len(problems)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.5 * cols, 4.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (p, row) in zip(axes, problems.items(), strict=False):
        for s, c in row["runs"].items():
            ax.semilogy(c["seconds"], c["errors"], ".-", ms=3, label=s)
        ax.axhline(report["settings"]["target"], color="gray", ls=":", lw=1)
        cfg = row["config"]
        ax.set_title(f"{p} ({cfg['n_interior']} points, {cfg['n_weights']} weights)")
        ax.set_xlabel("seconds (compilation included)")
        ax.set_ylabel("relative L2 error")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"optimizers: {_machine(report['environment'])}", fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench", help="folder for the report")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated names")
    parser.add_argument("--budget", type=float, default=None, help="seconds per run")
    parser.add_argument("--tiny", action="store_true", help="a tiny network, 1 s per run")
    args = parser.parse_args(argv)
    problems = tuple(args.problems.split(",")) if not args.tiny else None
    run_suite(args.out, problems, args.budget, args.tiny)


if __name__ == "__main__":
    main()
