r"""# Choosing a strategy, and reading `explain`

Every operator takes `method="auto"` (the default) or the name of a strategy. `auto` asks each
strategy that could compute the operator for an estimate of its cost — counted in *forward
passes of the network per point*, for the operator's share of a training step — and takes the
cheapest one that can trace your function. `nx.explain` prints that decision without computing
anything. This page shows how to read it, how the choice changes with the dimension and the
operator, and what happens when a method cannot run.
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)  # so that methods agree to ~1e-12 below
import jax.numpy as jnp

import nestax as nx


def network(d, width=32, seed=0):
    """A tanh MLP R^d -> R with fixed random weights: u(x) = w2 . tanh(W1 x + b1)."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    W1 = jax.random.normal(k1, (d, width)) / jnp.sqrt(d)
    b1 = jax.random.normal(k2, (width,))
    w2 = jax.random.normal(k3, (width,)) / jnp.sqrt(width)
    return lambda x: jnp.tanh(x @ W1 + b1) @ w2


# %%
# ## A Laplacian in two dimensions
#
# The report lists the method picked, why, and every candidate's estimated cost relative to the
# best. `collapsed` is collapsed Taylor mode (the forward Laplacian): about $d + 2$ vectors per
# point, against $1 + 2d$ and more for the nestings of first-order AD. The notes at the end say
# which fast paths declined and why.
u2 = network(2)
print(nx.explain(nx.laplacian, u2, jnp.zeros(2)))

# %%
# Whatever is picked, every method computes the same number — the correctness contract. Here
# against the trace of `jax.hessian`:
x = jnp.array([0.3, -0.7])
reference = jnp.trace(jax.hessian(u2)(x))
for method in [
    "auto",
    "collapsed",
    "taylor",
    "forward-over-reverse",
    "forward-over-forward",
]:
    value = nx.laplacian(u2, method=method)(x)
    print(
        f"{method:>22}: {float(value): .15f}   |diff| = {abs(float(value - reference)):.1e}"
    )

# %%
# ## High dimensions
#
# With $d = 256$ inputs and a first layer of width 32, the network only reads 32 linear
# functionals of $x$, so `reduced` computes the Laplacian exactly in that 32-dimensional
# subspace: about width + 2 vectors instead of $d + 2$.
u256 = network(256)
print(nx.explain(nx.laplacian, u256, jnp.zeros(256)))

# %%
# ## Higher orders and mixed partials
#
# The biharmonic $\Delta^2 u$ and a mixed partial $\partial^3 u / \partial x_1^2 \partial x_2$
# go through the same planner. `nx.apply` takes any operator built from `nx.Partial`,
# `nx.Laplacian()` and `nx.Biharmonic()` with `+`, `-` and scalar multiples.
print(nx.explain(nx.Biharmonic(), network(3), jnp.zeros(3)))
op = nx.Partial((2, 1)) - 0.5 * nx.Laplacian()
print(nx.explain(op, u2, x))
third = jax.jacfwd(jax.jacfwd(jax.jacfwd(u2)))(x)
print(
    "apply(op) =",
    float(nx.apply(op, u2)(x)),
    " nested jacfwd =",
    float(third[0, 0, 1] - 0.5 * jnp.trace(jax.hessian(u2)(x))),
)


# %%
# ## When a method cannot run
#
# A function with a `jax.custom_vjp` rule has only a reverse-mode derivative, which Taylor mode
# cannot use. `auto` notices and falls back to a nesting with reverse mode innermost
# (`explain` says so); naming a Taylor method explicitly raises `MethodNotApplicableError`,
# which names the construct and the methods that do apply.
@jax.custom_vjp
def softplus(z):
    return jnp.logaddexp(z, 0.0)


softplus.defvjp(lambda z: (softplus(z), z), lambda z, g: (g * jax.nn.sigmoid(z),))
v = lambda x: jnp.sum(softplus(x) ** 2)
print(nx.explain(nx.laplacian, v, x))
# (`jax.hessian` is forward-over-reverse, which cannot run here either; reverse-over-reverse can)
print(
    "auto:",
    float(nx.laplacian(v)(x)),
    " jacrev(jacrev):",
    float(jnp.trace(jax.jacrev(jax.jacrev(v))(x))),
)
try:
    nx.laplacian(v, method="taylor")(x)
except nx.MethodNotApplicableError as error:
    print("MethodNotApplicableError:", str(error)[:400])

# %%
# ## In a training loss
#
# The choice is made when the operator is traced, so it costs nothing per step: the operator
# sits inside `jax.vmap` over points and `jax.grad` over the weights like any JAX function.
xs = jax.random.normal(jax.random.key(1), (64, 2))


def loss(W):
    u = lambda y: jnp.tanh(y @ W).sum()
    return jnp.mean(jax.vmap(nx.laplacian(u))(xs) ** 2)


W = jax.random.normal(jax.random.key(2), (2, 8))
print(nx.check_gradients(loss, W))
