"""Speed kept? nestax at a git revision against the working tree, in one process, interleaved.

Every training step of the ``seeds`` suite (the nestax contender of each seed problem, built by
each version's own copy of the suite and the examples), of the ``operators`` suite (``step``
cases: gradient over the weights of the mean squared operator, tanh MLP 128x3, batch 256,
float32) and of the ``reduction`` suite (Laplacian d = 64 ... 4096, biharmonic d = 64, 256),
each with ``method="auto"``, built once by the current nestax and once by nestax at ``REV``,
timed alternately by the benchmark harness. Absolute times move with the machine; a ratio
paired within rounds does not. The script also says, per shape, whether the two optimized
programs are the same (the canonical fingerprint of ``nestax.benchmarks.operators``; not for
the seeds): the same program runs at the same speed, so there a ratio away from 1 is the
measurement's noise.

    .venv/bin/python scripts/speed_against.py a5fa0b9 [--suite seeds|operators|reduction|all]
                                                       [--repeats 15]

``REV`` is exported with ``git archive`` into a temporary folder as the package
``nestax_old`` (its absolute ``nestax`` imports renamed), so both versions import side by side.
Prints, and writes to ``--out`` (default ``runs/speed_against``), the harness's table; in it
``new ÷ this`` below 1 means the working tree is faster.
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile


def export(rev: str, into: pathlib.Path) -> None:
    """``src/nestax`` at ``rev`` as the package ``into/nestax_old``."""
    root = pathlib.Path(__file__).resolve().parents[1]
    archive = into / "old.tar"
    with open(archive, "wb") as out:
        subprocess.run(["git", "archive", rev, "src/nestax"], cwd=root, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "nestax").rename(into / "nestax_old")
    imports = re.compile(r"^(\s*)(from|import) nestax\b", re.MULTILINE)
    for path in (into / "nestax_old").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        # `explain` recognises an operator function by its module's name
        text = imports.sub(r"\1\2 nestax_old", text).replace(
            'startswith("nestax.")', 'startswith("nestax")'
        )
        path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument(
        "--suite", choices=("seeds", "operators", "reduction", "all"), default="all"
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default="runs/speed_against")
    args = parser.parse_args()
    import jax

    # the seeds suite's setting (synchronous CPU dispatch), before JAX's first computation
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nestax_old_"))
    export(args.rev, tmp)
    sys.path.insert(0, str(tmp))

    import nestax_old as old
    from nestax_old.benchmarks import seeds as old_seeds

    import nestax as new
    from nestax.benchmarks import operators, reduction, seeds
    from nestax.benchmarks._harness import Case, Contender, run_cases

    def builders(nx):
        heat = nx.Partial((1, 0, 0)) - operators.NU * (
            nx.Partial((0, 2, 0)) + nx.Partial((0, 0, 2))
        )
        laplacian = lambda u: nx.laplacian(u)  # noqa: E731
        biharmonic = lambda u: nx.apply(nx.Biharmonic(), u)  # noqa: E731
        return {
            "laplacian": laplacian,
            "biharmonic": biharmonic,
            "d4/dx4 1-D": lambda u: nx.derivative(u, order=4),
            "u_xxy 2-D": lambda u: nx.partial(u, (2, 1)),
            "heat 3-D": lambda u: nx.apply(heat, u),
        }

    def build(nx, name):
        table = builders(nx)
        return table.get(name) or table[name.split()[0]]

    def case(name, steps):
        contenders = [Contender(who, (lambda s: lambda: s)(step)) for who, step in steps]
        return Case(name, "", contenders, reference="new")

    cases, same = [], {}
    if args.suite in ("seeds", "all"):
        for case_new, case_old in zip(seeds.cases(), old_seeds.cases(), strict=True):
            pair = [
                next(c for c in k.contenders if c.name == "nestax") for k in (case_new, case_old)
            ]
            contenders = [
                Contender(who, c.make) for who, c in zip(("new", args.rev), pair, strict=True)
            ]
            cases.append(Case(case_new.name, "", contenders, reference="new"))
    if args.suite in ("operators", "all"):
        for problem in operators.problems():
            jobs = [
                operators.compile_job(problem, build(nx, problem.name), "step") for nx in (new, old)
            ]
            same[problem.name] = jobs[0].fingerprint == jobs[1].fingerprint
            steps = zip(("new", args.rev), (job.step for job in jobs), strict=True)
            cases.append(case(f"{problem.name} · step", steps))
    if args.suite in ("reduction", "all"):
        for kind, cfg in (("laplacian", reduction.LAPLACIAN), ("biharmonic", reduction.BIHARMONIC)):
            for d in cfg["dims"]:
                steps, prints = [], []
                for nx in (new, old):
                    grad, _, params, xs = reduction._step(builders(nx)[kind], d, cfg)
                    compiled = grad.lower(params, xs).compile()
                    prints.append(operators.fingerprint(compiled.as_text()))
                    steps.append((lambda c, p, x: lambda: c(p, x))(compiled, params, xs))
                name = f"reduction {kind} d={d}"
                same[name] = prints[0] == prints[1]
                cases.append(case(name, zip(("new", args.rev), steps, strict=True)))
    print("same optimized program:", json.dumps(same, indent=1), flush=True)
    run_cases(
        "speed_against",
        cases,
        repeats=args.repeats,
        out_dir=args.out,
        settings={"rev": args.rev, "same_program": same},
    )


if __name__ == "__main__":
    main()
