r"""Extending the Taylor engine: teach it a primitive it does not know.

The engine behind ``method="taylor"``, ``"collapsed"``, ``"reduced"`` and ``"iterated"``
propagates derivative-form Taylor coefficients :math:`(y_0, y_1, \dots, y_K)`,
:math:`y_k = \tfrac{d^k}{dt^k} y(x + t v)\big|_{t=0}`, through one primitive at a time. A
primitive that JAX can differentiate but the engine has no closed-form rule for already works
(through JAX's own JVP rule, nested along the Taylor polynomial); registering a rule makes it
cheaper. A primitive JAX cannot differentiate needs a rule here, or a nested-AD method.

Three ways to register, from the simplest:

- :func:`register_elementwise` -- a unary elementwise :math:`y = f(u)` by its derivatives
  :math:`f', f'', \dots`; the engine composes them by Faà di Bruno's formula,
  :math:`y_k = \sum_{j=1}^{k} f^{(j)}(u_0)\, B_{k,j}(u_1, \dots, u_{k-j+1})`.
- :func:`register_linear` -- a primitive linear in its floating operands,
  :math:`y_k = p(u_k, v_k, \dots)`.
- :func:`register_rule` -- any rule ``rule(ctx, *operands, **params)``: operands are
  :class:`Jet` (they depend on the input) or plain arrays (they do not); :class:`RuleContext`
  says the order, the number of directions and, in collapsed mode, the weights.

A rule that cannot handle a case raises :class:`UnsupportedPrimitiveError`; ``method="auto"``
then falls back to nested AD and ``nestax.explain`` says why.

Example -- a new primitive ``cube`` (:math:`f(u) = u^3`), registered by its three non-zero
derivatives, gives the Laplacian nested AD gives:

    >>> import jax, jax.numpy as jnp, nestax as nx
    >>> from jax.extend.core import Primitive
    >>> from jax.interpreters import ad
    >>> cube_p = Primitive("cube")
    >>> _ = cube_p.def_impl(lambda u: u**3)
    >>> _ = cube_p.def_abstract_eval(lambda u: u)
    >>> ad.defjvp(cube_p, lambda t, u: 3 * u**2 * t)
    >>> nx.rules.register_elementwise(
    ...     cube_p, [lambda u: 3 * u**2, lambda u: 6 * u, lambda u: 6 + 0 * u]
    ... )
    >>> f = lambda x: jnp.sum(cube_p.bind(x))
    >>> x = jnp.array([1.0, 2.0])
    >>> float(nx.laplacian(f, method="taylor")(x))  # 6 x_1 + 6 x_2
    18.0
"""

from ._taylor import Jet as Jet
from ._taylor import RuleContext as RuleContext
from ._taylor import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from ._taylor import register_elementwise as register_elementwise
from ._taylor import register_linear as register_linear
from ._taylor import register_rule as register_rule

__all__ = [
    "Jet",
    "RuleContext",
    "UnsupportedPrimitiveError",
    "register_elementwise",
    "register_linear",
    "register_rule",
]
