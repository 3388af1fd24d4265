r"""`nestax.ude`: universal differential equations trained through diffrax.

- :class:`UDE`: a hybrid ODE :math:`u' = F(t, u, θ, p)` (known physics with parameters ``p``
  plus learned terms with weights ``θ``, combined as the user writes them), solved with the
  user's diffrax solver, tolerances, ``max_steps`` and adjoint; :meth:`UDE.solve_many` solves
  several trajectories at once; a failed solve raises a readable error or is flagged.
- Physics regularizers (scalar loss terms over points): :func:`derivative_penalty` (the seed's
  :math:`\sum_x \lVert \partial U/\partial x\rVert^2`), :func:`sign_penalty`,
  :func:`monotonicity_penalty`, :func:`smoothness_penalty`, :func:`divergence_penalty`,
  :func:`conservation_penalty`.
- Hamiltonian dynamics from a learned energy: :func:`symplectic_gradient`,
  :func:`hamiltonian_ude`.

Train with :func:`nestax.fit`; check the gradient through the solve with
:func:`nestax.check_gradients` (fix the solver's steps with :meth:`UDE.accepted_steps` and
:meth:`UDE.with_steps` for a smooth loss).

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from nestax.ude import UDE
    >>> ude = UDE(lambda t, u, theta, p: -p * u + theta)  # u' = -p u + θ
    >>> sol = ude.solve(1.0, jnp.zeros(1), jnp.linspace(0.0, 20.0, 3), args=2.0)
    >>> round(float(sol.ys[-1, 0]), 6)  # → θ / p
    0.5
"""

from ._failures import SolverError as SolverError
from ._failures import check_solution as check_solution
from ._hamiltonian import hamiltonian_ude as hamiltonian_ude
from ._hamiltonian import symplectic_gradient as symplectic_gradient
from ._model import ADJOINTS as ADJOINTS
from ._model import UDE as UDE
from ._regularizers import conservation_penalty as conservation_penalty
from ._regularizers import derivative_penalty as derivative_penalty
from ._regularizers import divergence_penalty as divergence_penalty
from ._regularizers import monotonicity_penalty as monotonicity_penalty
from ._regularizers import sign_penalty as sign_penalty
from ._regularizers import smoothness_penalty as smoothness_penalty
