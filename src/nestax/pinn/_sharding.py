r"""Data-parallel PINN training over collocation points with ``jax.sharding``.

The loss is a mean over points, :math:`L = \frac1N\sum_j \ell(\theta; x_j)`, so its gradient is
the mean of per-device partial means. With a one-axis :class:`jax.sharding.Mesh` over all
devices, the points are split along that axis (``PartitionSpec("points")``) and the parameters
replicated (``PartitionSpec()``); ``jax.jit`` (inside :func:`nestax.fit`) then computes every
device's share locally and inserts the all-reduce of the gradient. Nothing else changes: the
same loss, the same optimizer, the same numbers up to the order of the floating-point sums.

Many hosts: call :func:`initialize` (``jax.distributed.initialize``) first on every host; the
mesh then spans the devices of all hosts, and :func:`shard_points` builds each global array
from the rows this host holds (``jax.make_array_from_process_local_data``): every host passes
*its own* points (for example sampled with seed ``seed + jax.process_index()``).

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (set before JAX is imported)
gives two devices to test with.

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

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "points"


def initialize(**kwargs: Any) -> None:
    """``jax.distributed.initialize(**kwargs)`` for multi-host runs (coordinator address,
    number of processes and process id, or auto-detected on SLURM / TPU / GKE)."""
    jax.distributed.initialize(**kwargs)


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
    """Shard every point set of a :class:`~nestax.pinn.Problem` in place; returns it."""
    for name, pts in problem.points.items():
        problem.points[name] = shard_points(pts, mesh)
    return problem
