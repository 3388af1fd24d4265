"""The networks the field trains, as fixtures: ``auto`` equals nested AD on each of them.

For every network: the Laplacian (and for the small-input ones the biharmonic) by ``auto``
and by the Taylor engine explicitly, values and parameter gradients, against nested
``jax.jacfwd`` in float64. The engine is also held to its claim: where
``unsupported_reason`` says it can run a network, the explicit Taylor methods must succeed.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nestax as nx
from nestax._taylor import unsupported_reason

from ._helpers import assert_close

D = 3
KEY = jax.random.key(42)


def _layers(*spec):
    """``{name: (W, b)}`` for ``(name, n_in, n_out)`` in ``spec``, one key of KEY each."""
    keys = jax.random.split(KEY, len(spec))
    return {name: _dense(k, n_in, n_out) for k, (name, n_in, n_out) in zip(keys, spec, strict=True)}


def _tanh_layer(p, name, h):
    w, b = p[name]
    return jnp.tanh(h @ w + b)


def _gate(h, u, v):  # the encoders' gate of the modified MLP and PirateNet
    return h * u + (1 - h) * v


def _dense(key, n_in, n_out, scale=1.0):
    kw, kb = jax.random.split(key)
    w = scale * jax.random.normal(kw, (n_in, n_out)) / math.sqrt(n_in)
    return w, 0.1 * jax.random.normal(kb, (n_out,))


# --------------------------------------------------------------------------- the networks


def equinox_mlp():
    model = eqx.nn.MLP(D, 1, 16, 2, activation=jax.nn.softplus, key=KEY)
    params, static = eqx.partition(model, eqx.is_array)
    return params, lambda p, x: eqx.combine(p, static)(x)[0]


def siren():
    """SIREN (Sitzmann et al. 2020): sin activations, omega_0 = 30, their initialisation."""
    keys = jax.random.split(KEY, 3)
    w0 = jax.random.uniform(keys[0], (D, 16), minval=-1 / D, maxval=1 / D)
    bound = math.sqrt(6 / 16) / 30
    w1 = jax.random.uniform(keys[1], (16, 16), minval=-bound, maxval=bound)
    w2 = jax.random.uniform(keys[2], (16, 1), minval=-bound, maxval=bound)
    params = {"w0": w0, "w1": w1, "w2": w2}

    def net(p, x):
        h = jnp.sin(30.0 * (x @ p["w0"]))
        h = jnp.sin(30.0 * (h @ p["w1"]))
        return (h @ p["w2"])[0]

    return params, net


def fourier_features():
    k1, k2, k3 = jax.random.split(KEY, 3)
    params = {
        "B": 2.0 * jax.random.normal(k1, (D, 8)),
        "l1": _dense(k2, 16, 16),
        "l2": _dense(k3, 16, 1),
    }

    def net(p, x):
        z = 2 * jnp.pi * x @ p["B"]
        h = jnp.concatenate([jnp.cos(z), jnp.sin(z)])
        h = _tanh_layer(p, "l1", h)
        return (h @ p["l2"][0] + p["l2"][1])[0]

    return params, net


def modified_mlp():
    """The modified MLP of Wang, Teng & Perdikaris (jaxpi): two encoders gate every layer."""
    params = _layers(("u", D, 16), ("v", D, 16), ("h0", D, 16), ("h1", 16, 16), ("out", 16, 1))

    def net(p, x):
        u, v = _tanh_layer(p, "u", x), _tanh_layer(p, "v", x)
        h = _gate(_tanh_layer(p, "h0", x), u, v)
        h = _gate(_tanh_layer(p, "h1", h), u, v)
        return (h @ p["out"][0] + p["out"][1])[0]

    return params, net


def pirate_net():
    """A PirateNet block (Wang et al. 2024): gated residual with a learnable alpha (0 at init,
    as the paper starts, and 0.3 here so the residual path is exercised)."""
    params = _layers(
        ("u", D, 16), ("v", D, 16), ("emb", D, 16), ("f", 16, 16), ("g", 16, 16), ("out", 16, 1)
    )
    params["alpha"] = jnp.asarray(0.3)

    def net(p, x):
        phi = _tanh_layer(p, "emb", x)
        u, v = _tanh_layer(p, "u", x), _tanh_layer(p, "v", x)
        z1 = _gate(_tanh_layer(p, "f", phi), u, v)
        z2 = _gate(_tanh_layer(p, "g", z1), u, v)
        h = p["alpha"] * z2 + (1 - p["alpha"]) * phi
        return (h @ p["out"][0] + p["out"][1])[0]

    return params, net


def _layer_norm(h, scale, shift):
    mu = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.var(h, axis=-1, keepdims=True)
    return (h - mu) * jax.lax.rsqrt(var + 1e-5) * scale + shift


def resnet_layernorm():
    ks = jax.random.split(KEY, 4)
    params = {
        "in": _dense(ks[0], D, 16),
        "b1": _dense(ks[1], 16, 16),
        "b2": _dense(ks[2], 16, 16),
        "out": _dense(ks[3], 16, 1),
        "ln": (jnp.ones(16), jnp.zeros(16)),
    }

    def net(p, x):
        h = x @ p["in"][0] + p["in"][1]
        for blk in ("b1", "b2"):
            h = h + jax.nn.gelu(_layer_norm(h, *p["ln"]) @ p[blk][0] + p[blk][1])
        return (h @ p["out"][0] + p["out"][1])[0]

    return params, net


def attention_block():
    """Self-attention over the coordinates as tokens (softmax, layer norm, residual)."""
    ks = jax.random.split(KEY, 5)
    e = 8
    params = {
        "emb": jax.random.normal(ks[0], (1, e)),
        "q": _dense(ks[1], e, e)[0],
        "k": _dense(ks[2], e, e)[0],
        "v": _dense(ks[3], e, e)[0],
        "out": _dense(ks[4], e, 1),
    }

    def net(p, x):
        t = x[:, None] * p["emb"] + jnp.arange(D)[:, None] / D  # (D, e) tokens
        q, k, v = t @ p["q"], t @ p["k"], t @ p["v"]
        a = jax.nn.softmax(q @ k.T / math.sqrt(e), axis=-1)
        h = _layer_norm(t + a @ v, 1.0, 0.0)
        return jnp.mean((h @ p["out"][0])[:, 0] + p["out"][1][0])

    return params, net


def kan_layer():
    """A KAN layer (Liu et al. 2024) with Gaussian RBF bases (FastKAN): x[..., None] - grid."""
    grid = jnp.linspace(-1.0, 1.0, 5)
    ks = jax.random.split(KEY, 2)
    params = {
        "c1": 0.3 * jax.random.normal(ks[0], (D, 5, 6)),
        "c2": 0.3 * jax.random.normal(ks[1], (6, 5)),
    }

    def net(p, x):
        phi = jnp.exp(-(((x[:, None] - grid[None, :]) / 0.5) ** 2))  # (D, 5)
        h = jnp.einsum("ik,iko->o", phi, p["c1"]) + jnp.einsum("i,iko->o", jax.nn.silu(x), p["c1"])
        phi2 = jnp.exp(-(((jnp.tanh(h)[:, None] - grid[None, :]) / 0.5) ** 2))
        return jnp.sum(phi2 * p["c2"])

    return params, net


def ferminet_slogdet():
    """A FermiNet-style log |det| of orbitals: a (3, 3) matrix of functions of the point."""
    ks = jax.random.split(KEY, 2)
    params = {"w": _dense(ks[0], D, 9), "env": jnp.array([0.5, 0.7, 0.9])}

    def net(p, x):
        orb = _tanh_layer(p, "w", x).reshape(3, 3)
        env = jnp.exp(-p["env"] * jnp.sum(x**2))[:, None]
        return jnp.linalg.slogdet(orb * env + jnp.eye(3))[1]

    return params, net


def scan_over_layers():
    """Equinox users scan over stacked layers (one compiled layer for the depth)."""
    ks = jax.random.split(KEY, 3)
    params = {
        "in": _dense(ks[0], D, 16),
        "stack": 0.5 * jax.random.normal(ks[1], (3, 16, 16)) / 4,
        "out": _dense(ks[2], 16, 1),
    }

    def net(p, x):
        h = _tanh_layer(p, "in", x)
        h, _ = jax.lax.scan(lambda h, w: (jnp.tanh(h @ w) + h, None), h, p["stack"])
        return (h @ p["out"][0] + p["out"][1])[0]

    return params, net


def flax_nnx_softplus():
    """A flax.nnx MLP with softplus at the origin with zero biases: softplus's custom_jvp rule
    is met at exact ties."""
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(D, 16, rngs=rngs, bias_init=nnx.initializers.zeros)
            self.l2 = nnx.Linear(16, 1, rngs=rngs, bias_init=nnx.initializers.zeros)

        def __call__(self, x):
            return self.l2(jax.nn.softplus(self.l1(x)))[0]

    model = MLP(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    return state, lambda s, x: nnx.merge(graphdef, s)(x)


NETWORKS = {
    "equinox_mlp": equinox_mlp,
    "siren": siren,
    "fourier_features": fourier_features,
    "modified_mlp": modified_mlp,
    "pirate_net": pirate_net,
    "resnet_layernorm": resnet_layernorm,
    "attention_block": attention_block,
    "kan_layer": kan_layer,
    "ferminet_slogdet": ferminet_slogdet,
    "scan_over_layers": scan_over_layers,
    "flax_nnx_softplus": flax_nnx_softplus,
}


def _point(name):
    return jnp.zeros(D) if name == "flax_nnx_softplus" else jnp.array([0.31, -0.42, 0.17])


def _laplacian_ref(net, params, x):
    return jnp.trace(jax.jacfwd(jax.jacfwd(lambda z: net(params, z)))(x))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_laplacian_auto_and_engine_equal_nested_ad(name):
    params, net = NETWORKS[name]()
    x = _point(name)
    # everything jitted, as in training (eagerly, every primitive compiles on its own: 3-4x
    # the time for the attention block)
    ref = jax.jit(lambda z: _laplacian_ref(net, params, z))(x)
    f = lambda z: net(params, z)
    assert unsupported_reason(f, x, order=2) is None  # the engine claims every one of them
    for method in ("auto", "taylor", "collapsed"):
        # SIREN's omega_0 = 30 makes second derivatives of size ~1e3: relative tolerance
        assert_close(jax.jit(nx.laplacian(f, method=method))(x), ref, rtol=1e-9, atol=1e-9)
    got = jax.jit(jax.grad(lambda p: nx.laplacian(lambda z: net(p, z))(x)))(params)
    expected = jax.jit(jax.grad(lambda p: _laplacian_ref(net, p, x)))(params)
    for g, e in zip(
        jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected), strict=True
    ):
        assert_close(g, e, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(
    "name", ["equinox_mlp", "kan_layer", "flax_nnx_softplus", "resnet_layernorm"]
)
def test_biharmonic_auto_equals_nested_ad(name):
    params, net = NETWORKS[name]()
    x = _point(name)
    f = lambda z: net(params, z)
    t = jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.jacfwd(f))))(x)
    assert_close(nx.apply(nx.Biharmonic(), f)(x), jnp.einsum("iijj->", t), rtol=1e-8, atol=1e-8)


def test_flax_softplus_at_the_origin_uses_the_rule():
    """The reproducer of the issue: a flax.nnx softplus MLP at the origin (zero biases)."""
    params, net = flax_nnx_softplus()
    x = jnp.zeros(D)
    f = lambda z: net(params, z)
    value = nx.laplacian(f)(x)
    assert_close(value, _laplacian_ref(net, params, x))
    assert np.isfinite(float(value))
