r"""Data-parallel PINN training over collocation points with ``jax.sharding``.

The loss is a mean over points, :math:`L = \frac1N\sum_j \ell(\theta; x_j)`, so its gradient is
the mean of per-device partial means. With a one-axis :class:`jax.sharding.Mesh` over all
devices, the points are split along that axis (``PartitionSpec("points")``).
:meth:`~nestax.pinn.Problem.loss` returns a loss ``loss(params, data)`` whose ``data`` are the
points, and :func:`nestax.fit` passes them to its jit-compiled step as an *argument* (closed
over, they would be constants of the program: no partitioning, and across processes an
error). ``fit`` replicates the parameters, the optimizer state and the key over the same
devices, so XLA computes every device's share of the points locally and inserts an
all-reduce of the gradient (it is in the compiled step's HLO). The numbers are those of one
device up to the order of the floating-point sums. Points a resampler (:class:`RAD`) draws
between rounds of :meth:`~nestax.pinn.Problem.train` are re-sharded like the old ones
(:func:`reshard_like`).

Many processes (hosts, or several processes on one machine): every process calls
:func:`initialize` (``jax.distributed.initialize(coordinator_address, num_processes,
process_id)``, or with no arguments on SLURM / TPU / GKE) before anything else touches JAX;
the mesh then spans the devices of all processes, and :func:`shard_points` builds each global
array from the rows this process holds (``jax.make_array_from_process_local_data``): every
process passes *its own* share. :func:`shard_problem` instead takes a problem every process
built alike (its samplers are seeded) and gives each device its rows of the same global
point set, so the run matches the one-device run. On CPUs, collectives across processes need
``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` before ``initialize``
(:func:`initialize` does it for the CPU platform). Checkpoints, the progress bar and
``metrics.json`` come from process 0.

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX initialises
its backend) gives N devices (``nestax run <example> --devices N`` does it). Set
``PJRT_NPROC`` too (``nestax run`` sets ``8 N``): XLA sizes its CPU thread pool by the core
count, and on a loaded machine with few cores the devices' parts of a step can starve each
other at an all-reduce and hang.

Example:
    >>> import jax
    >>> from nestax import pinn
    >>> mesh = pinn.points_mesh()
    >>> problem = pinn.Problem(lambda u, x: u(x), pinn.Interval(0.0, 1.0),
    ...                        n_interior=8 * len(jax.devices()))
    >>> pinn.shard_problem(problem, mesh).points["residual"].sharding.spec
    P('points', None)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "points"


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> None:
    """``jax.distributed.initialize`` for multi-process runs (coordinator ``HOST:PORT``,
    number of processes and this process's id, or auto-detected on SLURM / TPU / GKE).

    When the platform is the CPU (``JAX_PLATFORMS=cpu`` or no accelerator plugin), the gloo
    CPU collectives are switched on first: without them a step across processes fails."""
    platforms = os.environ.get("JAX_PLATFORMS", "") or jax.config.jax_platforms or ""
    if platforms in ("", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)


def points_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A one-axis mesh named ``"points"`` over ``devices`` (default: every device of every host)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("points_mesh: argument `devices` is empty")
    return Mesh(np.asarray(devices), (AXIS,))


def shard_points(x: Any, mesh: Mesh) -> jax.Array:
    """Split the rows of ``x`` (shape ``(n, d)``) over the mesh's ``"points"`` axis.

    Single host: ``n`` must be a multiple of the number of devices. Several hosts: ``x`` is
    this host's share, and the global array stacks the shares of all hosts.
    """
    n_dev = mesh.devices.size
    spec = PartitionSpec(AXIS, *([None] * (np.ndim(x) - 1)))
    sharding = NamedSharding(mesh, spec)
    if jax.process_count() > 1:
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))
    if np.shape(x)[0] % n_dev:
        raise ValueError(
            f"shard_points: the number of points ({np.shape(x)[0]}) must be a multiple of the "
            f"number of devices ({n_dev}); choose n_interior / n_boundary accordingly"
        )
    return jax.device_put(x, sharding)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every array of ``tree`` (the parameters) on all devices of the mesh."""
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(
        lambda a: jax.device_put(a, sharding) if isinstance(a, (jax.Array, np.ndarray)) else a,
        tree,
    )


def shard_problem(problem: Any, mesh: Mesh) -> Any:
    """Shard every point set of a :class:`~nestax.pinn.Problem` in place; returns it.

    Every process holds the same problem (the samplers are seeded); each point set becomes a
    global array whose rows are split over the mesh, the same rows as on one device.
    """
    for name, pts in problem.points.items():
        problem.points[name] = shard_global(pts, mesh)
    return problem


def shard_global(x: Any, mesh: Mesh) -> jax.Array:
    """``x`` (shape ``(n, ...)``, the same value on every process) split by rows over the
    mesh's ``"points"`` axis; ``n`` must be a multiple of the number of devices."""
    n_dev = mesh.devices.size
    if np.shape(x)[0] % n_dev:
        raise ValueError(
            f"shard_problem: the number of points ({np.shape(x)[0]}) must be a multiple of the "
            f"number of devices ({n_dev}); choose n_interior / n_boundary accordingly"
        )
    spec = PartitionSpec(AXIS, *([None] * (np.ndim(x) - 1)))
    return _from_global(x, NamedSharding(mesh, spec))


def _from_global(x: Any, sharding: Any) -> jax.Array:
    host = local_value(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def local_value(x: Any) -> np.ndarray:
    """The whole value of ``x`` on this process (gathered when it spans other processes)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def reshard_like(new: Any, old: Any) -> Any:
    """``new`` with the sharding of ``old`` when ``old`` is spread over several devices (points
    a resampler drew, the same on every process); ``new`` as it is otherwise."""
    if not isinstance(old, jax.Array):
        return new
    sharding = old.sharding
    if len(sharding.device_set) < 2 and sharding.is_fully_addressable:
        return new
    return _from_global(new, sharding)
