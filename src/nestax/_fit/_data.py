"""The ``data`` of `fit`: a pytree of arrays passed to the compiled step, and where it lives.

The data (collocation points, a batch) are an argument of the jitted step, so XLA sees them as
inputs, not constants: arrays sharded over several devices keep their sharding, and the loss,
a mean over the rows, compiles to per-device partial sums and an all-reduce of the gradient.
For that the parameters, the optimizer state and the key must sit on the same devices,
replicated; :func:`replicate_like` puts them there (across processes too: every process holds
the same values, and each gives its own devices their copy).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def check_data(data: Any) -> Any:
    """``data`` with NumPy leaves moved to the device once; ``TypeError`` for other leaves."""
    if data is None:
        return None
    leaves, treedef = jax.tree.flatten(data)
    if not leaves:
        raise ValueError(f"fit: argument `data` must hold at least one array; got {data!r}")
    out = []
    for path, x in jax.tree_util.tree_flatten_with_path(data)[0]:
        if isinstance(x, jax.Array):
            out.append(x)
        elif isinstance(x, np.ndarray | np.generic | float | int) and not isinstance(x, bool):
            out.append(jnp.asarray(x) if jax.process_count() == 1 else x)
        else:
            where = jax.tree_util.keystr(path) or "(the root)"
            raise TypeError(
                f"fit: argument `data` must be a pytree of arrays; the leaf at {where} is "
                f"{type(x).__name__}"
            )
    return jax.tree.unflatten(treedef, out)


def data_sharding(data: Any) -> NamedSharding | None:
    """The replicated sharding over the devices of the first multi-device array in ``data``
    (``None`` when every array lives on one device of this process)."""
    for x in jax.tree.leaves(data):
        if not isinstance(x, jax.Array):
            continue
        sharding = x.sharding
        if len(sharding.device_set) < 2 and sharding.is_fully_addressable:
            continue
        if isinstance(sharding, NamedSharding):
            return NamedSharding(sharding.mesh, PartitionSpec())
        devices = sorted(sharding.device_set, key=lambda d: d.id)
        return NamedSharding(Mesh(np.asarray(devices), ("data",)), PartitionSpec())
    return None


def replicate_like(tree: Any, data: Any) -> Any:
    """Every array of ``tree`` replicated over the devices ``data`` is spread over (as is when
    ``data`` lives on one device)."""
    sharding = None if data is None else data_sharding(data)
    if sharding is None:
        return tree

    def put(x: Any) -> Any:
        if _is_key(x):
            return jax.random.wrap_key_data(
                put(jax.random.key_data(x)), impl=jax.random.key_impl(x)
            )
        if not isinstance(x, jax.Array | np.ndarray | np.generic):
            return x
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return jax.device_put(x, sharding)  # a global array: resharded by XLA
        return jax.device_put(np.asarray(x), sharding)  # this process's copy of the value

    return jax.tree.map(put, tree)
