"""`nestax.fit`: optax stages, a jit-compiled step, per-term history, NaN guard, checkpoints."""

from ._early_stopping import EarlyStopping as EarlyStopping
from ._errors import NonFiniteLossError as NonFiniteLossError
from ._errors import StepFailedError as StepFailedError
from ._loop import fit as fit
from ._residuals import Residuals as Residuals
from ._result import FitResult as FitResult
from ._soap import soap as soap
from ._stages import Stage as Stage
