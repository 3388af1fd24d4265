"""The ``nestax`` command: run the examples, the demo, and the benchmark suites.

    nestax run <example> [--iters N] [--out DIR] [--seed S]
    nestax demo [--iters N] [--out DIR]
    nestax bench <suite> [--out DIR] [--repeats N] [--budget SECONDS]
    nestax list

Examples and suites come from the registries in ``nestax.examples`` and
``nestax.benchmarks``; adding an entry there adds it here.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import benchmarks, examples

DEMO = "seed-ude"


def _listing() -> str:
    lines = ["examples (nestax run <name>):"]
    lines += [f"  {e.name:<16} {e.summary}" for e in examples.EXAMPLES.values()]
    lines += ["", "benchmark suites (nestax bench <name>):"]
    lines += [f"  {s.name:<16} {s.summary}" for s in benchmarks.SUITES.values()]
    return "\n".join(lines)


def _named(
    sub: argparse._SubParsersAction, command: str, what: str, help: str
) -> argparse.ArgumentParser:
    """The subcommand ``command`` of one positional argument, ``what`` (an example or a suite
    name); its ``--help`` ends with the listing of both."""
    parser = sub.add_parser(
        command, help=help, epilog=_listing(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(what, help=f"{what} name (see the list below)")
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nestax",
        description="nestax: derivatives of neural networks inside training losses, in JAX.",
        epilog=_listing(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,demo,bench,list}")

    run = _named(sub, "run", "example", "run an example: gradient check, training, metrics, plots")
    run.add_argument(
        "--iters", type=int, default=None, help="training iterations (default: the example's own)"
    )
    run.add_argument("--out", default=None, help="output folder (default: runs/<example>/)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other keyword of the example's run() (repeatable), e.g. --set d=10000 "
        "--set estimator=exact (converted to the type of the keyword's default)",
    )
    run.add_argument(
        "--devices",
        type=int,
        default=None,
        help="on the CPU: N host devices to shard the points over (sets XLA_FLAGS)",
    )
    run.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="jax.distributed coordinator (with --num-processes, --process-id)",
    )
    run.add_argument("--num-processes", type=int, default=None)
    run.add_argument("--process-id", type=int, default=None)
    run.add_argument(
        "--allow-failed-check",
        action="store_true",
        help="exit 0 even when the gradient check fails (default: exit 1)",
    )

    demo = sub.add_parser("demo", help=f"run the {DEMO} example and summarise it")
    demo.add_argument("--iters", type=int, default=None)
    demo.add_argument("--out", default=None, help=f"output folder (default: runs/{DEMO}/)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument(
        "--allow-failed-check",
        action="store_true",
        help="exit 0 even when the gradient check fails (default: exit 1)",
    )

    bench = _named(sub, "bench", "suite", "run a benchmark suite (JSON + markdown table)")
    bench.add_argument(
        "--out",
        default=str(Path("runs") / "bench"),
        help="folder for <suite>.json and <suite>.md (default runs/bench/); files that git "
        "tracks are never overwritten",
    )
    bench.add_argument(
        "--repeats",
        type=int,
        default=15,
        help="interleaved timing rounds per contender (default 15)",
    )
    bench.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds of training per run, for the suites that train (optimizers; default: "
        "the suite's own per problem)",
    )

    sub.add_parser("list", help="list the examples and benchmark suites")
    return parser


def _parse_set(items: Sequence[str]) -> dict[str, object]:
    """``["d=10000", "estimator=exact"]`` -> ``{"d": 10000, "estimator": "exact"}``."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(
                f"--set expects NAME=VALUE with NAME a Python identifier; got {item!r}"
            )
        value: object = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        out[name] = value
    return out


def _typed(flag: str, text: str, default: object, like: str | None = None) -> object:
    """``text`` as the type of ``default``; ``ValueError`` naming ``flag`` when it is not one.

    Integers whose default is >= 1 are counts or sizes and must be >= 1; floats must be finite.
    ``like`` replaces "like the default ..." in the messages.
    """
    if like is not None:
        try:
            return _typed(flag, text, default)
        except ValueError as err:
            raise ValueError(str(err).replace(f"(like the default {default})", like)) from None
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{flag}: expected true or false (like the default {default})")
        return text.lower() == "true"
    if isinstance(default, int):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{flag}: expected an integer (like the default {default})") from None
        if default >= 1 and value < 1:
            raise ValueError(f"{flag}: expected an integer >= 1 (like the default {default})")
        return value
    if isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{flag}: expected a number (like the default {default})") from None
        if not math.isfinite(value):
            raise ValueError(f"{flag}: expected a finite number (like the default {default})")
        return value
    if isinstance(default, str):
        return text
    return _parse_set([f"x={text}"])["x"]


