r"""``Problem``: a PDE residual, a domain and conditions → the loss terms ``nestax.fit`` minimises.

For a trial function :math:`u_\theta` (the network, possibly wrapped by a
:class:`~nestax.pinn.HardConstraint`), collocation points :math:`\{x_j\}_{j=1}^{N}` inside the
domain and points :math:`\{y^{(c)}_j\}` for each soft condition :math:`c`, the loss terms are

.. math::
    L_\text{residual}(\theta) = \frac1N \sum_j |R[u_\theta](x_j)|^2, \qquad
    L_c(\theta) = \frac{1}{N_c} \sum_j |B_c[u_\theta](y^{(c)}_j)|^2,

each multiplied by its weight :math:`\lambda` (fixed, or adapted between training rounds:
:mod:`._weighting`). The residual :math:`R` is written with nestax operators on the point
function ``u``: ``residual(u, x)``, e.g. ``lambda u, x: nx.laplacian(u)(x) + f(x)``.

The network is ``net(params, x) -> scalar`` for one point ``x``; by default ``params`` itself is
called (an equinox module such as :func:`mlp`).

Example:
    >>> import jax, jax.numpy as jnp, nestax as nx
    >>> from nestax import pinn
    >>> problem = pinn.Problem(
    ...     lambda u, x: nx.laplacian(u)(x) + 2.0,            # -Δu = 2 on [0, 1]
    ...     pinn.Interval(0.0, 1.0), [pinn.Dirichlet(0.0)], n_interior=64, n_boundary=2)
    >>> net = pinn.mlp(jax.random.key(0), 1, width=8, depth=2)
    >>> sorted(problem.loss()(net))
    ['dirichlet', 'residual']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

from . import _evaluate
from ._conditions import Condition, HardConstraint
from ._domains import METHODS, Domain
from ._sharding import reshard_like

Net = Callable[[Any, jax.Array], jax.Array]


def mlp(
    key: jax.Array,
    d: int,
    *,
    width: int = 32,
    depth: int = 4,
    activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
    dtype: Any = None,
) -> eqx.nn.MLP:
    """A scalar-valued MLP ``ℝ^d → ℝ`` (``depth`` hidden layers of ``width`` units)."""
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    return eqx.nn.MLP(d, "scalar", width, depth, activation=activation, dtype=dtype, key=key)


def _default_net(params: Any, x: jax.Array) -> jax.Array:
    return jnp.reshape(params(x), ())


class Problem:
    """A PDE problem: residual, domain, soft conditions, exact constraint and points.

    Args:
        residual: ``residual(u, x)`` → the PDE residual at one point (a scalar, or an array of
            equations), ``u`` the trial function of one point.
        domain: a :class:`~nestax.pinn.Domain`.
        conditions: soft conditions (:class:`~nestax.pinn.Dirichlet`, ...), each a loss term.
        n_interior: number of collocation points inside the domain.
        n_boundary: points per condition (default ``max(n_interior // 8, 2)``).
        sampling: ``"sobol"`` (default), ``"lhs"`` or ``"uniform"``.
        seed: seed of the host-side samplers.
        constraint: a :class:`~nestax.pinn.HardConstraint` wrapping the network (optional).
        net: ``net(params, x)`` → scalar; default calls ``params(x)``.
    """

    def __init__(
        self,
        residual: Callable[[Callable[[jax.Array], jax.Array], jax.Array], jax.Array],
        domain: Domain,
        conditions: Sequence[Condition] = (),
        *,
        n_interior: int = 2000,
        n_boundary: int | None = None,
        sampling: str = "sobol",
        seed: int = 0,
        constraint: HardConstraint | None = None,
        net: Net | None = None,
    ) -> None:
        if not callable(residual):
            raise TypeError(
                f"Problem: argument `residual` must be a function (u, x) -> residual; "
                f"got {type(residual).__name__}"
            )
        if not isinstance(domain, Domain):
            raise TypeError(f"Problem: argument `domain` must be a Domain; got {domain!r}")
        for c in conditions:
            if not isinstance(c, Condition):
                raise TypeError(f"Problem: every condition must be a Condition; got {c!r}")
        if sampling not in METHODS:
            raise ValueError(f"Problem: unknown sampling={sampling!r}; expected one of {METHODS}")
        if constraint is not None and not isinstance(constraint, HardConstraint):
            raise TypeError(f"Problem: `constraint` must be a HardConstraint; got {constraint!r}")
        for arg, n in (("n_interior", n_interior), ("n_boundary", n_boundary)):
            if n is None and arg == "n_boundary":
                continue
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
                raise ValueError(f"Problem: argument `{arg}` must be an integer >= 1; got {n!r}")
        self.residual, self.domain, self.constraint = residual, domain, constraint
        self.net = _default_net if net is None else net
        self.sampling, self.seed = sampling, seed
        nb = max(n_interior // 8, 2) if n_boundary is None else n_boundary
        self.conditions: dict[str, Condition] = {}
        self.points: dict[str, jax.Array] = {
            "residual": jnp.asarray(domain.sample(n_interior, method=sampling, seed=seed))
        }
        for i, c in enumerate(conditions):
            name = c.name if c.name not in self.conditions else f"{c.name}_{i}"
            pts = jnp.asarray(c.points(domain, nb, sampling, seed + 101 * (i + 1)))
            c = c.bind(domain)  # a condition of this problem; the caller's is left as it was
            c.check(pts[0])  # data of the wrong shape is refused now, not broadcast
            self.conditions[name] = c
            self.points[name] = pts
        if constraint is not None:
            constraint.check(self.points["residual"][0])

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the loss terms, in order."""
        return ("residual", *self.conditions)

    def trial(self, params: Any) -> Callable[[jax.Array], jax.Array]:
        """The trial function :math:`u_\\theta` of one point (constraint applied)."""
        u = lambda x: self.net(params, x)  # noqa: E731
        return u if self.constraint is None else self.constraint.wrap(u)

    def pointwise_residual(self, params: Any, x: jax.Array) -> jax.Array:
        """:math:`|R[u_\\theta](x_j)|^2` at every row of ``x`` (shape ``(n,)``)."""
        u = self.trial(params)
        r = jax.vmap(lambda p: jnp.sum(jnp.asarray(self.residual(u, p)) ** 2))(x)
        return r

    def _loss_args(
        self, where: str, weights: Any, points: Any, resample: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checked weights and the point sets (the stored ones, overridden by ``points``)."""
        weights = dict(weights or {})
        unknown = set(weights) - set(self.terms)
        if unknown:
            raise ValueError(
                f"{where}: unknown weight names {sorted(unknown)}; terms are {self.terms}"
            )
        for name, w in weights.items():
            if isinstance(w, jax.core.Tracer):
                continue  # weights computed under a transformation are the caller's to check
            if not (np.ndim(w) == 0 and np.isfinite(w) and w >= 0):
                raise ValueError(
                    f"{where}: argument `weights` must be finite numbers >= 0; {name!r} is {w!r}"
                )
        points = dict(points or {})
        if unknown := sorted(set(points) - set(self.points)):
            raise ValueError(
                f"{where}: argument `points` has unknown keys {unknown}; the valid keys are "
                f"{sorted(self.points)}"
            )
        for name, x in points.items():
            shape = tuple(np.shape(x))
            if len(shape) != 2 or shape[1] != self.domain.dim or shape[0] < 1:
                raise ValueError(
                    f"{where}: argument `points`[{name!r}] must have shape (n, "
                    f"{self.domain.dim}) with n >= 1; got {shape}"
                )
        if isinstance(resample, bool) or not isinstance(resample, int) or resample < 0:
            raise ValueError(
                f"{where}: argument `resample` must be an integer >= 0 (0: the stored "
                f"points); got {resample!r}"
            )
        pts = dict(self.points)
        pts.update(points)
        return weights, pts

    def residuals(
        self,
        weights: Mapping[str, float] | None = None,
        points: Mapping[str, jax.Array] | None = None,
        resample: int = 0,
    ) -> nx.Residuals:
        r"""The loss of :meth:`loss` in residual form, for second-order stages of
        :func:`nestax.fit` (``nx.Stage("gauss-newton", ...)``).

        Each term is the vector :math:`\sqrt{λ/N}\,(R[u_θ](x_1), \dots, R[u_θ](x_N))`
        (equations of a vector residual flattened point by point), so
        :math:`\lVert r_\text{term}\rVert^2` is the term :meth:`loss` returns and calling the
        result gives the same dict. It is a :meth:`nestax.Residuals.pointwise`: the
        Gauss–Newton stage differentiates one point at a time with respect to the weights.
        Arguments as for :meth:`loss`.

        Example:
            >>> import jax, jax.numpy as jnp, nestax as nx
            >>> from nestax import pinn
            >>> problem = pinn.Problem(lambda u, x: nx.laplacian(u)(x) + 2.0,
            ...     pinn.Interval(0.0, 1.0), [pinn.Dirichlet(0.0)], n_interior=64, n_boundary=2)
            >>> net = pinn.mlp(jax.random.key(0), 1, width=8, depth=2)
            >>> res = problem.residuals()
            >>> {k: v.shape for k, v in res.residuals(net, res.data).items()}
            {'residual': (64,), 'dirichlet': (2,)}
        """
        weights, pts = self._loss_args("Problem.residuals", weights, points, resample)
        sample = None
        if resample:
            sample = lambda key: self.domain.sample_uniform(key, resample)  # noqa: E731

        def interior_residual(params: Any, x: jax.Array) -> jax.Array:
            return jnp.asarray(self.residual(self.trial(params), x))

        def terms(params: Any, data: Any = None, key: Any = None) -> dict[str, Any]:
            given, interior = _points(pts, sample, data, key)
            out = {"residual": (interior_residual, interior, interior.shape[0])}
            for name, c in self.conditions.items():

                def cond(params: Any, x: jax.Array, c: Condition = c) -> jax.Array:
                    return jnp.asarray(c.residual(self.trial(params), x))

                out[name] = (cond, given[name], given[name].shape[0])
            return {k: (fn, x, jnp.sqrt(weights.get(k, 1.0) / n)) for k, (fn, x, n) in out.items()}

        return nx.Residuals.pointwise(terms, pts)

    def loss(
        self,
        weights: Mapping[str, float] | None = None,
        points: Mapping[str, jax.Array] | None = None,
        resample: int = 0,
    ) -> PointsLoss:
        """``loss(params, data)`` → ``{term: λ_term · mean square}`` for :func:`nestax.fit`.

        The returned :class:`PointsLoss` carries the points as its ``data`` (a dict
        ``{term: (n, d) array}``); :func:`nestax.fit` passes them to the compiled step as an
        argument (never as constants baked into the program), so points sharded over several
        devices (:func:`~nestax.pinn.shard_problem`) stay sharded. ``loss(params)`` uses the
        stored points. ``weights`` default to 1; ``points`` override the stored ones (same
        keys). With ``resample=n > 0`` the loss is ``loss(params, data, key)`` and draws ``n``
        fresh uniform interior points per step (pass ``key=`` to ``nx.fit``; for Adam, not
        L-BFGS).
        """
        weights, pts = self._loss_args("Problem.loss", weights, points, resample)

        def terms(params, pts, interior):
            u = self.trial(params)
            out = {"residual": jnp.mean(self.pointwise_residual(params, interior))}
            for name, c in self.conditions.items():
                res = jax.vmap(lambda p, c=c: jnp.sum(jnp.asarray(c.residual(u, p)) ** 2))
                out[name] = jnp.mean(res(pts[name]))
            return {k: weights.get(k, 1.0) * v for k, v in out.items()}

        sample = None
        if resample:
            sample = lambda key: self.domain.sample_uniform(key, resample)  # noqa: E731
        return PointsLoss(terms, pts, sample)

    def train(
        self,
        params: Any,
        stages: Sequence[nx.Stage],
        *,
        rounds: int = 1,
        later_stages: Sequence[nx.Stage] | None = None,
        resampler: Any = None,
        weighting: Any = None,
        key: jax.Array | None = None,
        progress: bool = True,
        callback: Callable[[int, Any], Any] | None = None,
    ) -> TrainResult:
        """Train in ``rounds``; between rounds, ``resampler`` (:class:`~nestax.pinn.RAD`)
        replaces interior points and ``weighting`` (:class:`~nestax.pinn.LRAnnealing`)
        updates the weights. The first round runs ``stages`` with :func:`nestax.fit`, later
        rounds ``later_stages`` (default: ``stages`` again). A round with a
        ``"gauss-newton"`` stage trains :meth:`residuals`, else :meth:`loss`.
        ``callback(round, params)`` runs after each round; a truthy return stops."""
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(
                f"Problem.train: argument `rounds` must be an int >= 1; got {rounds!r}"
            )
        key = jax.random.key(self.seed) if key is None else key
        histories, wall, weights_log, boundaries, offset = [], 0.0, [], [], 0
        t0 = time.perf_counter()
        for r in range(rounds):
            key, k_res = jax.random.split(key)
            weights = None if weighting is None else weighting.update(self, params)
            weights_log.append(dict(weights or {}))
            todo = stages if r == 0 or later_stages is None else later_stages
            # a second-order stage needs the residual form (first-order stages see its sum)
            second = any(s.name == "gauss-newton" for s in todo)
            loss = self.residuals(weights) if second else self.loss(weights)
            result = nx.fit(loss, params, stages=todo, progress=progress)  # points: data
            params = result.params
            histories.append(result.history)
            if r > 0:
                boundaries.append((offset, f"RAD round {r + 1}" if resampler else f"round {r + 1}"))
            boundaries += _evaluate.stage_boundaries(todo, result.stage_steps, offset)
            offset += result.steps
            wall = time.perf_counter() - t0
            if callback is not None and callback(r, params):
                break
            if resampler is not None and r < rounds - 1:
                old = self.points["residual"]  # new points keep the old ones' sharding
                self.points["residual"] = reshard_like(resampler(self, params, k_res), old)
        history = {k: np.concatenate([h[k] for h in histories]) for k in histories[0]}
        return TrainResult(params, history, wall, weights_log, boundaries)


class PointsLoss:
    """The loss of a :class:`Problem`: ``loss(params, data=None, key=None)`` → the terms.

    ``data`` is a dict of point sets (``loss.data``, the problem's points, by default);
    :func:`nestax.fit` passes ``loss.data`` to its compiled step as an argument. With
    resampling, ``key`` draws the interior points (``loss(params, key)`` is accepted too).
    """

    def __init__(self, terms: Callable[..., Any], data: dict[str, Any], sample: Any) -> None:
        self._terms, self.data, self._sample = terms, data, sample

    def __call__(self, params: Any, data: Any = None, key: Any = None) -> dict[str, jax.Array]:
        return self._terms(params, *_points(self.data, self._sample, data, key))


def _points(
    stored: dict[str, Any], sample: Any, data: Any, key: Any
) -> tuple[dict[str, Any], jax.Array]:
    """The point sets of one call (``data`` or the stored ones) and the interior points (drawn
    from ``key`` with resampling)."""
    if key is None and data is not None and _is_key(data):  # the older loss(params, key)
        data, key = None, data
    pts = stored if data is None else data
    if not isinstance(pts, Mapping) or set(pts) != set(stored):
        raise ValueError(
            f"Problem.loss: argument `data` must be a dict with the keys "
            f"{sorted(stored)}; got {sorted(pts) if isinstance(pts, Mapping) else pts!r}"
        )
    if sample is None:
        return pts, pts["residual"]
    if key is None:
        raise TypeError("Problem.loss(resample=n): the loss needs a PRNG `key`")
    return pts, sample(key)


def _is_key(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return True
    return dtype == jnp.uint32 and np.shape(x) == (2,)


class TrainResult(eqx.Module):
    """Parameters after :meth:`Problem.train`, the history of every term over all rounds
    (concatenated), wall-clock seconds, the weights used in each round, and ``(step, label)``
    where each round and each stage in it began (for :func:`~nestax.pinn.plot_losses`)."""

    params: Any
    history: dict[str, np.ndarray]
    wall_seconds: float
    weights: list[dict[str, float]]
    boundaries: list[tuple[int, str]] = eqx.field(default_factory=list)
