"""The one tolerance helper and the small random networks the tests share."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "rbf": lambda z: jnp.exp(-(z**2)),
    "softplus": jax.nn.softplus,
}


def assert_close(actual, expected, *, rtol=1e-10, atol=1e-12, err_msg=""):
    """Compare in float64; the default tolerance is near round-off for small networks.

    Callers that loosen it say why in a comment.
    """
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=err_msg
    )


def init_mlp(key, sizes, scale=1.0):
    """Random dense layers [(W, b), ...] with W of shape (n_in, n_out)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        key, kw, kb = jax.random.split(key, 3)
        w = scale * jax.random.normal(kw, (n_in, n_out), jnp.float64) / jnp.sqrt(n_in)
        b = 0.5 * jax.random.normal(kb, (n_out,), jnp.float64)
        params.append((w, b))
    return params


def mlp(params, x, act=jnp.tanh):
    """Apply the MLP to one point x of shape (d,); returns shape (m,)."""
    h = x
    for w, b in params[:-1]:
        h = act(h @ w + b)
    w, b = params[-1]
    return h @ w + b