#: keywords of every example's ``run`` that have their own flags (--iters, --out, ...)
_RUNNER_OPTIONS = ("iters", "out_dir", "seed", "progress")


def _options(name: str, module: object, given: dict[str, tuple[str, str]]) -> dict[str, object]:
    """Check the options ``{keyword: (flag, text)}`` against the example's ``run`` signature."""
    accepted = inspect.signature(module.run).parameters  # type: ignore[attr-defined]
    out: dict[str, object] = {}
    for option, (flag, text) in given.items():
        if option not in accepted:
            known = ", ".join(k for k in accepted if k not in _RUNNER_OPTIONS) or "none"
            raise ValueError(
                f"example {name!r} has no option {option!r} for --set; its options: {known}"
            )
        default = accepted[option].default
        if default is None:  # an optional number, say: typed by the annotation
            if text.lower() == "none":
                out[option] = None
                continue
            annotation = str(accepted[option].annotation)
            kind = next((t for t in (float, int, bool) if t.__name__ in annotation), None)
            if kind is not None:
                out[option] = _typed(flag, text, kind(), like="(or none, the default)")
                continue
        out[option] = _typed(flag, text, None if default is inspect.Parameter.empty else default)
    return out


def _check_out(path: str | os.PathLike[str]) -> Path:
    """The output folder, created now; ``ValueError`` naming ``--out`` when it cannot be."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {out}: lies under the file {parent}")
            break
    probe = out / f".nestax-probe-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"--out {out}: cannot be written ({err.strerror or err})") from None
    return out


def _refuse_tracked(paths: Sequence[Path]) -> None:
    """``ValueError`` if git tracks one of ``paths`` (committed benchmark results are updated by
    copying a fresh run over them, never by a run writing there)."""
    import subprocess

    for path in paths:
        try:
            tracked = subprocess.run(
                ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", "--", path.name],
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return  # no git: nothing can be tracked
        if tracked.returncode == 0:
            raise ValueError(
                f"--out {path.parent}: would overwrite {path}, which git tracks; write to "
                "another folder (the default is runs/bench/) and copy the files over if you "
                "mean to update them"
            )


def _run_example(
    name: str, iters: int | None, out: str | None, seed: int, progress: bool, **options
) -> tuple[dict, Path]:
    example = examples.get(name)
    out_dir = Path(out) if out is not None else Path("runs") / name
    module = example.load()  # the options were checked against its run() by `_options`
    metrics = module.run(
        iters=module.DEFAULT_ITERS if iters is None else iters,
        out_dir=out_dir,
        seed=seed,
        progress=progress,
        **options,
    )
    return metrics, out_dir


_HEADLINES = {  # the metric each kind of example is judged by, in the summary when present
    "rel_l2_error": "relative L2 error vs the reference solution",
    "missing_term_rel_l2": "relative L2 error of the learned term vs the missing physics",
    "data_rel_l2": "relative L2 error of the fit vs the data",
}


def _summary(metrics: dict, out_dir: Path) -> str:
    check = "passed" if metrics["gradient_check_ok"] else "FAILED"
    pngs = ", ".join(sorted(p.name for p in out_dir.glob("*.png")))
    return (
        f"{metrics['example']}: loss {metrics['initial_loss']:.4g} -> {metrics['final_loss']:.4g} "
        f"in {metrics['iterations']} iterations "
        f"({metrics['seconds_per_iteration'] * 1e3:.3g} ms/iteration, "
        f"{metrics['wall_seconds']:.3g} s)\n"
        + "".join(
            f"{label}: {metrics[key]:.3e}\n"
            for key, label in _HEADLINES.items()
            if isinstance(metrics.get(key), int | float)
        )
        + f"gradient check {check}: max relative error "
        f"{metrics['gradient_check_max_rel_error']:.2e} vs finite differences (float64)\n"
        f"outputs: {out_dir / 'metrics.json'}, {pngs}"
    )


def _parallel(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--devices`` and ``--coordinator``: arrange devices and processes before JAX starts."""
    if args.devices is not None:
        if args.devices < 1:
            parser.exit(2, f"nestax: error: --devices must be >= 1; got {args.devices}\n")
        flags = os.environ.get("XLA_FLAGS", "")
        flags = " ".join(
            f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count")
        )
        # XLA:CPU aborts a collective whose device threads do not all arrive within 40 s by
        # default, which a loaded machine with more devices than cores can exceed
        if "xla_cpu_collective_call_terminate_timeout_seconds" not in flags:
            flags += " --xla_cpu_collective_call_terminate_timeout_seconds=600"
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.devices}"
        # XLA:CPU sizes its thread pool by the core count; with a device part blocked at an
        # all-reduce per thread, the queued parts of the others never run (a hang under load,
        # tests/_parallel_worker.py); 8 threads per device leave room. One device has no
        # collective, and 8 threads on 2 cores made its step 25 % slower (41 -> 52 ms)
        if args.devices > 1:
            os.environ.setdefault("PJRT_NPROC", str(8 * args.devices))
    given = [args.coordinator, args.num_processes, args.process_id]
    if any(g is not None for g in given):
        if any(g is None for g in given):
            parser.exit(2, "nestax: error: --coordinator, --num-processes and --process-id go "
                        f"together; got {given}\n")  # fmt: skip
        from .pinn import initialize

        initialize(args.coordinator, args.num_processes, args.process_id)
    import jax

    if args.devices is not None and jax.default_backend() == "cpu":
        # many CPU devices in one process: synchronous dispatch (see tests/_parallel_worker.py)
        jax.config.update("jax_cpu_enable_async_dispatch", False)
        if jax.local_device_count() != args.devices:
            parser.exit(2, f"nestax: error: --devices {args.devices}: JAX had already started "
                        f"with {jax.local_device_count()} devices\n")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nestax`` command; returns the exit status.

    Every bad argument (an unknown name, a count < 1, a ``--set`` value of the wrong type, an
    ``--out`` that cannot be written) exits with status 2 and one line, before any training; a
    failed gradient check exits with status 1 unless ``--allow-failed-check``. Errors while
    running keep their traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    options: dict[str, object] = {}
    try:
        if args.command in ("run", "demo"):
            name = args.example if args.command == "run" else DEMO
            example = examples.get(name)
            if args.iters is not None and args.iters < 1:
                raise ValueError(f"--iters must be >= 1; got {args.iters}")
            if args.command == "run":
                if args.seed < 0:
                    raise ValueError(f"--seed must be >= 0; got {args.seed}")
                given: dict[str, tuple[str, str]] = {}
                for item in args.set:
                    option, sep, text = item.partition("=")
                    if not sep or not option.isidentifier():
                        raise ValueError(
                            f"--set expects NAME=VALUE with NAME a Python identifier; got {item!r}"
                        )
                    given[option] = (f"--set {item}", text)
                options = _options(name, example.load(), given)
            _check_out(args.out if args.out is not None else Path("runs") / name)
        elif args.command == "bench":
            benchmarks.get(args.suite)
            if args.repeats < 1:
                raise ValueError(f"--repeats must be >= 1; got {args.repeats}")
            if args.budget is not None:
                if not (math.isfinite(args.budget) and args.budget > 0):
                    raise ValueError(f"--budget must be a number of seconds > 0; got {args.budget}")
                if not hasattr(benchmarks.get(args.suite).load(), "run_suite"):
                    raise ValueError(
                        f"--budget: suite {args.suite!r} times steps; it does not train"
                    )
            _check_out(args.out)
            _refuse_tracked(
                [Path(args.out) / f"{args.suite}{ext}" for ext in (".json", ".md", ".png")]
            )
    except ValueError as err:
        parser.exit(2, f"nestax: error: {err}\n")

    if args.command == "run":
        _parallel(args, parser)
    if args.command in ("run", "demo"):
        if args.command == "run":
            metrics, out_dir = _run_example(
                args.example, args.iters, args.out, args.seed, not args.no_progress, **options
            )
        else:
            metrics, out_dir = _run_example(DEMO, args.iters, args.out, 0, not args.no_progress)
            print(f"nestax demo: {DEMO}, the Lotka–Volterra UDE with a ‖∂U₁/∂x‖² penalty")
        print(_summary(metrics, out_dir))
        default = examples.get(DEMO if args.command == "demo" else args.example).load()
        if args.iters is not None and args.iters < default.DEFAULT_ITERS:
            again = "nestax demo" if args.command == "demo" else f"nestax run {args.example}"
            print(
                f"a short run ({args.iters} of the default {default.DEFAULT_ITERS} iterations); "
                f"the full run: {again}"
            )
        if not metrics.get("gradient_check_ok", True) and not args.allow_failed_check:
            print(
                "nestax: error: the gradient check failed (max relative error "
                f"{metrics.get('gradient_check_max_rel_error')}); the trained result is not "
                "trustworthy (pass --allow-failed-check to exit 0 anyway)",
                file=sys.stderr,
            )
            return 1
    elif args.command == "bench":
        benchmarks.run(args.suite, out_dir=args.out, repeats=args.repeats, budget=args.budget)
    elif args.command == "list":
        print(_listing())
    else:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
