r"""Suite ``reduction``: exact input-subspace reduction against folx and a randomized estimator.

Every case is one **training step**: the gradient, with respect to the weights, of
``mean_b (L u(x_b))^2`` over a batch of points, jitted, float32, for a tanh MLP
(``equinox.nn.MLP``, scalar output). Contenders, in one process, interleaved by the harness:

- ``nestax``: ``nestax.laplacian(u)`` / ``nestax.apply(nestax.Biharmonic(), u)`` with
  ``method="auto"`` (what the planner picks is recorded in the note);
- ``nestax collapsed``: the unreduced collapsed Taylor mode (``d + 2`` vectors per point);
- ``folx``: ``folx.forward_laplacian`` (folx-of-folx for the biharmonic);
- ``hutchinson (equal time)``: the randomized estimator
  :math:`\widehat{\Delta u} = \frac1S\sum_s v_s^\top H v_s` with Rademacher probes, each term
  a forward-over-forward ``jvp`` (for the biharmonic, Gaussian probes and
  :math:`\Delta^2 u = E[D_v^4 u]/3`, each term one fourth-order Taylor pass). ``S`` is
  calibrated so that its step takes the time of ``nestax``'s; the note gives ``S`` and the
  estimator's relative error on the batch at that time,
  :math:`\|\widehat{Lu} - Lu\|_2 / \|Lu\|_2` over the points, against nestax's exact values.

The biharmonic of a network with first layer of width ``n`` costs ``Θ(n²)`` directions per
point for *any* exact method (a rotation-invariant direction set for ``Δ²`` in ``k``
dimensions has at least ``k(k+1)/2`` directions), which at width 128 and batch 256 is hours per
step on a laptop CPU: the biharmonic cases use width 16 and batch 32 (``BIHARMONIC``).

Run: ``python -m nestax.benchmarks.reduction [--dims 64,256] [--repeats 7]``, or
``nestax bench reduction`` once registered.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nestax as nx

from ._harness import Case, Contender, run_cases
from ._peers import PEERS

LAPLACIAN = {"dims": (64, 256, 1024, 4096), "width": 128, "depth": 3, "batch": 256}
BIHARMONIC = {"dims": (64, 256), "width": 16, "depth": 3, "batch": 32}
SETTINGS = {
    "dtype": "float32",
    "step": "jit(grad over the weights of mean (L u)^2 over the batch), tanh MLP",
    "laplacian": LAPLACIAN,
    "biharmonic": BIHARMONIC,
    "hutchinson": "S calibrated to the nestax step time (two-point linear fit)",
}


def _problem(d: int, width: int, depth: int, batch: int, seed: int = 0):
    import equinox as eqx

    key, kx = jax.random.split(jax.random.key(seed))
    net = eqx.nn.MLP(d, "scalar", width, depth, activation=jnp.tanh, key=key)
    params, static = eqx.partition(net, eqx.is_array)
    xs = jax.random.normal(kx, (batch, d), jnp.float32) / jnp.sqrt(jnp.float32(d))
    return params, static, xs


def _step(op_of_u, d: int, cfg: dict[str, Any]):
    """The jitted training step for ``op_of_u(u) -> (x -> L u(x))`` and its arguments."""
    import equinox as eqx

    params, static, xs = _problem(d, cfg["width"], cfg["depth"], cfg["batch"])

    def loss(p, xs):
        u = eqx.combine(p, static)
        return jnp.mean(jax.vmap(op_of_u(u))(xs) ** 2)

    grad = jax.jit(jax.grad(loss))
    values = jax.jit(lambda p, xs: jax.vmap(op_of_u(eqx.combine(p, static)))(xs))
    return grad, values, params, xs


# --------------------------------------------------------------------------- contenders


def _nestax(kind: str, method: str = "auto"):
    import nestax as nx

    if kind == "laplacian":
        return lambda u: nx.laplacian(u, method=method)
    return lambda u: nx.apply(nx.Biharmonic(), u, method=method)


def _hutchinson(kind: str, samples: int, seed: int = 1):
    """Rademacher ``v^T H v`` (Laplacian) or Gaussian ``D_v^4 u / 3`` (biharmonic), inline."""

    def op(u):
        def lu(x):
            key = jax.random.fold_in(jax.random.key(seed), jnp.sum(x * 1e4).astype(jnp.int32))
            if kind == "laplacian":
                v = jax.random.rademacher(key, (samples, x.shape[0]), x.dtype)
                hvv = lambda v: jax.jvp(lambda y: jax.jvp(u, (y,), (v,))[1], (x,), (v,))[1]
                return jnp.mean(jax.vmap(hvv)(v))
            v = jax.random.normal(key, (samples, x.shape[0]), x.dtype)
            d4 = lambda v: nx.derivative(lambda t: u(x + t * v), order=4, method="taylor")(0.0)
            return jnp.mean(jax.vmap(d4)(v)) / 3.0

        return lu

    return op


@functools.cache
def _built(kind: str, contender: str, d: int, samples: int = 0):
    cfg = LAPLACIAN if kind == "laplacian" else BIHARMONIC
    contenders = {
        "nestax": lambda: _nestax(kind),
        "nestax collapsed": lambda: _nestax(kind, "collapsed"),
        "folx": lambda: PEERS["folx"].builders[kind](None, d),
        "hutchinson": lambda: _hutchinson(kind, samples),
    }
    return _step(contenders[contender](), d, cfg)


def _runner(kind: str, contender: str, d: int, samples: int = 0):
    def make():
        grad, _, params, xs = _built(kind, contender, d, samples)
        return lambda: grad(params, xs)

    return make


def _time(fn, n: int = 3) -> float:
    jax.block_until_ready(fn())
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def calibrate(kind: str, d: int, s_lo: int = 4, s_hi: int = 32) -> tuple[int, float, float]:
    """``(S, relative error, nestax step time)``: the Hutchinson sample count whose step takes
    nestax's time (linear fit through ``s_lo`` and ``s_hi``), and its error at that ``S``."""
    t_ref = _time(_runner(kind, "nestax", d)())
    t_lo = _time(_runner(kind, "hutchinson", d, s_lo)())
    t_hi = _time(_runner(kind, "hutchinson", d, s_hi)())
    slope = max((t_hi - t_lo) / (s_hi - s_lo), 1e-12)
    samples = int(np.clip(round(s_lo + (t_ref - t_lo) / slope), 1, 4096))
    _, exact_values, params, xs = _built(kind, "nestax", d)
    _, est_values, _, _ = _built(kind, "hutchinson", d, samples)
    exact = np.asarray(exact_values(params, xs), np.float64)
    est = np.asarray(est_values(params, xs), np.float64)
    return samples, float(np.linalg.norm(est - exact) / np.linalg.norm(exact)), t_ref


