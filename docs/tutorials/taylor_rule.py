r"""# Writing a Taylor rule

The Taylor engine behind `method="taylor"`, `"collapsed"`, `"reduced"` and `"iterated"`
propagates Taylor coefficients $(y_0, y_1, \dots, y_K)$,
$y_k = \frac{d^k}{dt^k} y(x + t v)\big|_{t=0}$, through one JAX primitive at a time. A
primitive it has no rule for still works if JAX can differentiate it (the engine nests JAX's
own JVP rule along the Taylor polynomial), but a closed-form rule is cheaper; a primitive JAX
cannot differentiate needs a rule. `nestax.rules` is the public way to add one.
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching

import nestax as nx

# %%
# ## An elementwise primitive, by its derivatives
#
# A new primitive `softcube` computing $f(u) = u^3 / (1 + u^2)$, with a JVP rule so that JAX
# can differentiate it.
softcube_p = Primitive("softcube")
softcube_p.def_impl(lambda u: u**3 / (1 + u**2))
softcube_p.def_abstract_eval(lambda u: u)


def df(u):
    return u**2 * (3 + u**2) / (1 + u**2) ** 2


ad.defjvp(softcube_p, lambda t, u: df(u) * t)
batching.defvectorized(
    softcube_p
)  # elementwise: vmap applies it to the batched array as is
f = lambda x: jnp.sum(softcube_p.bind(x) * jnp.arange(1.0, 4.0))
x = jnp.array([0.5, -1.0, 2.0])
reference = jnp.trace(jax.hessian(f)(x))
print(
    "before: taylor =",
    float(nx.laplacian(f, method="taylor")(x)),
    " jax.hessian =",
    float(reference),
)

# %%
# `register_elementwise` takes the derivatives $f', f'', \dots$ as functions of $u_0$ (as many
# as the highest order you need; here two, for a Laplacian). The engine combines them with the
# input's coefficients by Faà di Bruno's formula,
# $y_k = \sum_{j=1}^{k} f^{(j)}(u_0)\, B_{k,j}(u_1, \dots, u_{k-j+1})$.
d2f = jax.grad(lambda u: df(u))  # a second derivative; any correct function will do
nx.rules.register_elementwise(
    softcube_p, [df, lambda u: jax.vmap(d2f)(u.ravel()).reshape(u.shape)]
)
for method in ["taylor", "collapsed"]:
    value = nx.laplacian(f, method=method)(x)
    print(
        f"after: {method:>9} = {float(value):.15f}   |diff| = {abs(float(value - reference)):.1e}"
    )

# %%
# ## A linear primitive
#
# A primitive linear in its floating operands acts on each Taylor coefficient separately:
# $y_k = p(u_k)$. `register_linear` says exactly that.
flipsum_p = Primitive("flipsum")  # y = u + u reversed along its last axis
flipsum_p.def_impl(lambda u: u + jnp.flip(u, -1))
flipsum_p.def_abstract_eval(lambda u: u)
ad.deflinear2(flipsum_p, lambda ct, u: [flipsum_p.bind(ct)])  # it is its own transpose
batching.primitive_batchers[flipsum_p] = lambda args, dims: (
    flipsum_p.bind(jnp.moveaxis(args[0], dims[0], 0)),
    0,
)  # batch axis first, flip the last
nx.rules.register_linear(flipsum_p)
g = lambda x: jnp.sum(jnp.sin(flipsum_p.bind(x)) ** 2)
print(
    "taylor:",
    float(nx.laplacian(g, method="taylor")(x)),
    " jax.hessian:",
    float(jnp.trace(jax.hessian(g)(x))),
)

# %%
# ## Any rule
#
# `register_rule(primitive, rule)` takes `rule(ctx, *operands, **params)`; operands that depend
# on the input arrive as `nx.rules.Jet` (the primal value and the coefficients), the others as
# plain arrays, and `ctx` (a `RuleContext`) gives the order and, in collapsed mode, the weights.
# A rule that cannot handle a case raises `nx.rules.UnsupportedPrimitiveError`, and `auto`
# falls back to nested AD. See the [API reference](../api/rules.md) for the full contract.
print([name for name in dir(nx.rules) if not name.startswith("_")])
