"""The ``optimizers`` suite: error-against-time curves, errors measured against the references."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nestax.benchmarks import optimizers


def test_tiny_run_writes_curves_measured_against_the_references(tmp_path):
    report = optimizers.run_suite(tmp_path, tiny=True, echo=lambda _: None)
    saved = json.loads((tmp_path / "optimizers.json").read_text())
    assert saved["problems"].keys() == {"poisson-smooth"}
    row = saved["problems"]["poisson-smooth"]
    # the evaluation itself: the exact solution scores ~0 and the zero function 1
    assert row["checks"]["exact_solution"] < 1e-14
    assert row["checks"]["zero_function"] == pytest.approx(1.0, abs=1e-14)
    assert row["runs"].keys() == set(optimizers.SCHEDULES)
    for name, run in row["runs"].items():
        n = len(run["seconds"])
        assert n >= 2 and len(run["errors"]) == n and len(run["steps"]) == n, name
        assert np.all(np.diff(run["seconds"]) >= 0) and np.all(np.diff(run["steps"]) >= 0)
        assert run["steps"][0] == 0 and run["steps"][-1] > 0, name
        # the first reading is the initial network's error, recomputed here independently
        assert 0 < run["errors"][0] < np.inf and run["final_error"] == run["errors"][-1]
    setting = optimizers.setup("poisson-smooth", tiny=True)
    problem, net = setting["problem"], setting["net"]
    import jax

    pred = np.asarray(jax.vmap(problem.trial(net))(setting["points"]))
    x, y = np.asarray(setting["points"]).T
    exact = np.sin(np.pi * x) * np.sin(np.pi * y)
    initial = np.linalg.norm(pred - exact) / np.linalg.norm(exact)
    for run in row["runs"].values():
        assert run["errors"][0] == pytest.approx(initial, rel=1e-10)
    table = (tmp_path / "optimizers.md").read_text()
    assert "| poisson-smooth (32, " in table and "not reached" in table or "s /" in table
    assert (tmp_path / "optimizers.png").stat().st_size > 10_000
    assert report["problems"]["poisson-smooth"]["runs"]["engd"]["stopped"] == "early_stopping"


def test_burgers_reference_meets_its_initial_data():
    checks = optimizers.setup("burgers", tiny=True)["checks"]
    assert checks["initial_data_at_t0"] < 1e-10
    assert checks["zero_function"] == pytest.approx(1.0, abs=1e-14)


def test_unknown_schedule_and_problem_are_refused():
    with pytest.raises(ValueError, match="unknown schedule 'adagrad'"):
        optimizers.schedule("adagrad")
    with pytest.raises(ValueError, match="unknown problem 'kdv'"):
        optimizers.setup("kdv")
    with pytest.raises(ValueError, match="`budget` must be > 0"):
        optimizers.run_suite(budget=0.0)
