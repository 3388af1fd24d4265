r"""# High dimensions: the reduced Laplacian and STDE

A Laplacian $\Delta u = \sum_{i=1}^d \partial_i^2 u$ of a network in $d = 1000$ dimensions
costs, per point, about $1 + 2d$ network passes with nested first-order AD and $d + 2$ with
collapsed Taylor mode. Two ways around that cost: for a network whose first layer is linear
(every MLP), `method="reduced"` pushes the $d$ directions through that layer once and
propagates only its $w$ outputs (the width) through the rest — exact; and `method="stde"`,
the stochastic Taylor derivative estimator, which samples $S$ directions and costs about
$S + 2$ passes whatever $d$ is — unbiased, not exact. This page computes both at
$d = 1000$ and compares them with the exact value.
"""

# %%
import time

import jax

jax.config.update("jax_enable_x64", True)  # so that the exact methods agree to ~1e-12
import jax.numpy as jnp

import nestax as nx

d, width = 1000, 32
k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
W1 = jax.random.normal(k1, (d, width)) / jnp.sqrt(d)
b1 = jax.random.normal(k2, (width,))
w2 = jax.random.normal(k3, (width,)) / jnp.sqrt(width)


def u(x):
    """A tanh MLP R^1000 -> R: u(x) = w2 . tanh(W1^T x + b1)."""
    return jnp.tanh(x @ W1 + b1) @ w2


x = jax.random.normal(jax.random.key(1), (d,)) / jnp.sqrt(d)

# %%
# ## The exact value, two ways
#
# A reference by hand: for this network $\Delta u(x) = \sum_j w_{2,j}\, \tanh''(z_j)
# \lVert W_{1,:j} \rVert^2$ with $z = W_1^\top x + b_1$ and $\tanh'' = -2 \tanh (1 - \tanh^2)$,
# independent of nestax. Then `method="reduced"`, and what `auto` picks for this shape.
z = x @ W1 + b1
t = jnp.tanh(z)
by_hand = jnp.sum(w2 * (-2 * t * (1 - t**2)) * jnp.sum(W1**2, axis=0))


def timed(f, *args):
    """(value, seconds) of a jitted f, compiled first."""
    g = jax.jit(f)
    g(*args).block_until_ready()
    start = time.perf_counter()
    value = g(*args).block_until_ready()
    return value, time.perf_counter() - start


reduced, t_reduced = timed(nx.laplacian(u, method="reduced"), x)
auto, _ = timed(nx.laplacian(u), x)
print(f"by hand : {float(by_hand): .12f}")
print(f"reduced : {float(reduced): .12f}   |diff| {abs(float(reduced - by_hand)):.1e}")
print(f"auto    : {float(auto): .12f}   |diff| {abs(float(auto - by_hand)):.1e}")
print(f"reduced took {t_reduced * 1e3:.2f} ms a point")

# %%
# `explain` says why: the first layer is linear, so the $d$ second-order directions collapse
# onto the $w = 32$ outputs of that layer before the rest of the network sees them.
print(nx.explain(nx.laplacian, u, x))

# %%
# ## STDE: a randomized estimate at a cost independent of d
#
# `method="stde"` takes `key=` (a PRNG key; one per point under `vmap`) and `samples=`. It
# draws $S$ of the $d$ coordinates without replacement and returns
# $\frac{d}{S} \sum_{i \in I} \partial_i^2 u$: unbiased, with the standard deviation of a mean
# of $S$ draws from a finite population, $\sigma \sqrt{(d - S) / (S (d - 1))}$, where
# $\sigma$ is the spread of $d\, \partial_i^2 u$ over the coordinates — about
# $\sigma / \sqrt{S}$ while $S \ll d$, and $0$ at $S = d$. Below, the mean and spread over
# 200 keys against that prediction (the diagonal $\partial_i^2 u = \sum_j w_{2,j}
# \tanh''(z_j) W_{1,ij}^2$ by hand).
diagonal = (W1**2) @ (w2 * (-2 * t * (1 - t**2)))  # d_i^2 u, i = 1..d
sigma = float(jnp.std(d * diagonal))
keys = jax.random.split(jax.random.key(2), 200)
for samples in (10, 100, 1000):
    stde = jax.jit(
        jax.vmap(lambda k, s=samples: nx.laplacian(u, "stde", key=k, samples=s)(x))
    )
    est = stde(keys)
    predicted = sigma * (max(d - samples, 0) / (samples * (d - 1))) ** 0.5
    print(
        f"S = {samples:4d}: mean {float(jnp.mean(est)): .4f} (exact {float(by_hand): .4f}), "
        f"spread {float(jnp.std(est)):.3f}, predicted {predicted:.3f}"
    )

# %%
# In a PINN loss the randomized Laplacian goes into the residual like any other operator,
# with a fresh key per point and per step (`nestax.fit` passes a `key` to losses that take
# one); the `sine-gordon-nd` example (`nestax run sine-gordon-nd`) trains at $d = 1000$ this
# way.
