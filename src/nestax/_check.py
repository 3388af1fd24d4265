"""Finite-difference gradient checks for any scalar loss over any parameter pytree.

This is how a user trusts a nested gradient: the reverse-mode gradient of the loss (which may
itself contain derivatives of a network with respect to its inputs, an ODE solve, BatchNorm...)
is compared with central finite differences of the loss, in float64.

Finite differences. For a direction ``v`` (a coordinate vector ``e_i``, or a random unit
vector) and a step ``h``,

    D(h)  = (L(θ + h v) − L(θ − h v)) / (2h)            error O(h²)
    FD    = (4 D(h/2) − D(h)) / 3                          error O(h⁴)   (Richardson)

With ``h = eps · max(1, ‖v ⊙ θ‖₂)`` and ``eps = 1e-3`` the truncation error is about
``h⁴ ≈ 1e-12`` and the round-off error about ``1e-16 · |L| / h ≈ 1e-13 · |L|``, so a correct
gradient typically agrees to 1e-9 or better, relative.

Errors. For every checked direction ``j`` with AD value ``a_j = ∇L · v_j`` and FD value
``f_j``::

    abs_j = |a_j − f_j|
    rel_j = abs_j / max(|f_j|, floor),      floor = 1e-3 · max_k |f_k|

The floor keeps a component that is (nearly) zero from turning round-off into a huge relative
error: such components are measured relative to one thousandth of the largest gradient
component. The check passes when ``abs_j ≤ atol + rtol · max(|f_j|, floor)`` for every ``j``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GradientCheckError", "GradientCheckReport", "check_gradients"]

_MAX_ALL_COORDINATES = 2000
_DEFAULT_DIRECTIONS = 64
_DEFAULT_EPS = 1e-3
_FLOOR_FRACTION = 1e-3


class GradientCheckError(AssertionError):
    """Raised by ``check_gradients(..., raise_on_fail=True)`` when AD and FD disagree."""


@dataclasses.dataclass(frozen=True)
class GradientCheckReport:
    """Result of :func:`check_gradients`.

    Attributes:
        ok: whether every checked direction met ``abs ≤ atol + rtol · max(|fd|, floor)``.
        max_abs_error: largest ``|ad − fd|``.
        max_rel_error: largest ``|ad − fd| / max(|fd|, floor)`` (see the module docstring).
        worst_leaf: the parameter (key path and index, e.g. ``.layers[0].weight[3, 1]``) or
            the leaf of the random direction with the largest relative error.
        worst_ad, worst_fd: the AD and finite-difference values there.
        n_checked: how many coordinates or directions were compared.
        mode: ``"coordinates"`` (every parameter) or ``"directions"`` (random directions).
        n_params: number of scalar parameters (inexact array entries) in the pytree.
        loss: the loss value at ``params``.
        rtol, atol, eps: the tolerances and the relative finite-difference step used.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_leaf: str
    worst_ad: float
    worst_fd: float
    n_checked: int
    mode: str
    n_params: int
    loss: float
    rtol: float
    atol: float
    eps: float

    def __str__(self) -> str:
        status = "OK" if self.ok else "FAILED"
        if self.mode == "coordinates":
            what = f"all {self.n_checked} coordinates"
        else:
            what = f"{self.n_checked} random directions over {self.n_params} parameters"
        return (
            f"gradient check {status}: reverse-mode AD vs central finite differences "
            f"(Richardson, eps={self.eps:g}, float64) on {what}\n"
            f"  loss = {self.loss:.6g}\n"
            f"  max abs error = {self.max_abs_error:.3e}, max rel error = "
            f"{self.max_rel_error:.3e} (rtol {self.rtol:g}, atol {self.atol:g})\n"
            f"  worst: {self.worst_leaf} (ad {self.worst_ad:.12g}, fd {self.worst_fd:.12g})"
        )


