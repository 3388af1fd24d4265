r"""Suite ``ude``: one training step of the ``lotka-volterra`` UDE, nestax against its peers.

A step is what training repeats: the loss, its gradient with respect to the network's weights
through the ODE solve (and, with the penalty, through the network's input derivatives), and
one Adam update of the weights. Every contender starts from the same weights and data
(``lotka_volterra.build(seed=0)``), in float64, and solves with an adaptive 5(4) Runge–Kutta
pair at rtol = atol = 1e-6, saving at the 21 observation times:

- ``nestax``: the example's loss (:class:`nestax.ude.UDE`: Tsit5, checkpointed adjoint;
  :func:`nestax.ude.derivative_penalty`) trained by :func:`nestax.fit` as a user calls it, one
  call of ``STEPS`` Adam steps per timed call (its history, NaN guard and result included).
- ``diffrax + optax (hand-written)``: ``diffrax.diffeqsolve`` with the same solver,
  tolerances, ``max_steps`` and ``RecursiveCheckpointAdjoint``, the penalty by
  ``vmap(jax.grad)``, ``jax.value_and_grad`` and ``optax.adam`` in one ``jax.jit``.
- ``torch + torchdiffeq``: ``torchdiffeq.odeint`` (``dopri5``; torchdiffeq has no Tsit5)
  backpropagated through the solver's operations, the penalty by
  ``torch.autograd.grad(..., create_graph=True)``, ``torch.optim.Adam``; eager, one thread.

Cases: the step without the penalty, with the seed's penalty :math:`\sum_{x ∈ 0:0.1:10}
\lVert ∇U_1(x, 1) \rVert^2` (weight 1), and the cost of the penalty inside nestax (ratio = time
with ÷ time without). Adam's learning rate is 1e-6 so that every call times a step at
(essentially) the initial weights, whatever number of calls a contender gets: the cost of a
step does not depend on the learning rate, but the solver's step count depends on the weights.
At these weights the solvers do the same work: Tsit5 takes 25 steps (151 evaluations of the
right-hand side), torchdiffeq's dopri5 152 evaluations, and their solutions agree to 2e-6.

Run it with ``nestax bench ude``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._harness import Case, Contender

LEARNING_RATE = 1e-6
STEPS = 10  # Adam steps per timed call, for every contender (one `nx.fit` call for nestax)
TORCH_THREADS = 1
SETTINGS = {
    "dtype": "float64 for every contender (the example trains in float64)",
    "step": f"{STEPS} x (loss + gradient through the ODE solve + one Adam update) per timed call "
    "(learning rate 1e-6, so every call times steps at the initial weights)",
    "solver": "Tsit5 (JAX) / dopri5 (torchdiffeq), rtol = atol = 1e-6, saveat the 21 data times",
    "torch_threads": f"{TORCH_THREADS} (faster than the default for this tiny network)",
}


def _problem(regularize: bool):
    from ..examples import lotka_volterra

    jax.config.update("jax_enable_x64", True)  # the example's dtype; before building arrays
    return lotka_volterra.build(seed=0, dtype=jnp.float64, regularize=regularize)


# ----------------------------------------------------------------------------- nestax
def _nestax(regularize: bool) -> Callable[[], Callable[[], Any]]:
    def make():
        import nestax as nx

        p = _problem(regularize)
        # one Stage object for every call: `fit` compiles its step once per loss and stage
        stage = nx.Stage("adam", STEPS, learning_rate=LEARNING_RATE)
        state = {"params": p.network}

        def call():  # as a user calls it
            result = nx.fit(p.loss_terms, state["params"], [stage], progress=False)
            state["params"] = result.params
            return result.params

        return call

    return make


# ----------------------------------------------------------------------------- diffrax + optax
def _diffrax(regularize: bool) -> Callable[[], Callable[[], Any]]:
    def make():
        import diffrax

        p = _problem(regularize)
        alpha, delta = p.p[0], p.p[3]

        def rhs(t, u, m):
            return jnp.stack([alpha * u[0], -delta * u[1]]) + m(u)

        def loss(m):
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(rhs), diffrax.Tsit5(), p.ts[0], p.ts[-1], None, p.data[0],
                args=m, saveat=diffrax.SaveAt(ts=p.ts),
                stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
                adjoint=diffrax.RecursiveCheckpointAdjoint(), max_steps=4096,
            )  # fmt: skip
            out = jnp.mean((sol.ys - p.data) ** 2)
            if regularize:
                out = out + jnp.sum(jax.vmap(jax.grad(lambda z: m(z)[0]))(p.points) ** 2)
            return out

        opt = optax.adam(LEARNING_RATE)
        dyn, static = eqx.partition(p.network, eqx.is_inexact_array)

        @jax.jit
        def step(dyn, opt_state):
            value, grads = jax.value_and_grad(lambda d: loss(eqx.combine(d, static)))(dyn)
            updates, opt_state = opt.update(grads, opt_state, dyn)
            return optax.apply_updates(dyn, updates), opt_state, value

        state = {"dyn": dyn, "opt": opt.init(dyn)}

        def call():
            for _ in range(STEPS):
                state["dyn"], state["opt"], value = step(state["dyn"], state["opt"])
            return state["dyn"], value

        return call

    return make


# ----------------------------------------------------------------------------- torch
def _torch(regularize: bool) -> Callable[[], Callable[[], Any]]:
    def make():
        import torch
        from torchdiffeq import odeint

        class Rbf(torch.nn.Module):
            def forward(self, x):
                return torch.exp(-(x**2))

        torch.set_num_threads(TORCH_THREADS)
        p = _problem(regularize)
        layers: list[Any] = []
        for i, lin in enumerate(p.network.layers):
            layer = torch.nn.Linear(lin.weight.shape[1], lin.weight.shape[0]).double()
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.array(lin.weight)))
                layer.bias.copy_(torch.from_numpy(np.array(lin.bias)))
            layers.append(layer)
            if i < len(p.network.layers) - 1:
                layers.append(Rbf())
        net = torch.nn.Sequential(*layers)
        alpha, delta = float(p.p[0]), float(p.p[3])
        known = torch.tensor([alpha, -delta], dtype=torch.float64)
        ts = torch.from_numpy(np.array(p.ts))
        data = torch.from_numpy(np.array(p.data))
        points = torch.from_numpy(np.array(p.points))
        opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)

        def rhs(t, u):
            return known * u + net(u)

        def call():
            for _ in range(STEPS):
                opt.zero_grad()
                pred = odeint(rhs, data[0], ts, rtol=1e-6, atol=1e-6, method="dopri5")
                loss = torch.mean((pred - data) ** 2)
                if regularize:
                    x = points.clone().requires_grad_(True)
                    (g,) = torch.autograd.grad(net(x)[:, 0].sum(), x, create_graph=True)
                    loss = loss + (g**2).sum()
                loss.backward()
                opt.step()
            return loss

        return call

    return make


_TORCH = ("torch", "torchdiffeq")


def cases() -> list[Case]:
    """The three cases of the suite."""
    base = f"Lotka–Volterra UDE (rbf net 2→5→5→5→2, 21 observations, float64): {STEPS} Adam steps"
    penalty = " + Σ over 101 points of ‖∇U₁(x,1)‖²"
    out = []
    for reg in (False, True):
        out.append(
            Case(
                "lotka-volterra" + (" + penalty" if reg else ""),
                base + (penalty if reg else ""),
                [
                    Contender("nestax", _nestax(reg), note="nx.ude.UDE trained by nx.fit"),
                    Contender("diffrax + optax (hand-written)", _diffrax(reg)),
                    Contender(
                        "torch + torchdiffeq",
                        _torch(reg),
                        "torch",
                        _TORCH,
                        "odeint dopri5" + (", create_graph=True" if reg else ""),
                    ),  # fmt: skip
                ],
            )
        )
    out.append(
        Case(
            "penalty cost (nestax)",
            "nestax step with the penalty vs without: ratio = time with ÷ time without",
            [
                Contender("nestax + penalty", _nestax(True)),
                Contender("nestax, no penalty", _nestax(False)),
            ],
            reference="nestax + penalty",
        )
    )
    return out
