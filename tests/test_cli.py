"""The ``nestax`` command and the benchmark harness behind ``nestax bench``."""

import json
import math
import sys
import types

import jax
import jax.numpy as jnp
import pytest

from nestax import benchmarks
from nestax._cli import main
from nestax.benchmarks._harness import Case, Contender, run_cases


def test_run_seed_cos_writes_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "cos"
    assert main(["run", "seed-cos", "--iters", "5", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "final_loss",
        "iterations",
        "seconds_per_iteration",
        "wall_seconds",
        "gradient_check_max_rel_error",
    ):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics["iterations"] == 5
    assert metrics["gradient_check_ok"] and metrics["gradient_check_max_rel_error"] <= 1e-6
    assert metrics["final_loss"] < metrics["initial_loss"]
    assert (out / "loss.png").stat().st_size > 0 and (out / "fit.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "seed-cos" in printed and "metrics.json" in printed
    assert "a short run (5 of the default 2000 iterations); the full run: nestax run seed-cos" in (
        printed
    )


def test_help_lists_examples_and_suites(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in ("seed-batchnorm", "seed-cos", "seed-ude", "seeds"):
        assert name in text
    assert main(["list"]) == 0
    assert "seed-ude" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "seed-nope"],
            "unknown example 'seed-nope'; expected one of: allen-cahn, biharmonic, ",
        ),
        (["bench", "nope"], "unknown benchmark suite 'nope'; expected one of: "),
        (
            ["run", "seed-cos", "--set", "regularize=true"],
            "example 'seed-cos' has no option 'regularize' for --set; its options: none",
        ),
        (["run", "seed-cos", "--iters", "0"], "--iters must be >= 1; got 0"),
        (
            ["run", "sine-gordon-nd", "--set", "time_budget=abc"],
            "--set time_budget=abc: expected a number (or none, the default)",
        ),
        (["bench", "seeds", "--repeats", "0"], "--repeats must be >= 1; got 0"),
        (["bench", "seeds", "--budget", "10"], "--budget: suite 'seeds' times steps"),
        (["bench", "optimizers", "--budget", "0"], "--budget must be a number of seconds > 0"),
        (["run", "seed-cos", "--set", "width"], "--set expects NAME=VALUE"),
        (["run", "seed-cos", "--set", "widht=3"], "has no option 'widht' for --set; its options: "),
    ],
)
def test_bad_names_and_counts_are_reported(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_set_options_are_converted():
    from nestax._cli import _parse_set

    got = _parse_set(["d=10000", "rate=1e-3", "estimator=exact", "product_rule=false"])
    assert got == {"d": 10000, "rate": 1e-3, "estimator": "exact", "product_rule": False}
    assert type(got["d"]) is int


def _tiny_cases():
    x = jnp.linspace(0.0, 1.0, 64)
    fast = jax.jit(lambda x: jnp.sin(x))
    slow = jax.jit(lambda x: jnp.sum(jnp.sin(jnp.outer(x, x)) @ jnp.outer(x, x)))

    def broken():
        raise RuntimeError("boom")

    return [
        Case(
            "tiny",
            "a sine, three ways",
            [
                Contender("nestax", lambda: lambda: fast(x)),
                Contender("slower peer", lambda: lambda: slow(x)),
                Contender("absent peer", lambda: None, requires=("no_such_module_xyz",)),
                Contender("broken peer", broken),
            ],
        )
    ]


def test_harness_writes_json_and_table(tmp_path):
    report = run_cases("tiny", _tiny_cases(), repeats=3, sample_s=0.002, out_dir=tmp_path)
    rows = {row["name"]: row for row in report["cases"][0]["results"]}
    assert rows["nestax"]["status"] == "ok" and rows["nestax"]["ratio_reference_over_this"] == 1
    assert len(rows["slower peer"]["samples"]) == 3
    assert rows["slower peer"]["median_s"] > 0 and rows["slower peer"]["iqr_s"] >= 0
    assert rows["absent peer"]["status"] == "skipped"
    assert "not installed: no_such_module_xyz" in rows["absent peer"]["note"]
    assert rows["broken peer"]["status"] == "failed" and "boom" in rows["broken peer"]["note"]
    assert json.loads((tmp_path / "tiny.json").read_text())["suite"] == "tiny"
    table = (tmp_path / "tiny.md").read_text()
    assert "| tiny | slower peer |" in table and "skipped: not installed" in table


def test_bench_command_runs_a_registered_suite(tmp_path, monkeypatch, capsys):
    module = types.ModuleType("nestax_test_tiny_suite")
    module.cases = _tiny_cases
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(
        benchmarks.SUITES, "tiny", benchmarks.Suite("tiny", module.__name__, "test suite")
    )
    assert main(["bench", "tiny", "--out", str(tmp_path), "--repeats", "2"]) == 0
    assert (tmp_path / "tiny.json").exists() and (tmp_path / "tiny.md").exists()
    assert "| tiny | nestax |" in capsys.readouterr().out


def _no_training(monkeypatch):
    """Fail the test if an example starts running: every refusal must come before."""
    import nestax._cli as cli

    def refuse(*args, **kwargs):
        raise AssertionError("the example ran although an argument was bad")

    monkeypatch.setattr(cli, "_run_example", refuse)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "width=abc"], "--set width=abc: expected an integer (like the default 32)"),
        (["--set", "n_interior=nan"], "--set n_interior=nan: expected an integer"),
        (["--set", "width=0"], "--set width=0: expected an integer >= 1"),
        (["--set", "width=2.5"], "--set width=2.5: expected an integer"),
        (["--set", "width=true"], "--set width=true: expected an integer"),
        (["--seed", "-1"], "--seed must be >= 0; got -1"),
    ],
)
def test_bad_set_values_exit_2_with_one_line_before_training(argv, message, capsys, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "poisson-2d", "--no-progress", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_non_finite_float_options_are_refused(capsys, monkeypatch):
    _no_training(monkeypatch)
    for argv in (["--set", "reg_weight=nan"], ["--set", "reg_weight=inf"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "lotka-volterra", *argv])
        assert exit_info.value.code == 2
        assert "finite" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run", "seed-cos"], ["demo"], ["bench", "seeds"]])
def test_out_naming_a_file_exits_2_before_training(tmp_path, capsys, monkeypatch, command):
    _no_training(monkeypatch)
    monkeypatch.setattr(benchmarks, "run", lambda *a, **k: pytest.fail("the suite ran"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--out", str(out)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "--out" in err and str(blocker) in err and len(err.strip().splitlines()) == 1


def test_failed_gradient_check_exits_non_zero_unless_allowed(tmp_path, capsys, monkeypatch):
    import nestax._cli as cli

    metrics = {
        "example": "seed-cos", "initial_loss": 1.0, "final_loss": float("nan"), "iterations": 5,
        "seconds_per_iteration": 1e-3, "wall_seconds": 0.1, "gradient_check_ok": False,
        "gradient_check_max_rel_error": float("nan"),
    }  # fmt: skip
    monkeypatch.setattr(cli, "_run_example", lambda *a, **k: (metrics, tmp_path))
    assert main(["run", "seed-cos", "--out", str(tmp_path)]) == 1
    assert "gradient check failed" in capsys.readouterr().err
    assert main(["run", "seed-cos", "--out", str(tmp_path), "--allow-failed-check"]) == 0
    assert main(["demo", "--out", str(tmp_path)]) == 1


def _tiny_suite(monkeypatch):
    module = types.ModuleType("nestax_test_tiny_suite")
    module.cases = _tiny_cases
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(
        benchmarks.SUITES, "tiny", benchmarks.Suite("tiny", module.__name__, "test suite")
    )


def test_bench_writes_under_runs_bench_by_default(tmp_path, monkeypatch):
    _tiny_suite(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "tiny", "--repeats", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "bench").iterdir()) == [
        "tiny.json",
        "tiny.md",
    ]


def test_bench_refuses_to_overwrite_files_git_tracks(tmp_path, monkeypatch, capsys):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _tiny_suite(monkeypatch)
    results = tmp_path / "results"
    results.mkdir()
    (results / "tiny.json").write_text("committed\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "results/tiny.json"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "results"], check=True)
    monkeypatch.setattr(benchmarks, "run", lambda *a, **k: pytest.fail("the suite ran"))
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "tiny", "--out", str(results), "--repeats", "2"])
    assert exit_.value.code == 2
    assert "which git tracks" in capsys.readouterr().err
    assert (results / "tiny.json").read_text() == "committed\n"


def test_summary_prints_the_headline_metric(tmp_path):
    from nestax._cli import _summary

    metrics = {
        "example": "poisson-2d",
        "initial_loss": 1.0,
        "final_loss": 1e-6,
        "iterations": 10,
        "seconds_per_iteration": 0.01,
        "wall_seconds": 0.1,
        "gradient_check_ok": True,
        "gradient_check_max_rel_error": 1e-9,
    }
    assert "relative L2 error" not in _summary(metrics, tmp_path)
    text = _summary({**metrics, "rel_l2_error": 3.2e-4}, tmp_path)
    assert "relative L2 error vs the reference solution: 3.200e-04" in text
    text = _summary({**metrics, "missing_term_rel_l2": 0.021}, tmp_path)
    assert "learned term vs the missing physics: 2.100e-02" in text