def _picked(kind: str, d: int) -> str:
    import equinox as eqx

    import nestax as nx

    cfg = LAPLACIAN if kind == "laplacian" else BIHARMONIC
    params, static, xs = _problem(d, cfg["width"], cfg["depth"], cfg["batch"])
    u = eqx.combine(params, static)
    op = nx.laplacian if kind == "laplacian" else nx.Biharmonic()
    out = {}
    jax.eval_shape(jax.vmap(lambda x: out.setdefault("p", nx.explain(op, u, x)) and x), xs)
    return out["p"].method


def cases(dims: dict[str, tuple[int, ...]] | None = None, calibrate_hutchinson: bool = True):
    """The suite's cases (``dims`` overrides ``LAPLACIAN["dims"]`` / ``BIHARMONIC["dims"]``)."""
    out = []
    for kind, cfg in (("laplacian", LAPLACIAN), ("biharmonic", BIHARMONIC)):
        for d in (dims or {}).get(kind, cfg["dims"]):
            picked = _picked(kind, d)
            contenders = [
                Contender("nestax", _runner(kind, "nestax", d), note=f"auto picked {picked!r}"),
                Contender("folx", _runner(kind, "folx", d), requires=("folx",)),
            ]
            if kind == "biharmonic" or d <= 1024:
                contenders.append(
                    Contender("nestax collapsed", _runner(kind, "nestax collapsed", d))
                )
            if calibrate_hutchinson:
                s, err, t_ref = calibrate(kind, d)
                contenders.append(
                    Contender(
                        "hutchinson (equal time)",
                        _runner(kind, "hutchinson", d, s),
                        note=f"S={s} probes; rel. error {err:.3g} at nestax's step time "
                        f"({t_ref * 1e3:.3g} ms)",
                    )
                )
            desc = (
                f"{kind} training step, d={d}, tanh MLP {cfg['width']}x{cfg['depth']}, "
                f"batch {cfg['batch']}, float32"
            )
            out.append(Case(f"{kind} d={d}", desc, contenders))
    return out


