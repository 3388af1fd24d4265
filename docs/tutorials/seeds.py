r"""# The three seed problems: a derivative inside a loss

nestax grew from three small problems (from Lux.jl's nested-AD manual and a Julia Discourse
thread), each a loss that contains a derivative of a network **with respect to its input**,
differentiated **with respect to its weights**:

1. a network whose loss holds its time derivative, $\partial_t N(t)^2 \approx \cos t$;
2. a batch-coupled network (batch normalisation) whose loss holds its full batch Jacobian
   $\partial F / \partial X$;
3. a universal differential equation whose loss holds $\sum_x \lVert \partial U / \partial x
   \rVert^2$, trained through an ODE solver.

Each section builds the loss, checks it against JAX's own AD or finite differences, and (for the
first two) trains briefly — a few hundred steps, so that this page runs in seconds.
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)  # check_gradients works in float64
import jax.numpy as jnp
import matplotlib.pyplot as plt

import nestax as nx


def init(key, sizes):
    """Weights of a tanh MLP with the given layer sizes, as a list of (W, b)."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (m, n)) / jnp.sqrt(m), jnp.zeros(n))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp(params, x):
    for W, b in params[:-1]:
        x = jnp.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


# %%
# ## 1. A time derivative in the loss
#
# A network $N: \mathbb{R} \to \mathbb{R}$ predicts $\hat y(t) = \frac{d}{dt} N(t)^2$, and the
# loss is $L(\theta) = \sum_i (\hat y(t_i) - \cos t_i)^2$. `nx.derivative` differentiates a
# function of a scalar; `jax.grad` then differentiates the loss over the weights, through it.
t = jnp.linspace(0.0, 1.0, 16, endpoint=False)
params = init(jax.random.key(0), [1, 12, 12, 1])


def N(params, t):  # one scalar t -> one scalar
    return mlp(params, t[None])[0]


def loss_cos(params):
    yhat = jax.vmap(nx.derivative(lambda s: N(params, s) ** 2))(t)
    return jnp.sum((yhat - jnp.cos(t)) ** 2)


print(nx.check_gradients(loss_cos, params))

# %%
# Train for a few hundred Adam steps and compare the prediction with $\cos t$.
fit = nx.fit(
    loss_cos, params, nx.Stage("adam", 300, learning_rate=1e-2), progress=False
)
print(f"loss {fit.history['total'][0]:.3e} -> {fit.history['total'][-1]:.3e}")
yhat = jax.vmap(nx.derivative(lambda s: N(fit.params, s) ** 2))(t)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(t, jnp.cos(t), "k-", label="cos t")
ax.plot(t, yhat, "C1o", label="d/dt N(t)² after training")
ax.set_xlabel("t"), ax.legend(), fig.tight_layout()
fig.savefig("seed_cos.png", dpi=90)

# %%
# ## 2. The full Jacobian of a batch-coupled network
#
# With batch normalisation in training mode every output depends on every sample of the batch,
# so the model is one function $F: \mathbb{R}^{B \times 2} \to \mathbb{R}^{B \times 2}$ and its
# Jacobian has shape $(B, 2, B, 2)$. `nx.jacobian` of the batch function gives it; the
# off-diagonal blocks are non-zero only because of the coupling. The loss is a data misfit
# plus $\lVert \partial F/\partial X \rVert_F^2$.
B = 10
X = jax.random.normal(jax.random.key(1), (B, 2))
Y = jnp.sin(X)
bn_params = init(jax.random.key(2), [2, 4, 2])


def F(params, X):
    (W1, b1), (W2, b2) = params
    h = jnp.tanh(X @ W1 + b1)
    h = (h - h.mean(0)) / jnp.sqrt(
        h.var(0) + 1e-5
    )  # batch normalisation: couples the rows
    return h @ W2 + b2


J = nx.jacobian(lambda X: F(bn_params, X))(X)
print("Jacobian shape:", J.shape)
print(
    "largest off-diagonal block entry |dF_0/dX_1|:", float(jnp.abs(J[0, :, 1, :]).max())
)
print(
    "same as jax.jacrev:",
    bool(jnp.allclose(J, jax.jacrev(lambda X: F(bn_params, X))(X))),
)


def loss_bn(params):
    J = nx.jacobian(lambda X: F(params, X))(X)
    return jnp.sum((F(params, X) - Y) ** 2) + jnp.sum(J**2)


fit_bn = nx.fit(
    loss_bn, bn_params, nx.Stage("adam", 200, learning_rate=1e-2), progress=False
)
print(f"loss {fit_bn.history['total'][0]:.3f} -> {fit_bn.history['total'][-1]:.3f}")

# %%
# ## 3. A gradient penalty in a universal differential equation
#
# Lotka–Volterra with the interaction terms replaced by a network $U$:
# $x' = \alpha x + U_1(x, y)$, $y' = -\delta y + U_2(x, y)$. The loss compares the solution
# with data and adds $\sum_{x} \lVert \nabla U_1(x, 1) \rVert^2$ over a grid of points — a
# Jacobian of the network inside a loss that is differentiated through the ODE solver
# (`nestax.ude`, built on diffrax; the [UDE tutorial](ude.md) trains one).
from nestax import ude

alpha, delta = 1.3, 1.8
U_params = init(jax.random.key(3), [2, 8, 2])
model = ude.UDE(
    lambda t, u, p, args: jnp.array([alpha * u[0], -delta * u[1]]) + mlp(p, u)
)
ts = jnp.linspace(0.0, 1.0, 11)
# stand-in data: the known physics alone (U = 0) has this closed-form solution
data = jnp.stack([0.44 * jnp.exp(alpha * ts), 4.6 * jnp.exp(-delta * ts)], axis=1)
grid = jnp.stack([jnp.linspace(0.0, 10.0, 101), jnp.ones(101)], axis=1)


def loss_ude(p):
    ys = model.solve(p, jnp.array([0.44, 4.6]), ts).ys
    penalty = ude.derivative_penalty(lambda z: mlp(p, z), grid, output=0)
    return jnp.mean((ys - data) ** 2) + 1e-3 * penalty


value, grads = jax.value_and_grad(loss_ude)(
    U_params
)  # through the solver and the Jacobian
print("loss:", float(value))
print(
    "gradient norm:",
    float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))),
)

# %%
# The nested part of that gradient — of the penalty, a derivative of $U$ inside the loss —
# agrees with finite differences. (Checking the whole loss the same way needs the solver's
# steps held fixed, since adaptive step selection makes the loss only piecewise smooth: see
# `UDE.accepted_steps` and `UDE.with_steps`.)
penalty = lambda p: ude.derivative_penalty(lambda z: mlp(p, z), grid, output=0)
print(nx.check_gradients(penalty, U_params))