def check_gradients(
    loss: Callable[..., Any],
    params: Any,
    *,
    eps: float | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    raise_on_fail: bool = False,
    args: tuple = (),
    n_directions: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
) -> GradientCheckReport:
    """Compare ``jax.grad(loss)`` with central finite differences, in float64.

    Args:
        loss: ``loss(params, *args)`` returning a scalar, or a dict of named scalar terms
            (they are summed, as ``nestax.fit`` does). It must be traceable by ``jax.jit``.
        params: any pytree (tuples, dicts, equinox modules...). Its inexact-array leaves are
            converted to float64 and checked; every other leaf is held fixed.
        eps: relative finite-difference step (default 1e-3, with Richardson extrapolation);
            the step along direction ``v`` is ``eps · max(1, ‖v ⊙ θ‖₂)``.
        rtol, atol: pass when ``|ad − fd| ≤ atol + rtol · max(|fd|, floor)`` everywhere,
            with ``floor = 1e-3 · max|fd|``.
        raise_on_fail: raise :class:`GradientCheckError` with the report's text on failure.
        args: extra positional arguments for ``loss`` (not differentiated; inexact arrays in
            them are converted to float64 too).
        n_directions: ``None`` checks every coordinate when there are at most 2000
            parameters, else 64 random directions. An integer ``k`` checks ``k`` random unit
            directions, each supported on one leaf in turn (so the worst leaf is known).
        seed: seed of the random directions.
        batch_size: loss evaluations per vectorised batch (``jax.lax.map``); 1 evaluates
            one at a time.

    Returns:
        A :class:`GradientCheckReport`; ``print`` it for a readable summary.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> import nestax as nx
        >>> loss = lambda p: jnp.sum(jnp.sin(p["w"]) ** 2)
        >>> nx.check_gradients(loss, {"w": jnp.arange(3.0)}).ok
        True
    """
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError(
            "check_gradients: finite differences need float64, but 64-bit mode is off. Call "
            'jax.config.update("jax_enable_x64", True) at the start of your program '
            "(before creating any arrays)."
        )
    if not callable(loss):
        raise TypeError(f"check_gradients: argument `loss` must be callable; got {type(loss)}")
    if not isinstance(args, tuple):
        raise TypeError(f"check_gradients: argument `args` must be a tuple; got {type(args)}")
    if eps is None:
        eps = _DEFAULT_EPS
    if not (isinstance(eps, int | float) and 0 < eps < 1):
        raise ValueError(f"check_gradients: argument `eps` must be in (0, 1); got {eps!r}")
    if rtol < 0 or atol < 0:
        raise ValueError(f"check_gradients: `rtol` and `atol` must be >= 0; got {rtol}, {atol}")
    if batch_size < 1:
        raise ValueError(f"check_gradients: `batch_size` must be >= 1; got {batch_size}")

    theta0, unflatten, leaf_info = _flatten(params)
    n = theta0.shape[0]
    if n == 0:
        raise ValueError("check_gradients: `params` has no inexact-array leaves to check")
    args64 = jax.tree_util.tree_map(_to_float64, args)

    def scalar_loss(theta):
        out = loss(unflatten(theta), *args64)
        if isinstance(out, Mapping):
            out = sum(jnp.asarray(v) for v in out.values())
        out = jnp.asarray(out)
        if out.shape != ():
            raise ValueError(
                f"check_gradients: `loss` must return a scalar (or a dict of scalars); got "
                f"shape {out.shape}"
            )
        if out.dtype != jnp.float64:
            raise ValueError(
                f"check_gradients: `loss` returned dtype {out.dtype}, but finite differences "
                "need float64; does the loss cast to float32 somewhere?"
            )
        return out

    value, grad = jax.jit(jax.value_and_grad(scalar_loss))(theta0)

    if n_directions is None:
        mode = "coordinates" if n <= _MAX_ALL_COORDINATES else "directions"
        n_directions = _DEFAULT_DIRECTIONS
    elif isinstance(n_directions, int) and not isinstance(n_directions, bool) and n_directions > 0:
        mode = "directions"
    else:
        raise ValueError(
            f"check_gradients: `n_directions` must be None or a positive int; got {n_directions!r}"
        )

    if mode == "coordinates":
        directions = None
        scale = jnp.maximum(1.0, jnp.abs(theta0))
        ad = grad
        k = n
    else:
        directions, labels = _random_directions(n_directions, leaf_info, n, seed)
        scale = jnp.maximum(1.0, jnp.sqrt((directions**2) @ (theta0**2)))
        ad = directions @ grad
        k = n_directions
    steps = eps * scale  # (k,)

    # Evaluate L(θ + s·v_j) for s in (+h, −h, +h/2, −h/2), all k directions.
    idx = jnp.repeat(jnp.arange(k), 4)
    factors = jnp.tile(jnp.array([1.0, -1.0, 0.5, -0.5]), k)
    shifts = factors * jnp.repeat(steps, 4)

    def shifted(j_s):
        j, s = j_s
        if directions is None:
            theta = theta0.at[j].add(s)
        else:
            theta = theta0 + s * directions[j]
        return scalar_loss(theta)

    vals = jax.jit(lambda i, s: jax.lax.map(shifted, (i, s), batch_size=batch_size))(idx, shifts)
    vals = np.asarray(vals).reshape(k, 4)
    h = np.asarray(steps)
    d1 = (vals[:, 0] - vals[:, 1]) / (2 * h)
    d2 = (vals[:, 2] - vals[:, 3]) / h
    fd = (4 * d2 - d1) / 3
    ad = np.asarray(ad)

    abs_err = np.abs(ad - fd)
    floor = max(_FLOOR_FRACTION * float(np.max(np.abs(fd))), np.finfo(np.float64).tiny)
    denom = np.maximum(np.abs(fd), floor)
    rel_err = abs_err / denom
    nonfinite = ~(np.isfinite(ad) & np.isfinite(fd))
    rel_err = np.where(nonfinite, np.inf, rel_err)
    abs_err = np.where(nonfinite, np.inf, abs_err)
    ok = bool(np.all(abs_err <= atol + rtol * denom) and not np.any(nonfinite))
    worst = int(np.argmax(rel_err))
    if mode == "coordinates":
        where = _coordinate_label(worst, leaf_info)
    else:
        where = labels[worst]

    report = GradientCheckReport(
        ok=ok,
        max_abs_error=float(np.max(abs_err)),
        max_rel_error=float(np.max(rel_err)),
        worst_leaf=where,
        worst_ad=float(ad[worst]),
        worst_fd=float(fd[worst]),
        n_checked=k,
        mode=mode,
        n_params=n,
        loss=float(value),
        rtol=float(rtol),
        atol=float(atol),
        eps=float(eps),
    )
    if raise_on_fail and not ok:
        raise GradientCheckError(str(report))
    return report


