r"""SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam") for optax.

SOAP runs Adam in the eigenbasis of Shampoo's preconditioner. For a matrix parameter
:math:`W \in ℝ^{m \times n}` with gradient :math:`G_t` at step :math:`t = 1, 2, \dots`:

.. math::
    L_t &= β_s L_{t-1} + (1-β_s)\, G_t G_t^\top, \qquad
    R_t = β_s R_{t-1} + (1-β_s)\, G_t^\top G_t, \\
    Q_L, Q_R &\leftarrow \text{eigenbases of } L_t, R_t
        \quad\text{when } (t-1) \bmod f = 0, \\
    M_t &= β_1 M_{t-1} + (1-β_1) G_t, \qquad
    V_t = β_2 V_{t-1} + (1-β_2) (Q_L^\top G_t Q_R)^{\odot 2}, \\
    u_t &= -η_t\, Q_L \Big[\frac{Q_L^\top M_t Q_R / (1-β_1^t)}
        {\sqrt{V_t / (1-β_2^t)} + ε}\Big] Q_R^\top \;-\; η_t\, w\, W_{t-1},

with :math:`f` = ``precondition_frequency``, :math:`β_s` = ``shampoo_beta`` (default
:math:`β_2`) and decoupled weight decay :math:`w`. The first momentum lives in the original
basis and is rotated at each step; the second moment lives in the rotated basis (it is not
rotated when the basis changes, as in the paper). The basis at :math:`t = 1` comes from
``jnp.linalg.eigh``; later refreshes take one step of power iteration with QR,
:math:`Q \leftarrow \mathrm{qr}(L\, Q)` after ordering the columns by the estimated eigenvalues
:math:`\mathrm{diag}(Q^\top L Q)` (descending, the second moment permuted alike), the
paper's cheaper variant; ``eigh=True`` uses ``eigh`` every time. Here :math:`L_t, R_t` include
:math:`G_t` before the refresh (the paper updates them after the step), so the first step
already runs in the eigenbasis of :math:`G_1`. Parameters that are not matrices (biases,
scalars, higher-rank arrays), and a side longer than ``max_precond_dim``, are not rotated: for
them this is Adam.

optax has no SOAP; this is a plain ``optax.GradientTransformation``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class SoapState(NamedTuple):
    """Step count, Adam's moments and, per matrix leaf, :math:`L, R, Q_L, Q_R` (empty
    ``(0, 0)`` arrays for a side that is not rotated)."""

    count: jax.Array
    mu: Any
    nu: Any
    left: Any
    right: Any
    q_left: Any
    q_right: Any


def soap(
    learning_rate: float | Callable[[Any], Any] = 3e-3,
    b1: float = 0.95,
    b2: float = 0.95,
    eps: float = 1e-8,
    precondition_frequency: int = 10,
    shampoo_beta: float | None = None,
    weight_decay: float = 0.0,
    max_precond_dim: int = 10000,
    eigh: bool = False,
) -> optax.GradientTransformation:
    r"""SOAP as an ``optax.GradientTransformation`` (maths in the module docstring).

    Args:
        learning_rate: :math:`η`, a float or an optax schedule of the step count.
        b1, b2: Adam's decay rates (the paper's defaults 0.95, 0.95).
        eps: Adam's :math:`ε`.
        precondition_frequency: :math:`f`, steps between refreshes of the eigenbases.
        shampoo_beta: decay of :math:`L, R` (default ``b2``).
        weight_decay: decoupled weight decay :math:`w` (needs ``params`` in ``update``).
        max_precond_dim: a side longer than this is not rotated.
        eigh: refresh with ``eigh`` every time instead of one QR power-iteration step.

    Example:
        >>> import jax.numpy as jnp, optax, nestax as nx
        >>> opt = nx.soap(learning_rate=1e-2, precondition_frequency=5)
        >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
        >>> state = opt.init(params)
        >>> grads = {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.ones(2)}
        >>> updates, state = opt.update(grads, state, params)
        >>> updates["w"].shape, int(state.count)
        ((3, 2), 1)
    """
    for name, v, ok in (
        ("b1", b1, 0 <= b1 < 1), ("b2", b2, 0 <= b2 < 1), ("eps", eps, eps >= 0),
        ("weight_decay", weight_decay, weight_decay >= 0),
        ("shampoo_beta", shampoo_beta, shampoo_beta is None or 0 <= shampoo_beta < 1),
    ):  # fmt: skip
        if not ok:
            raise ValueError(f"soap: argument `{name}` is out of range; got {v!r}")
    for name, v in (("precondition_frequency", precondition_frequency),
                    ("max_precond_dim", max_precond_dim)):  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"soap: argument `{name}` must be an integer >= 1; got {v!r}")
    beta_s = b2 if shampoo_beta is None else shampoo_beta

    def sides(x: jax.Array) -> tuple[bool, bool]:
        if x.ndim != 2:
            return False, False
        return x.shape[0] <= max_precond_dim, x.shape[1] <= max_precond_dim

    def factor(x: jax.Array, i: int) -> jax.Array:
        n = x.shape[i] if sides(x)[i] else 0
        return jnp.zeros((n, n), x.dtype)

    def init(params: Any) -> SoapState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        left = jax.tree.map(lambda x: factor(x, 0), params)
        right = jax.tree.map(lambda x: factor(x, 1), params)
        return SoapState(
            jnp.zeros((), jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params),
            left, right, left, right,
        )  # fmt: skip

    def update(grads: Any, state: SoapState, params: Any = None) -> tuple[Any, SoapState]:
        t = state.count + 1
        rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
        refresh = (t - 1) % precondition_frequency == 0
        first = t == 1

        def leaf(g, mu, nu, lf, rf, ql, qr):
            use_l, use_r = sides(g)
            if use_l:
                lf = beta_s * lf + (1 - beta_s) * g @ g.T
            if use_r:
                rf = beta_s * rf + (1 - beta_s) * g.T @ g
            if use_l or use_r:
                ql, qr, nu = jax.lax.cond(
                    refresh, lambda: _refresh(lf, rf, ql, qr, nu, first, use_l, use_r, eigh),
                    lambda: (ql, qr, nu),
                )  # fmt: skip
            rot = lambda x: _rotate(x, ql, qr, use_l, use_r)  # noqa: E731
            mu = b1 * mu + (1 - b1) * g
            nu = b2 * nu + (1 - b2) * rot(g) ** 2
            m_hat = rot(mu) / (1 - b1**t)
            v_hat = nu / (1 - b2**t)
            step = _rotate(m_hat / (jnp.sqrt(v_hat) + eps), ql.T, qr.T, use_l, use_r)
            return -rate * step, mu, nu, lf, rf, ql, qr

        out = jax.tree.map(
            leaf, grads, state.mu, state.nu, state.left, state.right, state.q_left, state.q_right
        )
        treedef = jax.tree.structure(grads)
        parts = list(zip(*(treedef.flatten_up_to(out)), strict=True))
        updates, mu, nu, lf, rf, ql, qr = (jax.tree.unflatten(treedef, p) for p in parts)
        if weight_decay:
            if params is None:
                raise ValueError("soap: weight_decay needs `params` in update")
            updates = jax.tree.map(lambda u, p: u - rate * weight_decay * p, updates, params)
        return updates, SoapState(t, mu, nu, lf, rf, ql, qr)

    return optax.GradientTransformation(init, update)


def _rotate(x, ql, qr, use_l, use_r):
    """:math:`Q_L^\\top x Q_R` on the rotated sides (identity on the others)."""
    if use_l:
        x = ql.T @ x
    if use_r:
        x = x @ qr
    return x


def _refresh(lf, rf, ql, qr, nu, first, use_l, use_r, eigh):
    """New eigenbases (and the second moment permuted with their columns)."""

    def basis(f, q, nu, axis):
        if eigh:
            return jnp.linalg.eigh(f)[1], nu

        def power() -> tuple[jax.Array, jax.Array]:
            # one step of power iteration, columns ordered by estimated eigenvalue (descending)
            order = jnp.argsort(-jnp.diagonal(q.T @ f @ q))
            q_new = jnp.linalg.qr(f @ q[:, order])[0]
            return q_new, jnp.take(nu, order, axis=axis)

        return jax.lax.cond(first, lambda: (jnp.linalg.eigh(f)[1], nu), power)

    if use_l:
        ql, nu = basis(lf, ql, nu, 0)
    if use_r:
        qr, nu = basis(rf, qr, nu, 1)
    return ql, qr, nu
