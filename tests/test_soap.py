"""SOAP against a direct numpy implementation of its defining recurrences (float64).

The cases keep every eigenbasis the recurrences use unique up to the signs of its columns
(SOAP's update does not depend on those signs): a gradient's Gram matrix of rank one has a
degenerate null space, and the cases are chosen so that no update reads it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import nestax as nx

from ._helpers import assert_close


def _grad(w):
    """A gradient that depends on the parameters nonlinearly."""
    target = np.arange(w.size, dtype=float).reshape(w.shape) / 3.0 - 0.5
    return np.sin(w) * 0.3 + (w - target) + 0.1 * w**2


def _numpy_soap(w, steps, lr, b1, b2, eps, freq, beta_s, eigh_always):
    m, n = w.shape
    L, R = np.zeros((m, m)), np.zeros((n, n))
    QL, QR = np.zeros((m, m)), np.zeros((n, n))
    M, V = np.zeros_like(w), np.zeros_like(w)
    updates = []
    for t in range(1, steps + 1):
        G = _grad(w)
        L = beta_s * L + (1 - beta_s) * G @ G.T
        R = beta_s * R + (1 - beta_s) * G.T @ G
        if (t - 1) % freq == 0:
            if t == 1 or eigh_always:
                QL, QR = np.linalg.eigh(L)[1], np.linalg.eigh(R)[1]
            else:
                order = np.argsort(-np.diag(QL.T @ L @ QL))
                QL, V = np.linalg.qr(L @ QL[:, order])[0], V[order, :]
                order = np.argsort(-np.diag(QR.T @ R @ QR))
                QR, V = np.linalg.qr(R @ QR[:, order])[0], V[:, order]
        M = b1 * M + (1 - b1) * G
        V = b2 * V + (1 - b2) * (QL.T @ G @ QR) ** 2
        m_hat = QL.T @ M @ QR / (1 - b1**t)
        v_hat = V / (1 - b2**t)
        u = -lr * QL @ (m_hat / (np.sqrt(v_hat) + eps)) @ QR.T
        updates.append(u)
        w = w + u
    return updates


@pytest.mark.parametrize(
    "shape, freq, eigh_always",
    [((2, 3), 1, True), ((2, 2), 2, False), ((3, 2), 1, False)],
)
def test_three_steps_follow_the_recurrences(shape, freq, eigh_always):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=shape)
    bias0 = rng.normal(size=shape[1])
    settings = dict(b1=0.9, b2=0.8, eps=1e-8, precondition_frequency=freq)
    opt = nx.soap(learning_rate=0.05, shampoo_beta=0.7, eigh=eigh_always, **settings)
    adam = optax.adam(0.05, b1=0.9, b2=0.8, eps=1e-8)  # the bias: not a matrix, plain Adam
    params = {"w": jnp.asarray(w0), "b": jnp.asarray(bias0)}
    state, adam_state = opt.init(params), adam.init(params["b"])
    update = jax.jit(opt.update)
    expected = _numpy_soap(w0, 3, 0.05, 0.9, 0.8, 1e-8, freq, 0.7, eigh_always)
    for t in range(3):
        grads = {"w": jnp.asarray(_grad(np.asarray(params["w"]))), "b": params["b"] - 1.0}
        updates, state = update(grads, state, params)
        assert_close(updates["w"], expected[t], rtol=1e-9, atol=1e-12, err_msg=f"step {t + 1}")
        bias_update, adam_state = adam.update(grads["b"], adam_state)
        assert_close(updates["b"], bias_update)
        params = optax.apply_updates(params, updates)
    assert int(state.count) == 3


def test_soap_stage_trains_and_checks_its_settings():
    target = jnp.arange(6.0).reshape(2, 3) / 6

    def loss(p):
        return jnp.sum((jnp.tanh(p["w"]) - target) ** 2) + jnp.sum((p["b"] - 0.5) ** 2)

    params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    stage = nx.Stage("soap", 300, learning_rate=2e-2, precondition_frequency=5)
    result = nx.fit(loss, params, stage, progress=False)
    assert result.history["total"][-1] < 1e-3 * result.history["total"][0]
    with pytest.raises(ValueError, match="argument `precondition_frequency` must be an integer"):
        nx.Stage("soap", 3, precondition_frequency=0)
    with pytest.raises(ValueError, match="argument `b2` is out of range; got 1.5"):
        nx.soap(b2=1.5)
