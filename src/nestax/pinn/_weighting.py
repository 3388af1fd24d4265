r"""Loss weights: fixed, or learning-rate annealing (Wang, Teng, Perdikaris 2021).

Learning-rate annealing balances the gradients of the terms: with
:math:`g_r = \nabla_\theta L_\text{residual}` and :math:`g_i = \nabla_\theta L_i`,

.. math::
    \hat\lambda_i = \frac{\max_j |g_{r,j}|}{\operatorname{mean}_j |g_{i,j}|}, \qquad
    \lambda_i \leftarrow (1 - \alpha)\lambda_i + \alpha \hat\lambda_i ,

a moving average updated between training rounds (:meth:`nestax.pinn.Problem.train`), the
residual's weight staying 1.

Example:
    >>> import jax, nestax as nx
    >>> from nestax import pinn
    >>> problem = pinn.Problem(lambda u, x: nx.laplacian(u)(x) + 1.0, pinn.Interval(0.0, 1.0),
    ...                        [pinn.Dirichlet(0.0)], n_interior=32)
    >>> net = pinn.mlp(jax.random.key(0), 1, width=8, depth=2)
    >>> w = pinn.LRAnnealing().update(problem, net)
    >>> sorted(w), w["residual"]
    (['dirichlet', 'residual'], 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp


class FixedWeights:
    """Constant weights ``{term: λ}`` (missing terms weigh 1)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        bad = {k: v for k, v in weights.items() if not float(v) >= 0}
        if bad:
            raise ValueError(f"FixedWeights: weights must be >= 0; got {bad}")
        self.weights = dict(weights)

    def update(self, problem, params) -> dict[str, float]:
        return {k: self.weights.get(k, 1.0) for k in problem.terms}


class LRAnnealing:
    """Learning-rate annealing weights, updated by :meth:`update` (``alpha``: averaging rate)."""

    def __init__(self, alpha: float = 0.1) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"LRAnnealing: argument `alpha` must be in (0, 1]; got {alpha!r}")
        self.alpha, self.weights = alpha, None

    def estimate(self, problem, params) -> dict[str, float]:
        """The instantaneous :math:`\\hat\\lambda_i` at ``params``."""
        loss = problem.loss()
        out = {"residual": 1.0}
        grads = {}
        for name in problem.terms:
            g = eqx.filter_grad(lambda p, name=name: loss(p)[name])(params)
            grads[name] = jnp.concatenate(
                [jnp.abs(jnp.ravel(a)) for a in jax.tree.leaves(eqx.filter(g, eqx.is_array))]
            )
        top = float(jnp.max(grads["residual"]))
        for name in problem.terms[1:]:
            out[name] = top / max(float(jnp.mean(grads[name])), 1e-30)
        return out

    def update(self, problem, params) -> dict[str, float]:
        est = self.estimate(problem, params)
        if self.weights is None:
            self.weights = est
        else:
            a = self.alpha
            self.weights = {k: (1 - a) * self.weights[k] + a * est[k] for k in est}
        return dict(self.weights)