def sine_gordon_budget(
    d: int = 10_000,
    budget: float = 240.0,
    out_dir: str = "benchmarks/results",
    estimators: tuple[str, ...] = ("exact", "stde"),
    **options: Any,
) -> dict[str, Any]:
    """The ``sine-gordon-nd`` example trained for the same wall-clock ``budget`` (seconds) with
    each Laplacian estimator; writes ``sine_gordon_budget.{json,md}`` with their errors.

    ``"exact"`` is ``nestax.laplacian`` with ``auto`` (the reduced strategy: ``width + 2``
    vectors per point); ``"stde"`` the randomized coordinate estimator with the example's
    default ``samples``. Everything else is the example's default (or ``options``).
    """
    import json
    import os
    import tempfile
    from pathlib import Path

    from ..examples import sine_gordon_nd

    rows = {}
    for estimator in estimators:
        with tempfile.TemporaryDirectory() as tmp:
            m = sine_gordon_nd.run(
                out_dir=tmp,
                progress=False,
                d=d,
                estimator=estimator,
                time_budget=budget,
                **options,
            )
        rows[estimator] = {
            k: m.get(k)
            for k in (
                "rel_l2_error",
                "iterations",
                "train_wall_seconds",
                "step_seconds_probe",
                "samples",
                "width",
                "n_points",
                "peak_rss_mb",
                "final_loss",
            )
        }
    report = {"d": d, "budget_s": budget, "load": os.getloadavg(), "rows": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sine_gordon_budget.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# sine-gordon-nd, d = {d}: relative L2 error after {budget:g} s of training",
        "",
        f"Load average after: {report['load'][0]:.1f} (2 cores). Same network, points per "
        "step, Adam schedule (cosine decay over the steps that fit in the budget); each run's "
        "wall clock includes its compilation.",
        "",
        "| Laplacian | rel. L2 error | steps | s per step | train s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        label = "exact (reduced, auto)" if name == "exact" else f"{name} ({r['samples']} samples)"
        lines.append(
            f"| {label} | {r['rel_l2_error']:.3e} | {r['iterations']} | "
            f"{r['step_seconds_probe']:.3g} | {r['train_wall_seconds']:.0f} |"
        )
    (out / "sine_gordon_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="", help="Laplacian dims, e.g. 64,256")
    parser.add_argument("--biharmonic-dims", default="", help="e.g. 64 (empty: none)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--sine-gordon", type=int, default=0, help="instead: sine-gordon-nd at this d, budgeted"
    )
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per estimator")
    args = parser.parse_args(argv)
    if args.sine_gordon:
        sine_gordon_budget(args.sine_gordon, args.budget, args.out)
        return
    dims = {
        "laplacian": tuple(int(v) for v in args.dims.split(",") if v) or LAPLACIAN["dims"],
        "biharmonic": tuple(int(v) for v in args.biharmonic_dims.split(",") if v),
    }
    run_cases("reduction", cases(dims), repeats=args.repeats, out_dir=args.out, settings=SETTINGS)


if __name__ == "__main__":
    main()
