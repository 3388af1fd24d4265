"""Runnable examples, one module each, run by ``nestax run <name>``.

The registry is open: a later example is one :func:`register` call (here, or in the module
that defines it). An example module provides ``NAME``, ``DEFAULT_ITERS`` and
``run(iters, out_dir, seed, progress) -> dict`` (the metrics it wrote to ``metrics.json``);
its one-line summary is the one registered here (``nestax --help`` lists it without importing
the module). The examples here write only their own body, ``run(args, **options)``, and the
decorator ``_run.example`` gives it that signature, float64 and the default folder ``runs/<name>``.
Modules are imported only when run, so ``nestax --help`` stays fast.

Example:
    >>> from nestax.examples import EXAMPLES
    >>> list(EXAMPLES)[:3]  # in the order they were registered: the seeds first
    ['seed-batchnorm', 'seed-cos', 'seed-ude']
"""

from __future__ import annotations

from ._registry import Entry, Registry

__all__ = ["EXAMPLES", "Entry", "Example", "Registry", "get", "register"]

#: A registered example: its CLI name, the module that runs it, and a one-line summary.
Example = Entry
EXAMPLES: Registry = Registry("example")
register = EXAMPLES.register  # add an example (its module is imported lazily, by dotted name)
get = EXAMPLES.lookup  # the example ``name``, or a ``ValueError`` listing the valid names


register(
    "seed-batchnorm",
    "nestax.examples.seed_batchnorm",
    "Dense→BatchNorm→Dense; loss Σ(ŷ−y)² + ‖∂ŷ/∂x‖² with the full batch Jacobian (Lux manual)",
)
register(
    "seed-cos",
    "nestax.examples.seed_cos",
    "tanh net 1→12→12→12→1; loss Σ(d/dt Σ N(t)² − cos t)² on 16 points (Lux manual)",
)
register(
    "seed-ude",
    "nestax.examples.seed_ude",
    "Lotka–Volterra UDE with a Σ‖∂U₁/∂(x,1)‖² penalty, solved with diffrax (Discourse seed)",
)
register(
    "poisson-2d",
    "nestax.examples.poisson_2d",
    "Δu = −sin 4πx sin 4πy on [0,1]², hard Dirichlet constraint, Adam → Gauss–Newton (float64)",
)
register(
    "poisson-smooth",
    "nestax.examples.poisson_smooth",
    "−Δu = 2π² sin πx sin πy on [0,1]² (ENGD paper), hard constraint, Adam → Gauss–Newton",
)
register(
    "burgers",
    "nestax.examples.burgers",
    "Burgers u_t + u u_x = (0.01/π) u_xx (Raissi), exact IC/BC ansatz, Adam → Gauss–Newton + RAD",
)
register(
    "heat",
    "nestax.examples.heat",
    "heat equation u_t = 0.4 u_xx, soft initial/boundary terms, learning-rate annealing",
)
register(
    "kdv",
    "nestax.examples.kdv",
    "KdV soliton u_t + 6uu_x + u_xxx = 0 (third order), exact initial data, Adam → L-BFGS",
)
register(
    "biharmonic",
    "nestax.examples.biharmonic_plate",
    "simply supported plate Δ²u = 4π⁴ sin πx sin πy (Navier), 4th-order residual",
)
register(
    "sine-gordon-nd",
    "nestax.examples.sine_gordon_nd",
    "Δu + sin u = g on the unit ball in d dimensions (d = 1 000), STDE or exact reduced Laplacian",
)
register(
    "lotka-volterra",
    "nestax.examples.lotka_volterra",
    "Lotka–Volterra missing physics (SciML tutorial): UDE, Adam → L-BFGS → Gauss–Newton, then "
    "SINDy (pysindy) recovers −βuv, γuv; "
    "--set regularize=true adds the seed's Σ‖∂U₁/∂(x,1)‖²",
)
register(
    "hamiltonian",
    "nestax.examples.hamiltonian",
    "pendulum learned as a Hamiltonian network: rhs = J∇H_θ (nx.gradient) trained through "
    "diffrax; learned-energy drift on held-out trajectories",
)
register(
    "allen-cahn",
    "nestax.examples.allen_cahn",
    "Allen–Cahn u_t − 1e-4 u_xx + 5u³ − 5u = 0 (PirateNet benchmark), Fourier-feature "
    "periodicity, exact IC, causal Adam → Gauss–Newton",
)
