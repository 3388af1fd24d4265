"""Data-parallel training: points sharded over devices and processes, as arguments of the step.

Each run is a subprocess (the device count is fixed when JAX starts); the reference is the same
problem trained in this process on one device with the points closed over (the plain loss).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nestax as nx

from ._parallel_problem import make, stages

ROOT = Path(__file__).resolve().parents[1]
# A run takes under a minute on a 2-core machine, about 2 minutes loaded; a hung collective
# (below) is killed at TIMEOUT and the run started once more.
TIMEOUT = 300

# XLA:CPU runs each device's part of a collective on its own thread and, by default, aborts an
# all-reduce whose participants do not all arrive within 40 s (seen with 4 forced devices on a
# loaded 2-core machine); the worker raises that limit (see tests/_parallel_worker.py).
# With fewer cores than forced devices the participants may never all arrive: on a 2-core
# clean clone the 4-device run hung for 600 s while the other xdist worker was busy (2 of 3
# runs passed). There, the suite forces 2 devices; NESTAX_DEVICES=4 asks for 4 anyway. Even
# 2 devices hung once (600 s; 47 s when run again) while two other jobs loaded both cores.
DEVICES = int(os.environ.get("NESTAX_DEVICES", 4 if (os.cpu_count() or 1) >= 4 else 2))
ROWS = 64 // DEVICES  # the interior points per device


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _worker(out, *args):
    cmd = [sys.executable, "-m", "tests._parallel_worker", str(out), *map(str, args)]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _finish(start):
    """Run the workers ``start()`` returns; once more if they hang (see TIMEOUT)."""
    for attempt in (1, 2):
        procs = start()
        try:
            logs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
            break
        except subprocess.TimeoutExpired:
            if attempt == 2:
                raise
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]


@pytest.fixture(scope="module")
def reference():
    problem, net = make()
    loss = problem.loss()
    # the points closed over (the one-device program of before): an independent path
    return nx.fit(lambda p: loss(p), net, stages(), progress=False).history["total"]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("par") / "sharded.json"
    _finish(lambda: [_worker(out, DEVICES)])
    return json.loads(out.read_text())


def test_sharded_devices_same_history_as_one(sharded, reference):
    assert sharded["devices"] == DEVICES and sharded["processes"] == 1
    # float64, 50 Adam steps: only the order of the per-device partial sums differs
    np.testing.assert_allclose(sharded["history"], reference, rtol=1e-8)


def test_step_has_all_reduce_and_points_are_split(sharded):
    assert "all-reduce" in sharded["hlo"]
    assert sharded["shards"] == [[ROWS, 2]] * DEVICES  # 64 interior points over the devices


def test_rad_points_stay_sharded(sharded):
    assert sharded["rad_spec"] == "P('points', None)"
    assert sharded["rad_shards"] == [[ROWS, 2]] * DEVICES


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    not os.environ.get("NESTAX_MULTIPROCESS"),
    reason="two gloo processes deadlocked once in a clean-clone run on a 2-core machine (both "
    "idle after connecting, killed at 600 s); run with NESTAX_MULTIPROCESS=1",
)
def test_two_processes_same_history_as_one(tmp_path, reference):
    out = tmp_path / "two.json"

    def start():  # a fresh coordinator port for each attempt
        port = _free_port()
        return [_worker(out, 2, f"127.0.0.1:{port}", 2, i) for i in range(2)]

    _finish(start)
    got = json.loads(out.read_text())
    assert got["devices"] == 4 and got["processes"] == 2
    assert got["shards"] == [[16, 2]] * 2  # this process's two devices, 16 rows each
    np.testing.assert_allclose(got["history"], reference, rtol=1e-8)
