"""Suite ``pinn``: nestax against DeepXDE (PyTorch backend) on burgers and poisson-2d.

Two measurements, same machine, same process:

1. ``cases()`` (the harness protocol): one Adam training step — loss with its input
   derivatives, gradient with respect to the weights, update — on the same points and the same
   network, float64. nestax: ``nestax.fit``'s jitted step; DeepXDE: ``model._train_step``
   (``torch.autograd.grad(create_graph=True)`` inside, eager).
2. ``time_to_accuracy()``: the whole schedule (Adam, then L-BFGS) for both, the relative L2
   error against the reference recorded every ``every`` steps with its wall-clock time
   (evaluation time excluded, compilation included). The target is DeepXDE's final error; the
   report gives the time each needed to reach it and the ratio. Where nestax has not reached it
   by the schedule's end, its L-BFGS goes on until it does (at most as many steps again; the
   report says how many it took). Written to ``<out>/pinn_time_to_accuracy.json`` and ``.md``;
   ``benchmarks/gpu/pinn.sh`` runs it on a GPU machine.

Identical setup for both: the architecture (tanh MLP), the *initial weights* (copied from the
equinox network into the torch layers), the collocation points (DeepXDE ``anchors``), the hard
constraint (DeepXDE ``apply_output_transform``), the loss (mean squared residual), Adam's
learning rate and step count, L-BFGS's iterations and history size (50).

DeepXDE is optional (``pip install deepxde``); missing, its contenders are skipped with a note.
Run with ``nestax bench pinn`` (per-step table) and
``python -m nestax.benchmarks.pinn`` (time to accuracy, minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._harness import Case, Contender

TORCH_THREADS = 2
SETTINGS = {
    "dtype": "float64 for every contender",
    "torch_threads": TORCH_THREADS,
    "deepxde_backend": "pytorch",
    "step": "one Adam step: residual loss with input derivatives, weight gradient, update",
}
CONFIG = {
    "poisson-2d": {"n": 4096, "width": 32, "depth": 3, "adam": 1000, "lbfgs": 2000},
    "burgers": {"n": 4096, "width": 32, "depth": 4, "adam": 2000, "lbfgs": 3000},
}


def _setup(name: str, cfg: dict[str, Any]):
    jax.config.update("jax_enable_x64", True)
    from nestax import pinn
    from nestax.examples import burgers, poisson_2d

    if name == "poisson-2d":
        problem = poisson_2d.build(cfg["n"])
        _, _, pts = poisson_2d.grid()
        ref = np.asarray(jax.vmap(poisson_2d.exact)(jnp.asarray(pts)))
    else:
        problem = burgers.build(cfg["n"])
        _, _, pts, r = burgers.reference_grid()
        ref = r.ravel()
    net = pinn.mlp(jax.random.key(0), 2, width=cfg["width"], depth=cfg["depth"])
    return problem, net, pts, ref


# ----------------------------------------------------------------------------- DeepXDE
def _deepxde_model(name: str, problem, net):
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde
    import torch

    torch.set_num_threads(TORCH_THREADS)
    dde.config.set_default_float("float64")
    from nestax.examples import burgers_reference, poisson_2d

    if name == "poisson-2d":
        k, s = float(poisson_2d.K), float(poisson_2d.SCALE)

        def pde(x, y):
            lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
            return lap + torch.sin(k * x[:, 0:1]) * torch.sin(k * x[:, 1:2])

        def transform(x, y):
            a, b = x[:, 0:1], x[:, 1:2]
            return s * 16 * a * (1 - a) * b * (1 - b) * y

        geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    else:
        nu = float(burgers_reference.NU)

        def pde(x, y):
            dy_t = dde.grad.jacobian(y, x, i=0, j=0)
            dy_x = dde.grad.jacobian(y, x, i=0, j=1)
            return dy_t + y * dy_x - nu * dde.grad.hessian(y, x, i=1, j=1)

        def transform(x, y):
            t, z = x[:, 0:1], x[:, 1:2]
            return -torch.sin(np.pi * z) + t * (1 - z**2) * y

        geom = dde.geometry.Rectangle([0.0, -1.0], [1.0, 1.0])
    anchors = np.asarray(problem.points["residual"], np.float64)
    data = dde.data.PDE(geom, pde, [], num_domain=0, num_boundary=0, anchors=anchors)
    sizes = [2] + [net.width_size] * net.depth + [1]
    fnn = dde.nn.FNN(sizes, "tanh", "Glorot normal")
    with torch.no_grad():  # the same initial weights as the nestax network
        for lin, layer in zip(fnn.linears, net.layers, strict=True):
            lin.weight.copy_(torch.from_numpy(np.array(layer.weight, np.float64)))
            lin.bias.copy_(torch.from_numpy(np.array(layer.bias, np.float64).reshape(-1)))
    fnn.apply_output_transform(transform)
    return dde, dde.Model(data, fnn)


def _deepxde_step(name: str, cfg: dict[str, Any]):
    problem, net, _, _ = _setup(name, cfg)
    _, model = _deepxde_model(name, problem, net)
    model.compile("adam", lr=1e-3)
    model.train_state.set_data_train(*model.data.train_next_batch(None))
    st = model.train_state
    return lambda: model._train_step(st.X_train, st.y_train, st.train_aux_vars)


def _nestax_step(name: str, cfg: dict[str, Any]):
    import equinox as eqx
    import optax

    problem, net, _, _ = _setup(name, cfg)
    loss = problem.loss()
    params, static = eqx.partition(net, eqx.is_inexact_array)
    opt = optax.adam(1e-3)
    state = [params, opt.init(params)]

    @jax.jit
    def step(p, s):
        total = lambda q: sum(loss(eqx.combine(q, static)).values())  # noqa: E731
        g = jax.grad(total)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    def run():
        state[0], state[1] = step(state[0], state[1])
        return state[0]

    return run


def cases() -> list[Case]:
    out = []
    for name, cfg in CONFIG.items():
        out.append(
            Case(
                f"{name} adam step",
                f"{name}: {cfg['n']} points, tanh MLP 2→{cfg['width']}×{cfg['depth']}→1, float64",
                [
                    Contender("nestax", lambda n=name, c=cfg: _nestax_step(n, c)),
                    Contender(
                        "deepxde (pytorch)",
                        lambda n=name, c=cfg: _deepxde_step(n, c),
                        framework="torch",
                        requires=("deepxde", "torch"),
                    ),
                ],
            )
        )
    return out


# ----------------------------------------------------------------------------- time to accuracy
def nestax_curve(
    name: str, cfg: dict[str, Any], every: int = 250, target: float | None = None
) -> dict[str, Any]:
    """``{"times": [...], "errors": [...], "steps": [...]}`` for nestax (evaluation time
    excluded).

    The schedule is ``cfg``'s. With a ``target`` error not reached by its end, L-BFGS goes on
    (at most ``cfg["lbfgs"]`` more steps) until it is: the time to the target is then the
    time it really took, the extra steps included (``"extra_steps"`` says how many).
    """
    import nestax as nx
    from nestax import pinn

    problem, net, pts, ref = _setup(name, cfg)
    end = cfg["adam"] + cfg["lbfgs"]
    curve: dict[str, Any] = {"times": [], "errors": [], "steps": []}
    paused = [0.0]
    t0 = time.perf_counter()

    def cb(k, params, terms):
        t = time.perf_counter()
        curve["times"].append(t - t0 - paused[0])
        curve["steps"].append(k)
        err = pinn.evaluate(problem, params, pts, ref)["rel_l2_error"]
        curve["errors"].append(err)
        paused[0] += time.perf_counter() - t
        return target is not None and k >= end and err <= target

    extra = 0 if target is None else cfg["lbfgs"]
    stages = [
        nx.Stage("adam", cfg["adam"], learning_rate=1e-3),
        nx.Stage("lbfgs", cfg["lbfgs"] + extra, memory_size=50),
    ]
    result = nx.fit(problem.loss(), net, stages, callback=cb, every=every, progress=False)
    if result.steps > curve["steps"][-1]:
        cb(result.steps, result.params, {})
    curve["schedule_error"] = next(
        e for k, e in zip(curve["steps"], curve["errors"], strict=True) if k >= end
    )
    curve["extra_steps"] = max(0, curve["steps"][-1] - end) if extra else 0
    return curve


def deepxde_curve(name: str, cfg: dict[str, Any], every: int = 250) -> dict[str, Any]:
    """The same for DeepXDE (its own display/test overhead every ``every`` steps included)."""
    problem, net, pts, ref = _setup(name, cfg)
    dde, model = _deepxde_model(name, problem, net)
    from nestax import pinn

    curve: dict[str, list[float]] = {"times": [], "errors": [], "steps": []}
    paused = [0.0]
    t0 = time.perf_counter()

    class Record(dde.callbacks.Callback):
        def on_epoch_end(self):
            step = self.model.train_state.step
            if step % every and step != cfg["adam"]:
                return
            _torch_sync()
            t = time.perf_counter()
            curve["times"].append(t - t0 - paused[0])
            curve["steps"].append(int(step))
            pred = self.model.predict(pts).reshape(-1)
            curve["errors"].append(pinn.relative_l2(pred, ref))
            paused[0] += time.perf_counter() - t

    model.compile("adam", lr=1e-3)
    model.train(iterations=cfg["adam"], display_every=every, callbacks=[Record()], verbose=0)
    dde.optimizers.set_LBFGS_options(maxcor=50, ftol=0, gtol=1e-12, maxiter=cfg["lbfgs"])
    dde.optimizers.config.LBFGS_options["iter_per_step"] = every
    model.compile("L-BFGS")
    model.train(display_every=every, callbacks=[Record()], verbose=0)
    return curve


def _torch_sync() -> None:
    import torch

    if torch.cuda.is_available():  # eager CUDA kernels run behind the host
        torch.cuda.synchronize()


def _devices() -> dict[str, str]:
    out = {"jax": ", ".join(d.device_kind for d in jax.devices())}
    if importlib.util.find_spec("torch") is not None:
        import torch

        out["torch"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return out


def _first_reach(curve: dict[str, Any], target: float, at: str = "times") -> float | None:
    """The first ``curve[at]`` (time or step) where the error is at most ``target``."""
    for t, e in zip(curve[at], curve["errors"], strict=True):
        if e <= target:
            return t
    return None


def time_to_accuracy(
    out_dir: str | os.PathLike = "benchmarks/results",
    names=tuple(CONFIG),
    every: int = 250,
    config: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run both on each problem; the target is DeepXDE's final error (no target, nestax's
    schedule alone, when DeepXDE is not installed). Writes JSON and a markdown table; returns
    the report.

    Both run on the default device of their framework (JAX's and PyTorch's GPU when there is
    one; the report names the devices)."""
    have_dde = importlib.util.find_spec("deepxde") is not None
    report: dict[str, Any] = {
        "suite": "pinn time to accuracy",
        "devices": _devices(),
        "load_before": os.getloadavg(),
        "problems": {},
    }
    for name in names:
        cfg = (config or CONFIG)[name]
        row: dict[str, Any] = {"config": cfg}
        if have_dde:  # first: its final error is nestax's target
            row["deepxde"] = deepxde_curve(name, cfg, every)
            row["target"] = target = row["deepxde"]["errors"][-1]
            row["nestax"] = nestax_curve(name, cfg, every, target)
            row["deepxde_seconds"] = _first_reach(row["deepxde"], target)
            row["nestax_seconds"] = _first_reach(row["nestax"], target)
            if row["nestax_seconds"]:
                row["speedup"] = row["deepxde_seconds"] / row["nestax_seconds"]
        else:
            row["nestax"] = nestax_curve(name, cfg, every)
            row["note"] = "deepxde not installed (pip install deepxde): nestax only"
        report["problems"][name] = row
    report["load_after"] = os.getloadavg()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pinn_time_to_accuracy.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# pinn: time to reach DeepXDE's final relative L2 error",
        "",
        f"devices: {report['devices']}; "
        f"load average before/after: {report['load_before']} / {report['load_after']}",
        "",
        "| problem | target (DeepXDE final) | DeepXDE s | nestax s | speed-up | "
        "nestax steps to target | nestax error at the schedule's end |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["problems"].items():
        cur, cfg = row["nestax"], row["config"]
        end = cfg["adam"] + cfg["lbfgs"]
        if "target" in row:
            ns = row["nestax_seconds"]
            reached = _first_reach(cur, row["target"], at="steps")
            steps = "not reached" if reached is None else f"{reached} of {end}"
            lines.append(
                f"| {name} | {row['target']:.2e} | {row['deepxde_seconds']:.1f} | "
                f"{'not reached' if ns is None else f'{ns:.1f}'} | "
                f"{row.get('speedup', float('nan')):.1f}× | {steps} | {cur['schedule_error']:.2e} |"
            )
        else:
            lines.append(
                f"| {name} | — | — | — | — | — | {cur['schedule_error']:.2e} ({row['note']}) |"
            )
    lines += [
        "",
        "Same network, initial weights, points, loss and schedule (Adam then L-BFGS) for both; "
        "where nestax has not reached the target by the schedule's end its L-BFGS goes on "
        "(the steps column says how far). Times include compilation; error evaluations are "
        "excluded.",
    ]
    (out / "pinn_time_to_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results", help="folder for the report")
    parser.add_argument("--problems", default=",".join(CONFIG), help="comma-separated names")
    parser.add_argument("--every", type=int, default=250, help="steps between error readings")
    parser.add_argument(
        "--smoke", action="store_true", help="a few steps on few points: checks the set-up only"
    )
    args = parser.parse_args(argv)
    config = None
    if args.smoke:
        config = {k: {**v, "n": 256, "adam": 20, "lbfgs": 20} for k, v in CONFIG.items()}
    names = tuple(args.problems.split(","))
    time_to_accuracy(args.out, names, 10 if args.smoke else args.every, config)


if __name__ == "__main__":
    main()
