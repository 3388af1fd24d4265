"""Suite ``seeds``: one training gradient step of each seed problem, nestax against its peers.

A step is the value and the gradient, with respect to the weights, of the seed's loss (which
itself contains derivatives with respect to the inputs). Every contender uses the same network
weights and the same data, in float32 (JAX's default; PyTorch's default), on the CPU unless
JAX finds an accelerator. JAX contenders share one wrapper (``jax.jit`` of
``jax.value_and_grad`` over the network's arrays), so they differ only in how the inner
derivative is written:

- ``nestax``: the example module's loss (``nx.derivative``, ``nx.jacobian``, ``nx.gradient``).
- ``jax: ...``: what a JAX user writes by hand (``jax.grad``, ``jax.jvp``, ``jax.jacfwd``...).
- ``torch create_graph``: ``torch.autograd.grad(..., create_graph=True)`` then a second
  backward (what DeepXDE and PhysicsNeMo do), eager.
- ``torch.func``: ``torch.func.grad_and_value`` over ``functional_call`` with the inner
  derivative by ``torch.func.grad`` / ``jacrev``.
- seed-ude: ``diffrax (hand-written)``: the same solver (Tsit5), tolerances (1e-6), adjoint
  (``RecursiveCheckpointAdjoint``) and penalty written directly with ``jax.grad``.

Run it with ``nestax bench seeds``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..examples import seed_batchnorm, seed_cos, seed_ude
from ._harness import Case, Contender

DTYPE = jnp.float32
# One intra-op thread: for these tiny networks PyTorch is faster with 1 thread than with its
# default (measured here: 2 threads were slower, and pathologically so on a loaded machine).
TORCH_THREADS = 1
SETTINGS = {
    "dtype": "float32 for every contender",
    "torch_threads": f"{TORCH_THREADS} (faster than the default for these tiny networks)",
    "jax_dispatch": "synchronous on the CPU (jax_cpu_enable_async_dispatch=False): every "
    "contender waits for each step anyway, and for these tiny networks the asynchronous "
    "hand-off between threads costs about half of the step (measured here: seed-cos 83 µs "
    "asynchronous, 40 µs synchronous)",
    "step": "value and gradient of the loss w.r.t. the network weights (one training step "
    "without the optimiser update)",
}


def prepare() -> None:
    """Synchronous CPU dispatch for every JAX contender (see ``SETTINGS['jax_dispatch']``).

    Takes effect only before JAX's first computation in the process, which is why the suite
    runner calls it before building the cases.
    """
    jax.config.update("jax_cpu_enable_async_dispatch", False)


def _jax_step(loss: Callable[[Any], jax.Array], params: Any) -> Callable[[], Any]:
    """``jax.jit(jax.value_and_grad(loss))`` over the inexact arrays of ``params``.

    The arrays travel as a flat list, as ``nestax.fit`` passes them: flattening an equinox
    module on every call costs about 15 µs here, a third of seed-cos's whole step.
    """
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(dynamic)

    def flat_loss(flat):
        return loss(eqx.combine(jax.tree.unflatten(treedef, flat), static))

    step = jax.jit(jax.value_and_grad(flat_loss))
    return lambda: step(leaves)


def _torch():
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return torch


def _torch_linear(lin, torch):
    w = np.array(lin.weight, np.float32)  # a writable copy
    layer = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(np.array(lin.bias, np.float32).reshape(-1)))
    return layer


# ----------------------------------------------------------------------------- seed-cos
def _cos_problem():
    return seed_cos.build(seed=0, dtype=DTYPE)


def _cos_nestax():
    p = _cos_problem()
    return _jax_step(lambda m: seed_cos.loss(m, p.t), p.model)


def _cos_jax_grad():
    p = _cos_problem()

    def loss(m):  # literal translation of the Lux manual: gradient of the batch sum
        y_hat = jax.grad(lambda t: jnp.sum(jax.vmap(m)(t) ** 2))(p.t)
        return jnp.sum((y_hat - jnp.cos(p.t)) ** 2)

    return _jax_step(loss, p.model)


def _cos_jax_jvp():
    p = _cos_problem()

    def loss(m):  # forward mode per point
        dsq = lambda s: jax.jvp(lambda u: m(u) ** 2, (s,), (jnp.ones_like(s),))[1]
        return jnp.sum((jax.vmap(dsq)(p.t) - jnp.cos(p.t)) ** 2)

    return _jax_step(loss, p.model)


def _cos_torch_net():
    torch = _torch()
    p = _cos_problem()
    layers: list[Any] = []
    for i, lin in enumerate(p.model.layers):
        layers.append(_torch_linear(lin, torch))
        if i < len(p.model.layers) - 1:
            layers.append(torch.nn.Tanh())
    t = torch.from_numpy(np.array(p.t, np.float32)).reshape(-1, 1)
    return torch, torch.nn.Sequential(*layers), t


def _cos_torch_create_graph():
    torch, net, t = _cos_torch_net()
    params = list(net.parameters())

    def step():
        tt = t.clone().requires_grad_(True)
        (dy,) = torch.autograd.grad((net(tt) ** 2).sum(), tt, create_graph=True)
        loss = ((dy - torch.cos(t)) ** 2).sum()
        return loss, torch.autograd.grad(loss, params)

    return step


def _cos_torch_func():
    torch, net, t = _cos_torch_net()
    from torch.func import functional_call, grad, grad_and_value

    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p):
        dy = grad(lambda tt: (functional_call(net, p, (tt,)) ** 2).sum())(t)
        return ((dy - torch.cos(t)) ** 2).sum()

    step = grad_and_value(loss)
    return lambda: step(params)


# ----------------------------------------------------------------------------- seed-batchnorm
def _bn_problem():
    return seed_batchnorm.build(seed=0, dtype=DTYPE)


def _bn_nestax():
    p = _bn_problem()
    return _jax_step(lambda m: seed_batchnorm.loss(m, p.x, p.state, p.y), p.model)


def _bn_jax(jac: Callable) -> Callable[[], Callable[[], Any]]:
    def make():
        p = _bn_problem()

        def loss(m):
            f = lambda xb: jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
                xb, p.state
            )
            y_hat, _ = f(p.x)
            J, _ = jac(f, has_aux=True)(p.x)
            return jnp.sum((y_hat - p.y) ** 2) + jnp.sum(J**2)

        return _jax_step(loss, p.model)

    return make


def _bn_torch_net():
    torch = _torch()
    p = _bn_problem()
    m = p.model
    bn = torch.nn.BatchNorm1d(4, eps=m.norm.eps)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(np.array(m.norm.weight, np.float32)))
        bn.bias.copy_(torch.from_numpy(np.array(m.norm.bias, np.float32)))
    net = torch.nn.Sequential(
        _torch_linear(m.dense1, torch), torch.nn.Tanh(), bn, _torch_linear(m.dense2, torch)
    )
    net.train()
    x = torch.from_numpy(np.array(p.x, np.float32))
    y = torch.from_numpy(np.array(p.y, np.float32))
    return torch, net, x, y


def _bn_torch_create_graph():
    torch, net, x, y = _bn_torch_net()
    params = list(net.parameters())

    def step():
        xx = x.clone().requires_grad_(True)
        y_hat = net(xx)
        flat = y_hat.reshape(-1)
        rows = [torch.autograd.grad(flat[k], xx, create_graph=True)[0] for k in range(flat.numel())]
        jac = torch.stack(rows)  # (B·m, B, d): the full Jacobian, one backward per output
        loss = ((y_hat - y) ** 2).sum() + (jac**2).sum()
        return loss, torch.autograd.grad(loss, params)

    return step


def _bn_torch_func():
    torch, net, x, y = _bn_torch_net()
    from torch.func import functional_call, grad_and_value, jacrev, replace_all_batch_norm_modules_

    replace_all_batch_norm_modules_(net)  # torch.func's way: batch statistics, no running stats
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p):
        f = lambda xx: functional_call(net, p, (xx,))
        jac = jacrev(f)(x)
        return ((f(x) - y) ** 2).sum() + (jac**2).sum()

    step = grad_and_value(loss)
    return lambda: step(params)


# ----------------------------------------------------------------------------- seed-ude
def _ude_problem():
    return seed_ude.build(seed=0, dtype=DTYPE)


def _ude_nestax():
    p = _ude_problem()
    return _jax_step(p.loss, p.model)


def _ude_diffrax():
    p = _ude_problem()
    alpha, delta = seed_ude.P_TRUE[0], seed_ude.P_TRUE[3]

    def rhs(t, u, m):
        nn = m(u)
        return jnp.stack([alpha * u[0] + nn[0], -delta * u[1] + nn[1]])

    def loss(m):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs),
            diffrax.Tsit5(),
            p.ts[0],
            p.ts[-1],
            None,
            p.data[0],
            args=m,
            saveat=diffrax.SaveAt(ts=p.ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
            adjoint=diffrax.RecursiveCheckpointAdjoint(),
            max_steps=4096,
        )
        penalty = jnp.sum(jax.vmap(jax.grad(lambda z: m(z)[0]))(p.points) ** 2)
        return jnp.mean((sol.ys - p.data) ** 2) + penalty

    return _jax_step(loss, p.model)


_TORCH = ("torch",)


def cases() -> list[Case]:
    """The three cases of the suite."""
    return [
        Case(
            "seed-cos",
            "tanh net 1→12→12→12→1, 16 points, loss Σ(d/dt Σ N(t)² − cos t)²",
            [
                Contender("nestax", _cos_nestax, note="vmap(nx.derivative), auto → forward"),
                Contender(
                    "jax: grad", _cos_jax_grad, note="jax.grad of the batch sum (Lux manual)"
                ),
                Contender("jax: vmap∘jvp", _cos_jax_jvp, note="jax.jvp per point"),
                Contender("torch create_graph", _cos_torch_create_graph, "torch", _TORCH),
                Contender("torch.func", _cos_torch_func, "torch", _TORCH, "grad of grad"),
            ],
        ),
        Case(
            "seed-batchnorm",
            "Dense(2→4,tanh)→BatchNorm(4)→Dense(4→2), batch 10, loss Σ(ŷ−y)² + ‖∂ŷ/∂x‖²_F "
            "(full (10,2,10,2) Jacobian)",
            [
                Contender("nestax", _bn_nestax, note="nx.jacobian of the batch function"),
                Contender("jax: jacfwd", _bn_jax(jax.jacfwd)),
                Contender("jax: jacrev", _bn_jax(jax.jacrev)),
                Contender(
                    "torch create_graph",
                    _bn_torch_create_graph,
                    "torch",
                    _TORCH,
                    "20 autograd.grad rows",
                ),
                Contender(
                    "torch.func",
                    _bn_torch_func,
                    "torch",
                    _TORCH,
                    "jacrev; replace_all_batch_norm_modules_",
                ),
            ],
        ),
        Case(
            "seed-ude",
            "Lotka–Volterra UDE, rbf net 2→5→5→5→2, Tsit5 rtol=atol=1e-6, "
            "RecursiveCheckpointAdjoint, + Σ over 101 points of ‖∇U₁(x,1)‖²",
            [
                Contender("nestax", _ude_nestax, note="vmap(nx.gradient)"),
                Contender("diffrax (hand-written)", _ude_diffrax, note="vmap(jax.grad)"),
            ],
        ),
    ]
