"""nestax: derivatives of neural networks with respect to their inputs, inside training losses.

Every operator takes a point function ``f`` (one point ``x`` of shape ``(d,)`` to an array) and
returns a function of ``x``; all compose with ``jax.jit``, ``jax.vmap``, ``jax.grad`` over the
parameters ``f`` closes over, and with each other. ``method="auto"`` picks the strategy;
``nestax.explain`` says which and why.

The correctness contract: for every ``f`` that JAX's own nested AD differentiates, every
method returns what nested ``jax.jacfwd`` / ``jax.jacrev`` return (``custom_jvp`` and
``custom_vjp`` rules included) for the values ``f`` closes over at the call; ``auto`` never
fails where some nesting works; a method named explicitly that cannot run raises
`MethodNotApplicableError` naming the construct and the methods that apply.

>>> import jax, jax.numpy as jnp, nestax as nx
>>> u = lambda x: jnp.sin(x[0]) * jnp.cos(x[1])
>>> float(nx.laplacian(u)(jnp.array([0.3, 0.2])))  # -2 u
-0.57925...
"""

# ruff: noqa: I001  (grouped by layer, not alphabetically)
from . import _jax_version as _jax_version  # first: an ImportError if JAX is too old
from ._operators._algebra import Biharmonic as Biharmonic
from ._operators._algebra import Combination as Combination
from ._operators._algebra import Laplacian as Laplacian
from ._operators._algebra import LinearOperator as LinearOperator
from ._operators._algebra import Partial as Partial
from ._operators._ansatz import BallAnsatz as BallAnsatz
from ._operators._apply import apply as apply
from ._operators._explain import explain as explain
from ._operators._first import batch_jacobian as batch_jacobian
from ._operators._first import divergence as divergence
from ._operators._first import gradient as gradient
from ._operators._first import jacobian as jacobian
from ._operators._higher import derivative as derivative
from ._operators._higher import partial as partial
from ._operators._second import hessian as hessian
from ._operators._second import laplacian as laplacian
from ._planner import Plan as Plan
from ._taylor import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from ._validate import MethodNotApplicableError as MethodNotApplicableError
from ._check import GradientCheckError as GradientCheckError
from ._check import GradientCheckReport as GradientCheckReport
from ._check import check_gradients as check_gradients
from ._fit import EarlyStopping as EarlyStopping
from ._fit import FitResult as FitResult
from ._fit import NonFiniteLossError as NonFiniteLossError
from ._fit import Residuals as Residuals
from ._fit import Stage as Stage
from ._fit import StepFailedError as StepFailedError
from ._fit import fit as fit
from ._fit import soap as soap
from . import rules as rules

from ._strategies import REGISTRY as _REGISTRY

METHODS: tuple[str, ...] = tuple(_REGISTRY)
"""Every strategy name an operator may accept (each operator lists the ones that apply to it)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``nestax.pinn`` and ``nestax.ude`` are imported on first use (they pull in scipy and
    diffrax, which the operators do not need)."""
    if name in ("pinn", "ude"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nestax' has no attribute {name!r}")
