"""The Taylor-mode engine: a jaxpr interpreter propagating Taylor coefficients.

Public surface (re-exported by the strategies and, selectively, by `nestax`):

- `taylor_directional(f, x, directions, order)` -- all orders 1..K along each direction
  (`taylor_directional_top`: order K only, skipping work only the lower orders need);
- `collapsed_directional(f, x, directions, weights, order)` -- the weighted sum of the K-th
  directional derivatives, the top order summed during propagation;
- `unsupported_reason(f, x)` -- ``None`` or a sentence naming what the engine cannot handle;
- `constructs(f, x)` -- what in ``f`` some first-order AD modes cannot differentiate
  (``custom_vjp``, ``while_loop``), for the planner;
- `UnsupportedPrimitiveError`, and `register_rule` / `register_linear` /
  `register_elementwise` to extend the rule table; `Jet` and `RuleContext` for rule authors;
- `taylor_directional_reference` -- the slow nested-`jvp` reference;
- `Traced(f, x)` -- ``f`` with its program, traced once and shared by every walk and run;
- `input_readers(f, x)` -- the reduction pass: the linear functionals of ``x`` that ``f`` reads
  (`Readers`), for input-subspace reduction.
"""

from ._interpreter import collapsed_directional as collapsed_directional
from ._interpreter import constructs as constructs
from ._interpreter import taylor_directional as taylor_directional
from ._interpreter import taylor_directional_reference as taylor_directional_reference
from ._interpreter import taylor_directional_top as taylor_directional_top
from ._interpreter import unsupported_reason as unsupported_reason
from ._jaxpr import Traced as Traced
from ._jaxpr import batch_size as batch_size
from ._jet import Jet as Jet
from ._jet import RuleContext as RuleContext
from ._reduce import Readers as Readers
from ._reduce import input_readers as input_readers
from ._rules import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from ._rules import register_elementwise as register_elementwise
from ._rules import register_linear as register_linear
from ._rules import register_rule as register_rule

__all__ = [
    "Jet",
    "Readers",
    "RuleContext",
    "Traced",
    "UnsupportedPrimitiveError",
    "batch_size",
    "collapsed_directional",
    "constructs",
    "input_readers",
    "register_elementwise",
    "register_linear",
    "register_rule",
    "taylor_directional",
    "taylor_directional_reference",
    "taylor_directional_top",
    "unsupported_reason",
]
