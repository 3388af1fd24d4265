r"""# A 1-D Poisson PINN from zero

We solve

$$
u''(x) = -\pi^2 \sin(\pi x), \quad x \in (0, 1), \qquad u(0) = u(1) = 0,
$$

whose exact solution is $u^*(x) = \sin(\pi x)$, with a physics-informed network: a small MLP
$N_\theta$ whose loss is the mean squared PDE residual at collocation points. Everything comes
from `nestax.pinn`: the domain, the boundary conditions, the points, the loss; `nx.fit`
trains it, and `pinn.evaluate` measures the error against the exact solution.

The run is short on purpose (400 Adam steps, then 150 of L-BFGS, on 128 points), because the
page is rebuilt, and the script run, with every build of the documentation; the box below says
how long it took for this copy.
"""

# %%
# float64 makes L-BFGS converge much further, and `check_gradients` needs it. It must be set
# before the first array is created.
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np

import nestax as nx
from nestax import pinn

# %%
# **The problem.** `residual(u, x)` receives the trial function `u` (a function of one point,
# here of shape `(1,)`) and the point. `nx.derivative` wants a function of a scalar, so the
# second derivative is taken through `nx.partial` with the multi-index `(2,)`:
# $\partial^2 u / \partial x^2$. The boundary conditions are soft: `pinn.Dirichlet()` adds the
# mean squared boundary value as a second loss term.
domain = pinn.Interval(0.0, 1.0)


def residual(u, x):
    return nx.partial(u, (2,))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x[0])


problem = pinn.Problem(
    residual, domain, [pinn.Dirichlet(0.0)], n_interior=128, n_boundary=2
)
print("loss terms:", problem.terms)
print("points:", {name: pts.shape for name, pts in problem.points.items()})

# %%
# **The network** is an equinox MLP $\mathbb{R} \to \mathbb{R}$; `Problem.loss()` returns the
# loss as a function of the network, a dict of named terms (their sum is minimised).
net = pinn.mlp(jax.random.key(0), 1, width=16, depth=2)
loss = problem.loss()
print({name: float(value) for name, value in loss(net).items()})

# %%
# **Trust the gradient before training.** `check_gradients` compares the AD gradient of the
# loss (which differentiates *through* the second derivative) with central finite differences.
print(nx.check_gradients(lambda p: sum(loss(p).values()), net))

# %%
# **Train**: Adam, then L-BFGS. The history records every term at every step.
result = nx.fit(
    loss,
    net,
    [nx.Stage("adam", 400, learning_rate=1e-2), nx.Stage("lbfgs", 150)],
    progress=False,
)
for name, values in result.history.items():
    print(f"{name:>10}: {values[0]:.3e} -> {values[-1]:.3e}")

# %%
# **Evaluate** on a fine grid against $u^* = \sin \pi x$.
x_test = jnp.linspace(0.0, 1.0, 501)[:, None]
exact = lambda x: jnp.sin(jnp.pi * x[0])
errors = pinn.evaluate(problem, result.params, x_test, exact)
print(errors)
assert errors["rel_l2_error"] < 1e-2  # the page fails to build if training went wrong

# %%
# **Plots.** `pinn.plot_losses` draws the history; the solution and its error are plain
# matplotlib.
import matplotlib.pyplot as plt

pinn.plot_losses(result.history, "losses.png", "1-D Poisson: loss terms")
pred = pinn.predict(problem, result.params, x_test)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(x_test[:, 0], np.sin(np.pi * x_test[:, 0]), "k-", label="exact")
ax1.plot(x_test[:, 0], pred, "C1--", label="PINN")
ax1.set_xlabel("x"), ax1.set_ylabel("u"), ax1.legend()
ax2.semilogy(x_test[:, 0], np.abs(pred - np.sin(np.pi * x_test[:, 0])) + 1e-16, "C3")
ax2.set_xlabel("x"), ax2.set_ylabel("|u - u*|")
fig.tight_layout()
fig.savefig("solution.png", dpi=90)

# %%
# A longer run (more points, more steps) drives the error further down; the example
# `nestax run poisson-2d` is the 2-D version with an exactly enforced boundary condition
# (`pinn.HardConstraint`).
