r"""# A small universal differential equation

A universal differential equation (UDE) is an ODE whose right-hand side is part known physics,
part neural network. Here the truth is a damped oscillator with a cubic stiffness we pretend
not to know,

$$
x' = v, \qquad v' = -x - 0.1\, v - 0.5\, x^3,
$$

and the model keeps the linear part and learns the missing force:

$$
x' = v, \qquad v' = -x - 0.1\, v + U_\theta(x).
$$

`nestax.ude.UDE` solves it with diffrax (gradients through the solver), `nx.fit` trains it
against noisy observations, and a smoothness penalty on $U_\theta'$ — a derivative of the
network with respect to its input, inside the loss — keeps the learned term tame. At the end
we compare $U_\theta(x)$ with the missing term $-0.5 x^3$ and fit a cubic to it: the
"equation" recovered from the network.

The run is short (1 000 Adam steps on 30 observations), so the page builds quickly.
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import nestax as nx
from nestax import ude

# %%
# **Data** from the true system, with a little noise.
truth = ude.UDE(
    lambda t, u, p, args: jnp.array([u[1], -u[0] - 0.1 * u[1] - 0.5 * u[0] ** 3])
)
u0, ts = jnp.array([2.0, 0.0]), jnp.linspace(0.0, 6.0, 30)
clean = truth.solve(None, u0, ts).ys
data = clean + 0.01 * jax.random.normal(jax.random.key(0), clean.shape)
print("data:", data.shape)


# %%
# **The model**: a small network $U_\theta: \mathbb{R} \to \mathbb{R}$ of the position only.
def init(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (m, n)) / jnp.sqrt(m), jnp.zeros(n))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def U(params, x):  # x: scalar position -> scalar force
    h = jnp.array([x])
    for W, b in params[:-1]:
        h = jnp.tanh(h @ W + b)
    W, b = params[-1]
    return (h @ W + b)[0]


model = ude.UDE(
    lambda t, u, p, args: jnp.array([u[1], -u[0] - 0.1 * u[1] + U(p, u[0])])
)
params = init(jax.random.key(1), [1, 16, 16, 1])

# %%
# **The loss**: misfit to the data, plus $\frac{1}{N}\sum_j U_\theta'(x_j)^2 \cdot 10^{-4}$
# over a grid of positions. `nx.derivative` takes the input derivative of the network; the
# training gradient goes through it and through the ODE solve.
grid = jnp.linspace(-2.0, 2.0, 41)


def loss(p):
    ys = model.solve(p, u0, ts).ys
    slope = jax.vmap(nx.derivative(lambda x: U(p, x)))(grid)
    return {"data": jnp.mean((ys - data) ** 2), "smooth": 1e-4 * jnp.mean(slope**2)}


print({k: float(v) for k, v in loss(params).items()})

# %%
# **Train** (a short run).
import optax

schedule = optax.exponential_decay(2e-2, 1000, 0.05)  # 2e-2 down to 1e-3
stages = nx.Stage("adam", 1000, learning_rate=schedule)
result = nx.fit(loss, params, stages, progress=False)
for name, values in result.history.items():
    print(f"{name:>7}: {values[0]:.3e} -> {values[-1]:.3e}")

# %%
# **From missing physics to an equation.** Over the positions the data visits, compare the
# learned force with the true missing term, then fit $a x + b x^3$ to the network by least
# squares. With this short run expect the cubic coefficient to be near $-0.5$ rather than on
# it; a longer run (and `nestax run lotka-volterra` for a full example) tightens it.
xs = jnp.linspace(float(data[:, 0].min()), float(data[:, 0].max()), 200)
learned = jax.vmap(lambda x: U(result.params, x))(xs)
basis = np.stack([np.asarray(xs), np.asarray(xs) ** 3], axis=1)
coef, *_ = np.linalg.lstsq(basis, np.asarray(learned), rcond=None)
print(f"U(x) ≈ {coef[0]:+.3f} x {coef[1]:+.3f} x³   (truth: 0 x - 0.5 x³)")
missing = -0.5 * xs**3
print(
    "relative L2 error of U against the missing term:",
    float(jnp.linalg.norm(learned - missing) / jnp.linalg.norm(missing)),
)

fit_ys = model.solve(result.params, u0, ts).ys
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(ts, data[:, 0], "k.", label="data x(t)")
ax1.plot(ts, fit_ys[:, 0], "C1-", label="UDE x(t)")
ax1.set_xlabel("t"), ax1.legend()
ax2.plot(xs, missing, "k-", label="missing term −0.5x³")
ax2.plot(xs, learned, "C1--", label="learned U(x)")
ax2.set_xlabel("x"), ax2.legend()
fig.tight_layout()
fig.savefig("ude.png", dpi=90)
