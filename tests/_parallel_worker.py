"""Run by tests/test_parallel.py in a subprocess: a small PINN trained data-parallel.

argv: out.json ndev [coordinator nproc pid]. Sets the device count before JAX starts.
"""

import json
import os
import sys

out, ndev = sys.argv[1], int(sys.argv[2])
# XLA:CPU aborts a collective whose participants do not all arrive within 40 s by default; on
# a loaded 2-core machine one device's thread can lag that long, so allow 10 minutes.
os.environ["XLA_FLAGS"] = (
    f"--xla_force_host_platform_device_count={ndev} "
    "--xla_cpu_collective_call_terminate_timeout_seconds=600"
)
os.environ["JAX_PLATFORMS"] = "cpu"
# XLA:CPU runs each device's part of a step on its own thread of a pool sized by the core count
# (at least one thread per device). A part waiting at an all-reduce holds its thread; a part whose
# own thunks were queued behind the waiting ones then never runs, and the step hangs (seen under
# load: 3 of 4 devices waiting 600 s, 1 in 4 runs). PJRT_NPROC sets the pool size: 8 threads per
# device leave room for the queued thunks.
os.environ.setdefault("PJRT_NPROC", str(8 * ndev))
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
# Several CPU devices in one process on a 2-core machine: with asynchronous dispatch the
# in-process all-reduce rendezvous of consecutive steps can starve XLA's thread pool (seen here:
# "Termination timeout for `all reduce RendezvousKey...` ... only 3 of them arrived", abort).
jax.config.update("jax_cpu_enable_async_dispatch", False)
if len(sys.argv) > 3:
    from nestax import pinn

    pinn.initialize(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
import numpy as np  # noqa: E402

import nestax as nx  # noqa: E402
from nestax import pinn  # noqa: E402
from tests._parallel_problem import make, stages  # noqa: E402

problem, net = make()
mesh = pinn.points_mesh()
pinn.shard_problem(problem, mesh)
loss = problem.loss()
result = nx.fit(loss, net, stages(), progress=False)
report = {
    "devices": jax.device_count(),
    "processes": jax.process_count(),
    "history": np.asarray(result.history["total"]).tolist(),
    "shards": [list(s.data.shape) for s in problem.points["residual"].addressable_shards],
}
if jax.process_count() == 1:
    import equinox as eqx

    from nestax._fit._data import replicate_like
    from nestax._fit._step import call_loss

    dyn, static = eqx.partition(net, eqx.is_inexact_array)
    dyn = replicate_like(dyn, loss.data)

    def total(p, d):
        return sum(call_loss(loss, eqx.combine(p, static), d, None).values())

    step = jax.jit(jax.grad(total))
    report["hlo"] = step.lower(dyn, loss.data).compile().as_text()
    new = pinn.RAD(pool=256)(problem, result.params, jax.random.key(3))
    problem.points["residual"] = pinn.reshard_like(new, problem.points["residual"])
    pts = problem.points["residual"]
    report["rad_shards"] = [list(s.data.shape) for s in pts.addressable_shards]
    report["rad_spec"] = str(pts.sharding.spec)
if jax.process_index() == 0:
    with open(out, "w") as f:
        json.dump(report, f)
