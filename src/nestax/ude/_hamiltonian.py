r"""Hamiltonian dynamics from a learned energy: the right-hand side is a network derivative.

For a Hamiltonian :math:`H(q, p)` on :math:`u = (q, p) \in \mathbb{R}^{2n}`, the flow is the
symplectic gradient

.. math:: u' = J \nabla H(u) = \Big(\frac{\partial H}{\partial p},\ -\frac{\partial H}{\partial
    q}\Big), \qquad J = \begin{pmatrix} 0 & I_n \\ -I_n & 0 \end{pmatrix}.

With :math:`H` a network, training the ODE through the solver differentiates :math:`\nabla H`
(a derivative of the network with respect to its input, taken by :func:`nestax.gradient`) with
respect to the weights, through every step of the solve. Any such flow conserves :math:`H`
exactly, :math:`\frac{d}{dt} H(u) = \nabla H^\top J \nabla H = 0`, so the learned energy is
constant along solutions up to the solver's error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._operators._first import gradient
from ._model import UDE

__all__ = ["hamiltonian_ude", "symplectic_gradient"]


def symplectic_gradient(H: Callable[..., Any], *, method: str = "auto") -> Callable[..., Any]:
    r"""The Hamiltonian vector field :math:`u \mapsto J \nabla H(u)` of a scalar ``H``.

    Args:
        H: maps a state ``u = (q, p)`` of shape ``(2n,)`` (positions first) to a scalar.
        method: the strategy of :func:`nestax.gradient` for :math:`\nabla H`.

    Returns:
        A function of ``u`` (shape ``(2n,)``) returning :math:`(\partial_p H, -\partial_q H)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from nestax.ude import symplectic_gradient
        >>> H = lambda u: 0.5 * u[1] ** 2 + 0.5 * u[0] ** 2  # harmonic oscillator
        >>> symplectic_gradient(H)(jnp.array([1.0, 2.0])).tolist()  # (p, -q)
        [2.0, -1.0]
    """
    if not callable(H):
        raise TypeError(f"symplectic_gradient: argument `H` must be callable; got {type(H)}")
    grad_h = gradient(H, method=method)

    def field(u: Any) -> jax.Array:
        u = jnp.asarray(u)
        if u.ndim != 1 or u.shape[0] % 2:
            raise ValueError(
                "symplectic_gradient: the state `u` must be (q, p) of shape (2n,); got shape "
                f"{tuple(u.shape)}"
            )
        n = u.shape[0] // 2
        g = grad_h(u)
        return jnp.concatenate([g[n:], -g[:n]])

    return field


def hamiltonian_ude(*, method: str = "auto", **options: Any) -> UDE:
    r"""A :class:`UDE` whose ``params`` are a Hamiltonian ``H`` and whose flow is :math:`J\nabla H`.

    ``ude.solve(H, u0, ts)`` integrates :math:`u' = J \nabla H(u)` for a scalar point function
    ``H`` (a network: an equinox module, or any callable pytree); ``jax.grad`` with respect to
    ``H``'s weights goes through the solve and through :math:`\nabla H`.

    Args:
        method: the strategy of :func:`nestax.gradient` for :math:`\nabla H`.
        **options: the solver options of :class:`UDE` (``solver``, ``rtol``, ``atol``,
            ``stepsize_controller``, ``dt0``, ``adjoint``, ``max_steps``, ``on_failure``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from nestax.ude import hamiltonian_ude
        >>> ude = hamiltonian_ude(rtol=1e-10, atol=1e-10)
        >>> H = lambda u: 0.5 * (u[0] ** 2 + u[1] ** 2)  # q(t) = cos t from (1, 0)
        >>> sol = ude.solve(H, jnp.array([1.0, 0.0]), jnp.array([0.0, jnp.pi]))
        >>> bool(jnp.allclose(sol.ys[-1], jnp.array([-1.0, 0.0]), atol=1e-8))
        True
    """
    return UDE(_HamiltonianField(method), **options)


@dataclasses.dataclass(frozen=True)
class _HamiltonianField:
    """``(t, u, H, args) -> J ∇H(u)``; hashable, so equal UDEs share compiled code."""

    method: str

    def __call__(self, t: Any, u: Any, H: Any, args: Any) -> jax.Array:
        return symplectic_gradient(H, method=self.method)(u)
