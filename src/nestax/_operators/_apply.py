r"""``apply``: a linear differential operator applied to a point function, by any strategy.

The operator's terms :math:`\{\alpha: c_\alpha\}` (lazy for rotation-invariant operators:
`InvariantTerms`) and ``f`` make one `Problem`; every registered strategy that computes linear
operators proposes itself (`nestax._strategies`), and ``auto`` takes the cheapest that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._custom_types import Array, Point, PointFunction
from .._strategies import REGISTRY, names_for
from .._strategies._protocol import Problem
from .._strategies._terms import InvariantTerms
from .._validate import as_array, check_method, check_rank
from ._algebra import LinearOperator
from ._choose import operator_function
from ._common import POINT_HINT, check_callable


def check_options(method: str, options: dict[str, Any], op: str) -> None:
    """Extra keyword arguments are for the randomized estimators only."""
    if options and (method not in REGISTRY or REGISTRY[method].EXACT):
        inexact = [n for n, module in REGISTRY.items() if not module.EXACT]
        raise TypeError(
            f"{op}: unexpected keyword argument(s) {sorted(options)} for method={method!r}; only "
            f"the randomized estimators ({', '.join(inexact)}) take options such as key= and "
            "samples="
        )


def apply(
    op: LinearOperator,
    f: PointFunction,
    method: str = "auto",
    has_aux: bool = False,
    **options: Any,
) -> Callable[[Point], Array]:
    r"""Apply the linear operator ``op`` to the point function ``f``: :math:`x \mapsto (L f)(x)`.

    For vector-valued ``f`` the operator acts on each output component.

    Args:
        op: a :class:`nestax.LinearOperator` — ``Partial(alpha)``, ``Laplacian()``,
            ``Biharmonic()`` or a linear combination of them.
        f: maps one point ``x`` of shape ``(d,)`` to an array (or ``(y, aux)``).
        method: ``"auto"`` or one of ``nestax.METHODS`` that apply to linear operators
            (``"nested"``, ``"taylor"``, ``"collapsed"``, ``"reduced"``: exact input-subspace
            reduction of the operator's rotation-invariant block; ``"iterated"``: a power of
            the Laplacian as nested collapsed Laplacians).
        has_aux: ``f`` returns ``(y, aux)``; the result is then ``((L y)(x), aux)``.
        options: for the randomized estimators of second-order diagonal operators (the
            Laplacian, ``Σ a_i ∂_i²``) only: ``method="hutchinson"`` or ``"stde"`` with
            ``key=`` (a PRNG key; one per point under ``vmap``) and ``samples=`` (and for
            Hutchinson ``probe="rademacher"|"gaussian"``). ``auto`` never picks them.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> u = lambda x: jnp.sin(x[0]) * x[1] ** 2
        >>> float(nx.apply(nx.Laplacian(), u)(jnp.array([0.3, 2.0])))  # (2 - y²) sin x
        -0.5910404...
    """
    name = "apply"
    if not isinstance(op, LinearOperator):
        raise TypeError(
            f"{name}: argument `op` must be a nestax operator (Partial, Laplacian, Biharmonic or "
            f"a linear combination of them); got {type(op).__name__}"
        )
    check_callable(f, name)
    names = names_for("apply")
    check_method(method, names, op=name)
    check_options(method, options, name)

    def build(x):
        x = as_array(x, op=name)
        check_rank(x, 1, op=name, what=POINT_HINT.format(op="nestax.apply(op, f)"))
        terms = InvariantTerms.of(op, x.size)
        return Problem.linear(name, f, x, has_aux, terms, label=repr(op), options=options)

    return operator_function(method, build, names)
