"""One stage of training: an optax optimizer run for a fixed number of steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

from ._gauss_newton import GaussNewton
from ._soap import soap

# name -> (optax constructor, default learning rate). `None` for L-BFGS means: no scaling of the
# step its zoom line search accepts (optax's default).
_OPTIMIZERS: dict[str, tuple[Callable[..., optax.GradientTransformation], float | None]] = {
    "adam": (optax.adam, 1e-3),
    "adamw": (optax.adamw, 1e-3),
    "sgd": (optax.sgd, 1e-3),
    "lbfgs": (optax.lbfgs, None),
    "soap": (soap, 3e-3),
}


class Stage:
    r"""``steps`` steps of one optimizer; :func:`nestax.fit` runs a list of stages in order.

    Each step maps parameters :math:`θ_k` to :math:`θ_{k+1} = θ_k + u_k`, where the update
    :math:`u_k` comes from the optimizer's transformation of :math:`∇_θ L(θ_k)`, with
    :math:`L = \sum_i L_i` the total of the loss terms. The optimizer state starts afresh at
    the beginning of each stage (a schedule's step count included).

    Args:
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"``, ``"soap"`` (:func:`nestax.soap`),
            ``"gauss-newton"`` (below) or
            ``"lbfgs"`` (optax's L-BFGS with its zoom line search, fed the loss value and
            gradient it stores, as optax documents), or any ``optax.GradientTransformation``.
            A transformation whose state holds a ``value`` (L-BFGS, a line search with
            ``store_grad=True``) is treated as a line search: its update receives ``value``,
            ``grad`` and ``value_fn``.
        steps: number of steps, an integer ``>= 1``.
        learning_rate: a float or an optax schedule ``count -> rate``. Defaults: 1e-3 for
            ``"adam"``, ``"adamw"`` and ``"sgd"``; 3e-3 for ``"soap"``; ``None`` (the
            line-search step) for ``"lbfgs"``. Not allowed with a transformation passed directly.
        **options: further keyword arguments of the optax constructor (``b1``,
            ``weight_decay``, ``memory_size``, ``linesearch``, ...), or the settings of a
            ``"gauss-newton"`` stage.

    ``"gauss-newton"`` is a second-order stage for a residual-form loss
    (:class:`nestax.Residuals`, e.g. :meth:`nestax.pinn.Problem.residuals`): each step solves
    the damped normal equations :math:`(J^\top J + λI)δ = -J^\top r` of the stacked residual
    :math:`r` (in sample space by the Woodbury identity when there are fewer residuals than
    parameters), with Levenberg–Marquardt damping adapted by the gain ratio, an optional grid
    line search, and a matrix-free CG variant (``solver="cg"``). On PINN residuals this is the
    energy natural gradient (ENGD, Müller & Zeinhofer 2023). Settings: ``damping``,
    ``adaptive``, ``increase``, ``decrease``, ``min_damping``, ``max_damping``, ``min_gain``,
    ``linesearch``, ``space``, ``solver``, ``cg_rtol``, ``cg_max_steps``, ``jacobian``
    (see ``nestax._fit._gauss_newton.GaussNewton``).

    Example:
        >>> import optax, nestax as nx
        >>> stages = [
        ...     nx.Stage("adam", 2000, learning_rate=optax.cosine_decay_schedule(1e-2, 2000)),
        ...     nx.Stage("lbfgs", 500, memory_size=20),
        ...     nx.Stage(optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(1e-3)), 100),
        ...     nx.Stage("gauss-newton", 200, damping=1e-4, linesearch=8),
        ... ]
        >>> stages[1]
        Stage('lbfgs', steps=500, memory_size=20)
    """

    def __init__(
        self,
        optimizer: str | optax.GradientTransformation,
        steps: int,
        learning_rate: float | Callable[[Any], Any] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Stage: argument `steps` must be an integer >= 1; got {steps!r}")
        self.steps = steps
        self.learning_rate = learning_rate
        self.options = dict(options)
        if optimizer == "gauss-newton":
            if learning_rate is not None:
                raise ValueError(
                    "Stage('gauss-newton'): setting `learning_rate` does not apply (the step "
                    f"length comes from the damping and `linesearch`); got {learning_rate!r}"
                )
            try:
                self.transformation = GaussNewton(**options)
            except TypeError as err:
                raise TypeError(f"Stage('gauss-newton'): bad setting: {err}") from err
            self.name = optimizer
        elif isinstance(optimizer, str):
            if optimizer not in _OPTIMIZERS:
                known = ", ".join(repr(n) for n in (*_OPTIMIZERS, "gauss-newton"))
                raise ValueError(
                    f"Stage: unknown optimizer {optimizer!r}; expected one of {known} or an "
                    "optax.GradientTransformation"
                )
            make, default_rate = _OPTIMIZERS[optimizer]
            rate = default_rate if learning_rate is None else learning_rate
            if rate is not None and not callable(rate) and not float(rate) > 0:
                raise ValueError(
                    f"Stage: argument `learning_rate` must be positive or a schedule; got {rate!r}"
                )
            try:
                self.transformation = make(learning_rate=rate, **options)
            except TypeError as err:
                raise TypeError(
                    f"Stage({optimizer!r}): bad option for optax.{optimizer}: {err}"
                ) from err
            self.name = optimizer
        elif isinstance(optimizer, optax.GradientTransformation):
            if learning_rate is not None or options:
                raise ValueError(
                    "Stage: `learning_rate` and options configure a named optimizer; with an "
                    "optax.GradientTransformation passed directly, build it with them instead"
                )
            self.transformation = optimizer
            self.name = "custom"
        else:
            raise TypeError(
                "Stage: argument `optimizer` must be a name or an optax.GradientTransformation; "
                f"got {type(optimizer).__name__}"
            )

    def __repr__(self) -> str:
        parts = [repr(self.name), f"steps={self.steps}"]
        if self.learning_rate is not None:
            parts.append(f"learning_rate={self.learning_rate!r}")
        parts += [f"{k}={v!r}" for k, v in self.options.items()]
        return f"Stage({', '.join(parts)})"
