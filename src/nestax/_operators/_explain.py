"""``explain``: which strategy ``method="auto"`` picks for an operator at a point, and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._planner import Plan
from ._algebra import LinearOperator
from ._apply import apply


def explain(
    operator: Any,
    f: Callable[..., Any],
    x: Any,
    *,
    method: str = "auto",
    has_aux: bool = False,
    **options: Any,
) -> Plan:
    """The planner's decision for ``operator`` applied to ``f`` at ``x``, in words.

    Nothing is differentiated: ``f`` is only traced for its output shape (and, for the Taylor
    strategies, for its primitives). ``str()`` of the result is a short report: the method, why,
    and the estimated cost of every candidate in forward passes of the network per point.

    Args:
        operator: a public operator function (``nestax.laplacian``, ``nestax.jacobian``, ...) or
            an operator object (``nestax.Laplacian()``, ``nestax.Partial(alpha)``, sums).
        f, x: the function and the point (as the operator would receive them).
        method: ``"auto"`` (default) or a method name, to see its estimate beside the others.
        options: the operator's other arguments, e.g. ``order=4`` for ``derivative`` or
            ``alpha=(1, 2)`` for ``partial``.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> plan = nx.explain(nx.gradient, lambda x: jnp.sum(jnp.tanh(x)), jnp.ones(100))
        >>> plan.method
        'reverse'
    """
    if isinstance(operator, LinearOperator):
        built = apply(operator, f, method=method, has_aux=has_aux)
    elif callable(operator) and getattr(operator, "__module__", "").startswith("nestax."):
        built = operator(f, method=method, has_aux=has_aux, **options)
    else:
        raise TypeError(
            "explain: argument `operator` must be a nestax operator function (nestax.gradient, "
            "nestax.laplacian, ...) or an operator object (nestax.Laplacian(), ...); "
            f"got {operator!r}"
        )
    if not hasattr(built, "plan"):
        raise TypeError(f"explain: {operator!r} is not a nestax differential operator")
    return built.plan(x)
