"""``nestax.pinn``: physics-informed networks — a PDE in a few lines, trained with ``nestax.fit``.

Example:
    >>> import jax, jax.numpy as jnp, nestax as nx
    >>> from nestax import pinn
    >>> box = pinn.Box([0.0, 0.0], [1.0, 1.0])
    >>> problem = pinn.Problem(
    ...     lambda u, x: nx.laplacian(u)(x) + 1.0, box, constraint=pinn.HardConstraint(box),
    ...     n_interior=64)
    >>> net = pinn.mlp(jax.random.key(0), 2, width=8, depth=2)
    >>> result = nx.fit(problem.loss(), net, [nx.Stage("adam", 50, learning_rate=1e-2)],
    ...                 progress=False)
    >>> bool(result.history["total"][-1] < result.history["total"][0])
    True
"""

from ._conditions import BoundaryResidual as BoundaryResidual
from ._conditions import Condition as Condition
from ._conditions import Dirichlet as Dirichlet
from ._conditions import HardConstraint as HardConstraint
from ._conditions import Initial as Initial
from ._conditions import InitialDerivative as InitialDerivative
from ._conditions import Neumann as Neumann
from ._conditions import Periodic as Periodic
from ._conditions import initial_boundary_ansatz as initial_boundary_ansatz
from ._conditions import unit_ball_ansatz as unit_ball_ansatz
from ._domains import Ball as Ball
from ._domains import Box as Box
from ._domains import Disk as Disk
from ._domains import Domain as Domain
from ._domains import Interval as Interval
from ._domains import TimeSpace as TimeSpace
from ._evaluate import evaluate as evaluate
from ._evaluate import plot_curves as plot_curves
from ._evaluate import plot_field as plot_field
from ._evaluate import plot_losses as plot_losses
from ._evaluate import predict as predict
from ._evaluate import relative_l2 as relative_l2
from ._evaluate import stage_boundaries as stage_boundaries
from ._problem import Problem as Problem
from ._problem import TrainResult as TrainResult
from ._problem import mlp as mlp
from ._resampling import RAD as RAD
from ._sharding import initialize as initialize
from ._sharding import points_mesh as points_mesh
from ._sharding import replicate as replicate
from ._sharding import reshard_like as reshard_like
from ._sharding import shard_points as shard_points
from ._sharding import shard_problem as shard_problem
from ._weighting import FixedWeights as FixedWeights
from ._weighting import LRAnnealing as LRAnnealing
