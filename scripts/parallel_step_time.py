"""Step time of the poisson-2d PINN (4096 points) on N forced CPU devices. argv: N."""
import os, sys, time
n = int(sys.argv[1])
# a long collective timeout: on a loaded 2-core machine the 4 device threads may arrive late
os.environ["XLA_FLAGS"] = (
    f"--xla_force_host_platform_device_count={n} "
    "--xla_cpu_collective_call_terminate_timeout_seconds=600"
)
if n > 1:  # XLA's CPU pool by the device count (see the pinn sharding docs)
    os.environ.setdefault("PJRT_NPROC", str(8 * n))
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_enable_async_dispatch", False)
import nestax as nx
from nestax import pinn
from nestax.examples import poisson_2d
problem = poisson_2d.build(4096, 0)
net = pinn.mlp(jax.random.key(0), 2, width=32, depth=4)
if n > 1:
    pinn.shard_problem(problem, pinn.points_mesh())
r = nx.fit(problem.loss(), net, [nx.Stage("adam", 300, learning_rate=1e-3)], progress=False)
print(f"devices={jax.device_count()} ms/step={r.seconds_per_step*1e3:.2f}")
