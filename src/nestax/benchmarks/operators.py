r"""Suite ``operators``: linear differential operators of a network, nestax against its peers.

For each operator below, on a tanh MLP (3 hidden layers of 128, scalar output, float32) and a
batch of 256 points, two cases are timed:

- ``value``: ``jit(vmap(L u))`` -- the operator at every point of the batch;
- ``step``: ``jit(grad(params -> mean((L u)(x_b)^2)))`` -- one training gradient.

The operators: the Laplacian in d = 2, 16, 64, 256; the biharmonic :math:`\Delta^2` in d = 2, 5;
:math:`\partial^4 u/\partial x^4` in 1-D; :math:`u_{xxy}` in 2-D; the heat operator
:math:`u_t - \nu(u_{xx} + u_{yy})` in 3-D (:math:`\nu = 0.1`).

Contenders (all in one process, interleaved by the harness; the reference is ``nestax auto``):

- ``nestax auto`` and ``nestax <method>`` for every candidate ``auto`` considered under
  ``vmap`` over the batch (``nestax.explain``'s costs: the four nestings of first-order AD for
  the Laplacian, ``nested`` / ``taylor`` / ``collapsed`` for every operator, ``reduced`` where
  it applies, ``forward`` / ``reverse`` for ``derivative``). Not timed, with the reason in the
  case's description: ``reverse-over-forward`` and ``reverse-over-reverse`` from d = 64 (model
  cost 40-60 times the best; a step takes minutes), ``forward-over-reverse`` and ``nested`` at
  d = 256 (the jax.hessian peer's algorithm, timed there; about 6 s a step), and
  hessian-of-hessian at d = 5 (625 fourth derivatives: 57 s and 7.7 GiB for one step).
- ``jax.hessian``: what a JAX user writes -- ``trace(jax.hessian(u))``;
  ``einsum('iijj', hessian(hessian(u)))`` for the biharmonic; ``grad(grad(grad(grad(u))))``
  for the 1-D fourth derivative; ``jax.grad`` of a Hessian entry for :math:`u_{xxy}`.
- ``nested jvp``: one chain of ``|alpha|`` ``jax.jvp`` calls per multi-index ``alpha`` of the
  operator, vmapped over the multi-indices of the same shape (as written by hand).
- ``folx``: ``folx.forward_laplacian`` (the forward Laplacian); folx-of-folx for the biharmonic
  (and for the 1-D fourth derivative, the biharmonic in 1-D); for the heat operator the spatial
  forward Laplacian plus one ``jax.jvp`` for ``u_t``. Skipped when folx is not installed; not
  applicable to :math:`u_{xxy}`.
- ``jet``: ``jax.experimental.jet`` along the same directions and weights nestax's Taylor
  strategies use (unit vectors for the Laplacian; the ``d^2``-direction polarization for the
  biharmonic and mixed partials) -- the same algorithm on jet's engine.

Peak memory: ``memory_analysis()`` of the compiled executable, argument + output + temporary
bytes minus aliased bytes (deterministic; XLA's buffer assignment, not the process's RSS). It
is in each row's note with the compile time (the executables are compiled ahead of time, so the
harness's "first call" column is a plain call).

Run: ``nestax bench operators`` (the harness table; every case gets ``--repeats`` rounds), or
``python -m nestax.benchmarks.operators [--repeats 9] [--heavy-repeats 7] [--out DIR]``, which
gives the cases in `HEAVY` fewer rounds (about 5.5 minutes on this machine when idle) and also
writes ``operators_summary.md``: per-point times, peak memory, the issue-3 Done-when figures and
``auto`` against the best nestax method. ``--fingerprints FILE`` times nothing: it writes the
`fingerprint` of every contender's optimized program, so two versions of nestax can be shown to
compile every case alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import nestax as nx

from ._harness import Case, Contender, markdown_table, run_cases
from ._peers import PointOp, peers_for

WIDTH, DEPTH, BATCH, NU = 128, 3, 256, 0.1
HESSIAN_OF_HESSIAN_D5 = (
    "hessian of hessian at d=5 computes all 625 fourth derivatives: measured once, one step "
    "took 57 s and 7.7 GiB (compiled peak) here, so it is not repeated"
)
REFERENCE = "nestax auto"
SETTINGS = {
    "network": f"tanh MLP, {DEPTH} hidden layers of {WIDTH}, scalar output",
    "batch": BATCH,
    "dtype": "float32",
    "value": "jit(vmap(operator)) over the batch",
    "step": "jit(grad over the parameters of the mean squared operator over the batch)",
    "memory": "compiled.memory_analysis(): argument + output + temp - alias bytes",
    "times": f"per call, i.e. per batch of {BATCH} points (operators_summary.md: per point)",
}

# ----------------------------------------------------------------------------- network


def mlp(d_in: int, seed: int = 0) -> tuple[Any, Callable[[Any, jax.Array], jax.Array]]:
    """Parameters and ``net(params, x) -> scalar`` of the benchmark MLP on ``R^d_in``."""
    sizes = [d_in, *([WIDTH] * DEPTH), 1]
    keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
    params = [
        (
            jax.random.normal(k, (a, b), jnp.float32) / jnp.sqrt(jnp.float32(a)),
            jnp.zeros((b,), jnp.float32),
        )
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]

    def net(p: Any, x: jax.Array) -> jax.Array:
        h = x
        for w, b in p[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = p[-1]
        return (h @ w + b)[0]

    return params, net


# ----------------------------------------------------------------------------- problems


@dataclasses.dataclass(frozen=True)
class Problem:
    """An operator at one input dimension: how each contender computes it at one point.

    ``d = 0`` means a function of a scalar ``t`` (shape ``()``). Beside ``auto``, every method
    that ``auto`` considered (the candidates of ``nestax.explain``) is timed, except those in
    ``exclude``; ``peers`` map a contender name to a point-operator builder
    ``u -> (x -> L u(x))`` and to the modules it needs; ``skip`` names peers not timed in a mode
    (``{mode: {name: reason}}``, the reason goes into the case's description).
    """

    name: str
    d: int
    nestax: Callable[..., PointOp]  # method -> point-operator builder
    explain: Callable[[Callable[[jax.Array], jax.Array], jax.Array], nx.Plan]
    peers: dict[str, tuple[PointOp, tuple[str, ...]]]
    description: str
    exclude: dict[str, str] = dataclasses.field(default_factory=dict)
    skip: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def _laplacian(d: int) -> Problem:
    exclude = {}
    if d >= 64:
        why = "model cost 40-60 times the best; one step takes minutes here"
        exclude.update(dict.fromkeys(("reverse-over-forward", "reverse-over-reverse"), why))
    if d >= 256:
        why = (
            "the forward-over-reverse Hessian, the algorithm of the jax.hessian peer (timed); "
            "3.5 times the best in the model, about 6 s per step here"
        )
        exclude.update(dict.fromkeys(("forward-over-reverse", "nested"), why))
    peers = peers_for("laplacian", nx.Laplacian().terms(d), d)
    return Problem(
        f"laplacian d={d}",
        d,
        lambda method: lambda u: nx.laplacian(u, method=method),
        lambda u, x: nx.explain(nx.laplacian, u, x),
        peers,
        f"Laplacian of u: R^{d} -> R",
        exclude,
    )


def _biharmonic(d: int) -> Problem:
    op = nx.Biharmonic()
    terms = op.terms(d)
    skip = {}
    if d >= 5:
        why = HESSIAN_OF_HESSIAN_D5
        skip = {"value": {"jax.hessian": why}, "step": {"jax.hessian": why}}
    peers = peers_for("biharmonic", terms, d)
    return Problem(
        f"biharmonic d={d}",
        d,
        lambda method: lambda u: nx.apply(op, u, method=method),
        lambda u, x: nx.explain(op, u, x),
        peers,
        f"biharmonic Δ²u of u: R^{d} -> R (jax.hessian: hessian of hessian; folx: folx of folx)",
        skip=skip,
    )


def _fourth_1d() -> Problem:
    peers = peers_for("d4/dt4", {(4,): 1.0}, 0)
    return Problem(
        "d4/dx4 1-D",
        0,
        lambda method: lambda u: nx.derivative(u, order=4, method=method),
        lambda u, t: nx.explain(nx.derivative, u, t, order=4),
        peers,
        "fourth derivative of u: R -> R (jax.hessian: jax.grad nested 4 times; folx: folx of "
        "folx, the biharmonic in 1-D)",
    )


def _uxxy() -> Problem:
    alpha = (2, 1)
    peers = peers_for("u_xxy", {alpha: 1.0}, 2)
    return Problem(
        "u_xxy 2-D",
        2,
        lambda method: lambda u: nx.partial(u, alpha, method=method),
        lambda u, x: nx.explain(nx.partial, u, x, alpha=alpha),
        peers,
        "mixed partial u_xxy of u: R^2 -> R (jax.hessian: jax.grad of the Hessian entry; "
        "folx does not apply)",
    )


def _heat() -> Problem:
    op = nx.Partial((1, 0, 0)) - NU * (nx.Partial((0, 2, 0)) + nx.Partial((0, 0, 2)))
    peers = peers_for("heat", op.terms(3), 3)
    return Problem(
        "heat 3-D",
        3,
        lambda method: lambda u: nx.apply(op, u, method=method),
        lambda u, x: nx.explain(op, u, x),
        peers,
        f"u_t - {NU}(u_xx + u_yy) of u: R^3 -> R (jax.hessian: jax.grad and jax.hessian; folx: "
        "spatial forward Laplacian plus a jvp for u_t)",
    )


def problems() -> list[Problem]:
    """Every operator of the suite, in the order of the report."""
    return [
        *(_laplacian(d) for d in (2, 16, 64, 256)),
        *(_biharmonic(d) for d in (2, 5)),
        _fourth_1d(),
        _uxxy(),
        _heat(),
    ]


# ----------------------------------------------------------------------------- jobs


@dataclasses.dataclass
class Compiled:
    """An ahead-of-time compiled job: the zero-argument step, compile time, peak bytes."""

    step: Callable[[], Any]
    compile_s: float
    peak_bytes: int
    fingerprint: str = ""  # `fingerprint` of the optimized HLO


def compile_job(problem: Problem, build: PointOp, mode: str) -> Compiled:
    """Compile ``value`` (``vmap`` of the operator) or ``step`` (its training gradient)."""
    params, net = mlp(max(problem.d, 1))
    shape = (BATCH,) if problem.d == 0 else (BATCH, problem.d)
    xs = jax.random.normal(jax.random.key(1), shape, jnp.float32)

    def point_fn(p):
        return (lambda t: net(p, t[None])) if problem.d == 0 else (lambda x: net(p, x))

    def values(p, xs):
        return jax.vmap(build(point_fn(p)))(xs)

    if mode == "value":
        fn = values
    elif mode == "step":
        fn = jax.grad(lambda p, xs: jnp.mean(values(p, xs) ** 2))
    else:
        raise ValueError(f"compile_job: argument `mode` must be 'value' or 'step'; got {mode!r}")
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(params, xs).compile()
    compile_s = time.perf_counter() - t0
    peak = -1
    try:
        m = compiled.memory_analysis()
        peak = int(
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            + m.temp_size_in_bytes
            - m.alias_size_in_bytes
        )
    except Exception:  # some backends have no memory analysis  # noqa: S110
        pass
    return Compiled(lambda: compiled(params, xs), compile_s, peak, fingerprint(compiled.as_text()))


#: The parts of an optimized HLO text that say where it came from, not what it computes: the
#: source-location tables (file and function names, stack frames) and the references to them.
_SOURCE_TABLES = re.compile(r"^(FileNames|FunctionNames|FileLocations|StackFrames)$|^\d+ ")


def fingerprint(hlo: str) -> str:
    """A hash of what an optimized HLO text computes: without its source locations and with
    its instruction names numbered in order of appearance (XLA's numbering depends on what the
    process compiled before), so that it is comparable across processes and versions."""
    hlo = re.sub(r"metadata=\{[^}]*\}|stack_frame_id=\d+", "", hlo)
    lines = (line for line in hlo.splitlines() if not line.startswith("HloModule"))
    hlo = "\n".join(line for line in lines if not _SOURCE_TABLES.match(line))
    names: dict[str, str] = {}
    hlo = re.sub(
        r"%?[A-Za-z_][\w\-]*(\.\d+)+", lambda m: names.setdefault(m[0], f"v{len(names)}"), hlo
    )
    return hashlib.sha256(hlo.encode()).hexdigest()[:16]


def _mib(n: int) -> str:
    return "n/a" if n < 0 else f"{n / 2**20:.1f} MiB"


def _failing(err: Exception) -> Callable[[], Any]:
    def make():
        raise err

    return make


def batched_plan(problem: Problem, u: Callable[[jax.Array], jax.Array]) -> nx.Plan:
    """The plan ``auto`` makes for ``u`` under ``vmap`` over the benchmark's batch.

    Strategies may cost themselves per batch (the "reduced" strategy shares its basis among
    the points of a batch), so the plan is taken while tracing the batched call.
    """
    captured = []

    def one(x):
        captured.append(problem.explain(u, x))
        return jnp.zeros(())

    shape = (BATCH,) if problem.d == 0 else (BATCH, problem.d)
    jax.eval_shape(jax.vmap(one), jax.ShapeDtypeStruct(shape, jnp.float32))
    return captured[0]


Entry = tuple[str, PointOp, tuple[str, ...], str]  # name, builder, requirements, note


def entries(problem: Problem, mode: str) -> tuple[nx.Plan, list[Entry], list[str]]:
    """``auto``'s plan, the contenders of ``problem`` in ``mode`` and why others are not timed."""
    params, net = mlp(max(problem.d, 1))
    u0 = (lambda t: net(params, t[None])) if problem.d == 0 else (lambda x: net(params, x))
    plan = batched_plan(problem, u0)
    out: list[Entry] = [(REFERENCE, problem.nestax("auto"), (), f"auto picked {plan.method}")]
    out += [
        (f"nestax {m}", problem.nestax(m), (), "") for m in plan.costs if m not in problem.exclude
    ]
    skipped = problem.skip.get(mode, {})
    out += [(n, b, req, "") for n, (b, req) in problem.peers.items() if n not in skipped]
    notes = [f"nestax {m} not timed: {why}" for m, why in problem.exclude.items()]
    notes += [f"{n} not timed: {why}" for n, why in skipped.items()]
    return plan, out, notes


def build_case(problem: Problem, mode: str) -> Case:
    """Compile every contender of ``problem`` in ``mode``; notes carry memory and compile time."""
    plan, contenders_in, notes = entries(problem, mode)
    contenders = []
    fingerprints: dict[str, str] = {}
    for name, build, requires, note in contenders_in:
        if any(importlib.util.find_spec(r) is None for r in requires):
            contenders.append(Contender(name, _failing(RuntimeError()), requires=requires))
            continue
        try:
            job = compile_job(problem, build, mode)
        except Exception as err:  # reported by the harness as a failed contender
            contenders.append(Contender(name, _failing(err), note=note))
            continue
        info = f"peak {_mib(job.peak_bytes)}; compile {job.compile_s:.1f} s"
        fingerprints[name] = job.fingerprint
        if name == f"nestax {plan.method}" and fingerprints.get(REFERENCE) == job.fingerprint:
            auto = contenders[0]
            contenders[0] = dataclasses.replace(
                auto, note=f"{auto.note}; same optimized program as {name}"
            )
        contenders.append(
            Contender(
                name,
                functools.partial(lambda s: s, job.step),
                note=f"{note}; {info}" if note else info,
            )
        )
    description = "; ".join([problem.description, *notes])
    return Case(f"{problem.name} · {mode}", description, contenders, reference=REFERENCE)


class LazyCases(Sequence):
    """The suite's cases, each compiled only when the harness reaches it (so compiled
    executables of one case are freed before the next case compiles)."""

    def __init__(self, keys: Sequence[tuple[Problem, str]]):
        self._keys = list(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return build_case(*self._keys[i])


def case_keys(probs: Sequence[Problem] | None = None) -> list[tuple[Problem, str]]:
    """``(problem, mode)`` for every case, value before step."""
    return [(p, m) for p in (problems() if probs is None else probs) for m in ("value", "step")]


def cases() -> Sequence[Case]:
    """The ``operators`` suite: a value case and a training-step case per problem."""
    return LazyCases(case_keys())


#: Cases whose slowest contenders take seconds per call: `main` gives them fewer repeats.
HEAVY = ("laplacian d=256 · value", "laplacian d=256 · step", "biharmonic d=5 · step")


# ----------------------------------------------------------------------------- summary

NESTED_VARIANTS = ("nestax forward", "nestax reverse", "nestax nested", "jax.hessian", "nested jvp")


def _rows(report: dict[str, Any], case: str) -> dict[str, dict[str, Any]]:
    for c in report["cases"]:
        if c["name"] == case:
            return {r["name"]: r for r in c["results"] if r.get("status") == "ok"}
    return {}


def _peak(row: dict[str, Any]) -> str:
    note = row.get("note", "")
    return note.split("peak ")[1].split(";")[0] if "peak " in note else "n/a"


def _per_point(batch_s: float) -> str:
    us = batch_s / BATCH * 1e6
    return f"{us / 1e3:.3g} ms" if us >= 1e3 else f"{us:.3g} µs"


def _speedup(rows: dict[str, dict[str, Any]], peer: str) -> float | None:
    """How many times faster ``nestax auto`` is than ``peer`` (paired within rounds)."""
    if REFERENCE not in rows or peer not in rows:
        return None
    return 1.0 / rows[peer]["ratio_reference_over_this"]


def summary(report: dict[str, Any], load: tuple[float, float] | None = None) -> str:
    """Per-point times and memory, the Done-when figures of issue 3, and auto against the best
    nestax method on every case."""
    out = ["# Suite `operators`: summary", ""]
    env, settings = report["environment"], report["settings"]
    out.append(
        f"{report['created']} · {env['cpu_count']} CPUs · jax {env['jax']} ({env['jax_backend']}) "
        f"· {settings['repeats']} interleaved repeats"
        + (f" ({settings['heavy_repeats']})" if "heavy_repeats" in settings else "")
        + (f" · load average {load[0]:.1f} before, {load[1]:.1f} after" if load else "")
    )
    out += [
        "",
        f"Per-point times (per-batch median ÷ {BATCH}); peak = compiled memory of the whole "
        "batch job (argument + output + temp − alias). `speed-up` = time of the contender ÷ "
        "time of `nestax auto`, paired within rounds (above 1: auto is faster).",
        "",
        "| case | contender | per point | peak | speed-up of auto |",
        "|---|---|---:|---:|---:|",
    ]
    for c in report["cases"]:
        rows = _rows(report, c["name"])
        for name, row in rows.items():
            sp = _speedup(rows, name)
            out.append(
                f"| {c['name']} | {name} | {_per_point(row['median_s'])} | {_peak(row)} | "
                f"{'—' if sp is None else f'{sp:.2f}×'} |"
            )
    out += ["", "## Done when (issue 3), training step, float32", ""]

    def fig(case: str, peer: str, need: float, goal: float | None = None) -> str:
        rows = _rows(report, case)
        sp = _speedup(rows, peer)
        if sp is None:
            return f"- {case}: auto vs {peer}: not measured"
        verdict = "met" if sp >= need else "NOT met"
        g = "" if goal is None else f"; goal {goal}×: {'met' if sp >= goal else 'not met'}"
        return (
            f"- {case}: auto is **{sp:.2f}×** faster than {peer} (need ≥ {need}×: {verdict}{g}); "
            f"peak auto {_peak(rows[REFERENCE])}, {peer} {_peak(rows[peer])}"
        )

    out.append(fig("laplacian d=64 · step", "jax.hessian", 3.5))
    out.append(fig("laplacian d=64 · step", "folx", 1.0, 1.3))
    out.append(fig("biharmonic d=2 · step", "jax.hessian", 10.0))
    out.append(fig("biharmonic d=2 · step", "folx", 1.0, 1.3))
    rows = _rows(report, "d4/dx4 1-D · step")
    nested = {n: _speedup(rows, n) for n in NESTED_VARIANTS if n in rows}
    if nested:
        best = min(nested, key=lambda n: nested[n])
        out.append(
            f"- d4/dx4 1-D · step: against the best nested variant ({best}) auto is "
            f"**{nested[best]:.2f}×** faster (need ≥ 1: "
            f"{'met' if nested[best] >= 1.0 else 'NOT met'}); peak auto "
            f"{_peak(rows[REFERENCE])}, {best} {_peak(rows[best])}"
        )
    out += [
        "",
        "## auto against the best explicit nestax method (need: auto ≤ 1.10 × best)",
        "",
        "`pick ÷ best`: time of the method auto picked (its explicit run) ÷ time of the fastest "
        "explicit nestax method, both paired with auto within rounds. Where auto compiles to "
        "the same optimized program as its pick (checked: hash of the optimized HLO; `same "
        "program`), this is auto's own slowdown; `auto ÷ same` then compares two runs of one "
        "program, i.e. the measurement's noise, and `auto ÷ best` mixes that noise in.",
        "",
        "| case | auto picked | same program | best nestax method | pick ÷ best | within 10% "
        "| auto ÷ best | auto ÷ same |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for c in report["cases"]:
        rows = _rows(report, c["name"])
        mine = {n: r for n, r in rows.items() if n.startswith("nestax ")}
        if REFERENCE not in rows or not mine:
            continue
        # paired ratio time(auto)/time(method) is ratio_reference_over_this; slowdown = 1/that
        slow = {n: 1.0 / r["ratio_reference_over_this"] for n, r in mine.items()}
        rel = 1.0 / min(slow.values())  # auto ÷ the fastest contender, auto included
        note = rows[REFERENCE]["note"]
        picked = note.split(";")[0].removeprefix("auto picked ")
        same = slow.get(f"nestax {picked}")
        identical = "same optimized program" in note
        explicit = {n: v for n, v in slow.items() if n != REFERENCE}
        best_explicit = min(explicit, key=lambda n: explicit[n]) if explicit else REFERENCE
        if identical and same is not None:
            judged = same / explicit[best_explicit]  # pick ÷ best explicit method
        else:
            judged = rel
        out.append(
            f"| {c['name']} | {picked} | {'yes' if identical else 'no'} | "
            f"{best_explicit.removeprefix('nestax ')} | {judged:.3f} | "
            f"{'yes' if judged <= 1.10 else '**no**'} | {rel:.3f} | "
            f"{'—' if same is None else f'{1 / same:.3f}'} |"
        )
    return "\n".join(out) + "\n"


def write_fingerprints(keys: Sequence[tuple[Problem, str]], path: Path) -> dict[str, str]:
    """``{"case · contender": fingerprint}`` of every contender that compiles, written to
    ``path``: two versions of nestax whose files agree compile every case to the same
    optimized programs (so a refactoring that keeps them changes no timing)."""
    found = {}
    for problem, mode in keys:
        for name, build, requires, _ in entries(problem, mode)[1]:
            if all(importlib.util.find_spec(r) for r in requires):
                key = f"{problem.name} · {mode} · {name}"
                found[key] = compile_job(problem, build, mode).fingerprint
                print(key, found[key], flush=True)
    path.write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {path}")
    return found


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the suite, write ``operators.{json,md}`` and ``operators_summary.md``.

    The cases in `HEAVY` get ``--heavy-repeats`` rounds, the others ``--repeats``; the two
    runs are merged into one report, in the suite's order.
    """
    parser = argparse.ArgumentParser(prog="python -m nestax.benchmarks.operators")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--heavy-repeats", type=int, default=7)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument(
        "--fingerprints",
        metavar="FILE",
        help="time nothing: write every contender's program fingerprint to FILE (JSON)",
    )
    args = parser.parse_args(argv)
    keys = [k for k in case_keys() if args.only in f"{k[0].name} · {k[1]}"]
    if args.fingerprints:
        return write_fingerprints(keys, Path(args.fingerprints))
    heavy = [k for k in keys if f"{k[0].name} · {k[1]}" in HEAVY]
    light = [k for k in keys if k not in heavy]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for part, repeats in ((light, args.repeats), (heavy, args.heavy_repeats)):
            if part:
                reports.append(
                    run_cases("operators", LazyCases(part), repeats=repeats, out_dir=tmp)
                )
    load1 = os.getloadavg()[0]
    order = {f"{p.name} · {m}": i for i, (p, m) in enumerate(keys)}
    report = reports[0]
    report["cases"] = sorted(
        (c for r in reports for c in r["cases"]), key=lambda c: order[c["name"]]
    )
    report["settings"] = {
        **report["settings"],
        **SETTINGS,
        "repeats": args.repeats,
        "heavy_repeats": f"{args.heavy_repeats} for {', '.join(HEAVY)}",
        "load_average": f"{load0:.1f} before, {load1:.1f} after (2 cores)",
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "operators.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "operators.md").write_text(markdown_table(report))
    text = summary(report, (load0, load1))
    (out / "operators_summary.md").write_text(text)
    print(text)
    print(f"wrote {out / 'operators.json'}, operators.md and operators_summary.md")
    return report


if __name__ == "__main__":
    main()
