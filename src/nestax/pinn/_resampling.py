r"""Residual-based adaptive resampling (RAD; Wu, Zhu, Tan, Kartha, Lu 2023).

Between training rounds the interior collocation points are redrawn from a dense candidate
pool :math:`\{z_k\}` with probability

.. math::
    p(z_k) \propto \frac{|R(z_k)|^{k}}{\operatorname{mean}_l |R(z_l)|^{k}} + c,

so points go where the residual is large (the Burgers shock), while ``c > 0`` keeps a uniform
floor. ``k = 1, c = 1`` is the setting the paper recommends; ``c → ∞`` is uniform resampling and
``k → ∞`` greedy refinement (RAR). A fraction ``keep`` of the current points may be kept.

Example:
    >>> import jax, nestax as nx
    >>> from nestax import pinn
    >>> problem = pinn.Problem(lambda u, x: nx.laplacian(u)(x) + 1.0, pinn.Interval(0.0, 1.0),
    ...                        n_interior=32)
    >>> net = pinn.mlp(jax.random.key(0), 1, width=8, depth=2)
    >>> pinn.RAD(pool=256)(problem, net, jax.random.key(1)).shape
    (32, 1)
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._domains import METHODS
from ._sharding import local_value


class RAD:
    """Residual-based adaptive distribution: ``rad(problem, params, key) -> new interior points``.

    Args:
        pool: candidate points per resampling (``pool >= n_interior``).
        k, c: exponent and uniform floor of the density (see the module docstring).
        keep: fraction of the current points kept (the rest are redrawn).
        sampling: how the pool is drawn (``"sobol"``, ``"lhs"``, ``"uniform"``).
        batch: candidates evaluated per vectorised batch (memory bound).
    """

    def __init__(
        self,
        pool: int = 100_000,
        k: float = 1.0,
        c: float = 1.0,
        keep: float = 0.0,
        sampling: str = "sobol",
        batch: int = 20_000,
    ) -> None:
        if not (k >= 0 and c >= 0 and 0.0 <= keep < 1.0):
            raise ValueError(
                f"RAD: need k >= 0, c >= 0, 0 <= keep < 1; got k={k}, c={c}, keep={keep}"
            )
        if sampling not in METHODS:
            raise ValueError(f"RAD: unknown sampling={sampling!r}; expected one of {METHODS}")
        self.pool, self.k, self.c, self.keep = pool, k, c, keep
        self.sampling, self.batch, self.calls = sampling, batch, 0

    def density(self, problem, params, z: jax.Array) -> jax.Array:
        """Unnormalised sampling density at the candidates ``z`` (shape ``(n,)``)."""
        f = eqx.filter_jit(problem.pointwise_residual)
        r = jnp.concatenate(
            [f(params, z[i : i + self.batch]) for i in range(0, z.shape[0], self.batch)]
        )
        e = jnp.sqrt(r) ** self.k
        return e / jnp.mean(e) + self.c

    def __call__(self, problem, params, key: jax.Array) -> jax.Array:
        # computed on this process's default device from the whole values (the parameters
        # and points may be global arrays across processes; every process draws the same)
        params = jax.tree.map(
            lambda a: jnp.asarray(local_value(a)) if isinstance(a, jax.Array) else a, params
        )
        current = jnp.asarray(local_value(problem.points["residual"]))
        key = (
            jax.random.wrap_key_data(
                jnp.asarray(local_value(jax.random.key_data(key))), impl=jax.random.key_impl(key)
            )
            if jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
            else jnp.asarray(local_value(key))
        )
        n = current.shape[0]
        if self.pool < n:
            raise ValueError(f"RAD: `pool`={self.pool} must be >= the {n} interior points")
        self.calls += 1
        seed = problem.seed + 1_000_003 * self.calls
        z = jnp.asarray(problem.domain.sample(self.pool, method=self.sampling, seed=seed))
        p = self.density(problem, params, z)
        n_keep = int(self.keep * n)
        k_keep, k_new = jax.random.split(key)
        idx = jax.random.choice(k_new, self.pool, (n - n_keep,), replace=False, p=p / p.sum())
        kept = current[jax.random.permutation(k_keep, n)[:n_keep]]
        return jnp.concatenate([kept, z[idx]])