def _to_float64(x):
    if eqx.is_inexact_array(x):
        return jnp.asarray(x, jnp.float64)
    return x


def _flatten(params):
    """Flat float64 vector of the inexact leaves, its inverse, and (path, shape, offset)."""
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    with_path, treedef = jax.tree_util.tree_flatten_with_path(dynamic)
    leaf_info = []
    parts = []
    offset = 0
    for path, leaf in with_path:
        if jnp.issubdtype(jnp.result_type(leaf), jnp.complexfloating):
            raise TypeError(
                "check_gradients: complex parameters are not supported; got a complex leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'}"
            )
        shape = tuple(np.shape(leaf))
        size = math.prod(shape)
        leaf_info.append((jax.tree_util.keystr(path) or "<root>", shape, offset))
        parts.append(jnp.ravel(jnp.asarray(leaf, jnp.float64)))
        offset += size
    theta0 = jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.float64)

    def unflatten(theta):
        leaves = [theta[off : off + math.prod(shape)].reshape(shape) for _, shape, off in leaf_info]
        return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)

    return theta0, unflatten, leaf_info


def _coordinate_label(i, leaf_info):
    for name, shape, off in reversed(leaf_info):
        if i >= off:
            index = np.unravel_index(i - off, shape) if shape else ()
            return f"{name}[{', '.join(str(int(a)) for a in index)}]" if shape else name
    raise AssertionError("unreachable")


def _random_directions(k, leaf_info, n, seed):
    """``k`` random unit directions; direction ``j`` lives on leaf ``j mod n_leaves``.

    With fewer directions than leaves every direction spans all parameters.
    """
    rng = np.random.default_rng(seed)
    dirs = np.zeros((k, n))
    labels = []
    per_leaf = k >= len(leaf_info)
    for j in range(k):
        if per_leaf:
            name, shape, off = leaf_info[j % len(leaf_info)]
            size = math.prod(shape)
            dirs[j, off : off + size] = rng.standard_normal(size)
            labels.append(f"{name} (random direction {j})")
        else:
            dirs[j] = rng.standard_normal(n)
            labels.append(f"all parameters (random direction {j})")
        dirs[j] /= np.linalg.norm(dirs[j])
    return jnp.asarray(dirs), labels
