"""The training step of one stage: loss terms, gradient, optimizer update and the NaN guard.

A step maps the carry ``(θ_k, s_k, θ_good, failed)`` — parameters, optimizer state, the last
parameters with a finite loss, a sticky failure flag — and the step index ``k`` to the next
carry and the row ``(L_1(θ_k), ..., L_n(θ_k), L(θ_k), g_k)`` of the history, where ``g_k`` is 0
when the gradient is finite and ``nan`` when not (the host strips it). When a term of the row
is not finite, or an earlier step failed, the step returns its carry unchanged (flagged), so a
chunk of steps dispatched ahead of the host's check cannot drift past the failure and
``θ_good`` still holds the last good parameters when the host sees the row.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ._gauss_newton import GaussNewton


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def strong(tree: Any, *, copy: bool = False) -> Any:
    """Drop weak types (``jnp.array(x, dtype=x.dtype)``), so every step sees one signature.

    optax initialises a few diagnostics from Python scalars (weakly typed); after one step they
    are strongly typed. Normalising at the start compiles the step once, and makes a state read
    back from a checkpoint indistinguishable from the one that was saved. ``copy=True`` gives
    every leaf its own buffer: an initial state may hold the parameters themselves (L-BFGS's
    line search does), and a buffer cannot be donated twice.
    """

    def fix(x: Any) -> Any:
        if not isinstance(x, jax.Array) or _is_key(x):
            return x
        return jnp.array(x, dtype=x.dtype, copy=copy)

    return jax.tree.map(fix, tree)


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leafwise ``pred ? on_true : on_false``.

    An elementwise select fuses into the update's kernels; ``lax.cond`` would not, and on a GPU
    it reads its predicate back to the host, a synchronisation every step.
    """

    def pick(a: Any, b: Any) -> Any:
        if _is_key(a):
            impl = jax.random.key_impl(a)
            data = pick(jax.random.key_data(a), jax.random.key_data(b))
            return jax.random.wrap_key_data(data, impl=impl)
        return jax.lax.select(jnp.broadcast_to(pred, jnp.shape(a)), a, b)

    return jax.tree.map(pick, on_true, on_false)


def call_loss(loss: Callable[..., Any], params: Any, data: Any, key: Any) -> Any:
    """``loss(params[, data][, key])``: ``data`` and ``key`` are passed when not ``None``."""
    args = (params,) + (() if data is None else (data,)) + (() if key is None else (key,))
    return loss(*args)


def _signature(tree: Any) -> Any:
    """What tracing depends on: the tree structure, and shapes and dtypes of the leaves."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple(
        (x.shape, x.dtype, getattr(x, "sharding", None)) if hasattr(x, "shape") else (type(x), x)
        for x in leaves
    )


def loss_terms(
    loss: Callable[..., Any], dyn: Any, static: Any, key: Any, data: Any = None
) -> tuple[str, ...]:
    """Names of the terms ``loss`` returns (``()`` for a scalar loss), checked at trace time
    once per loss and signature of its arguments (`make_step`'s cache holds them)."""
    owner, func = _owner(loss)
    config = ("terms", func, _signature((dyn, static, key, data)))
    try:
        hash(config)
        table = _table(owner)
    except TypeError:
        return _loss_terms(loss, dyn, static, key, data)
    if config not in table:
        table[config] = _loss_terms(loss, dyn, static, key, data)
    return table[config]


def _loss_terms(loss: Callable[..., Any], dyn: Any, static: Any, key: Any, data: Any) -> Any:
    def call(dyn: Any, key: Any, data: Any) -> Any:
        return call_loss(loss, eqx.combine(dyn, static), data, key)

    try:
        out = jax.eval_shape(call, dyn, key, data)
    except TypeError as err:
        how = (
            "loss(params"
            + (", data" if data is not None else "")
            + (", key" if key is not None else "")
            + ")"
        )
        raise TypeError(f"fit: calling `loss` as {how} failed: {err}") from err
    if isinstance(out, Mapping):
        if not out:
            raise ValueError("fit: argument `loss` returned an empty dict; expected named terms")
        items = list(out.items())
        for name, _ in items:
            if not isinstance(name, str):
                raise TypeError(
                    f"fit: the terms `loss` returns must have string names; got {name!r}"
                )
        if "total" in out:
            raise ValueError("fit: `loss` must not name a term 'total' (the sum is recorded as it)")
    else:
        items = [("the loss", out)]
    for name, term in items:
        if not hasattr(term, "shape") or term.shape != ():
            shape = getattr(term, "shape", type(term).__name__)
            raise ValueError(
                f"fit: argument `loss` must return a scalar or a dict of scalars; term {name!r} "
                f"has shape {shape}"
            )
        if not jnp.issubdtype(term.dtype, jnp.floating):
            raise TypeError(
                f"fit: argument `loss` must return real floating values; term {name!r} has "
                f"dtype {term.dtype}"
            )
    return tuple(out) if isinstance(out, Mapping) else ()


def is_linesearch(opt_state: Any) -> bool:
    """Whether the optimizer keeps the loss value in its state (L-BFGS, stored line searches)."""
    return optax.tree.get(opt_state, "value") is not None


# loss -> {configuration -> compiled step}, by identity (a loss need not be hashable: a bound
# method of a dataclass is not). Weak: a dropped loss frees its steps (and the arrays it closes
# over), and the step reaches the loss through a weak reference; a second `fit` of the same
# loss and stage (a resume, a sweep, training in rounds) compiles nothing.
_CACHE: dict[int, tuple[weakref.ref, dict[Any, Callable[..., Any]]]] = {}


def _owner(loss: Callable[..., Any]) -> tuple[Any, Any]:
    """``(object the cache keys on, function or None)``: a bound method (`problem.loss_terms`,
    a new object at every attribute access) keys on its instance and function."""
    if inspect.ismethod(loss):
        return loss.__self__, loss.__func__
    return loss, None


def _table(owner: Any) -> dict[Any, Callable[..., Any]]:
    """The step table of ``owner`` (``TypeError`` if it has no weak references)."""
    entry = _CACHE.get(id(owner))
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner), {})
        _CACHE[id(owner)] = entry
        weakref.finalize(owner, _CACHE.pop, id(owner), None)
    return entry[1]


def make_step(
    loss: Callable[..., Any],
    static: Any,
    transformation: optax.GradientTransformation,
    carry_def: Any,
    *,
    names: Sequence[str],
    uses_key: bool,
    linesearch: bool,
    jit: bool,
    uses_data: bool = False,
) -> Callable[..., Any]:
    """The step ``(leaves, key, k, data) -> (leaves, row)`` of one stage, jit-compiled once.

    ``leaves`` are the carry's leaves (``carry_def`` is its tree structure): a flat list crosses
    the jit boundary much faster than a tree of equinox modules, which would be flattened in
    Python at every call. They are donated: their buffers are reused for the next carry. Steps
    are cached per loss function, optimizer, carry structure and static part of the
    parameters, when those can be hashed.
    """
    options = dict(
        names=tuple(names), uses_key=uses_key, linesearch=linesearch, jit=jit, uses_data=uses_data
    )
    leaves, treedef = jax.tree.flatten(static)
    static_leaves = tuple((type(x), x) for x in leaves)
    # a bound method (`problem.loss_terms`) is a new object at every attribute access: key it
    # on its instance and function, and reach it through a WeakMethod
    owner, func = _owner(loss)
    ref = weakref.WeakMethod if func is not None else weakref.ref
    config = (func, transformation, carry_def, treedef,
              static_leaves, *options.values())  # fmt: skip
    try:
        hash(config)
        table = _table(owner)
    except TypeError:  # unhashable static leaves, or a loss without weak references
        return _build(lambda: loss, static, transformation, carry_def, **options)
    if config not in table:
        table[config] = _build(ref(loss), static, transformation, carry_def, **options)
    return table[config]


def _build(
    get_loss: Callable[[], Any],
    static: Any,
    transformation: optax.GradientTransformation,
    carry_def: Any,
    *,
    names: tuple[str, ...],
    uses_key: bool,
    linesearch: bool,
    jit: bool,
    uses_data: bool,
) -> Callable[..., Any]:
    def step(leaves: list[jax.Array], key: Any, k: Any, data: Any) -> tuple[list[jax.Array], Any]:
        if isinstance(transformation, GaussNewton):
            return _gauss_newton_step(leaves, key, k, data if uses_data else None)

        def evaluate(dyn: Any, key: Any) -> tuple[jax.Array, jax.Array]:
            return _evaluate(dyn, key, data if uses_data else None)

        return _step(leaves, key, k, evaluate)

    def _evaluate(dyn: Any, key: Any, data: Any) -> tuple[jax.Array, jax.Array]:
        params = eqx.combine(dyn, static)
        out = call_loss(get_loss(), params, data, key if uses_key else None)
        terms = [out[n] for n in names] if names else [out]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        dtype = jnp.result_type(*terms)
        row = jnp.stack([jnp.asarray(t, dtype) for t in terms] + ([] if not names else [total]))
        return total, row

    def _gauss_newton_step(leaves: list[jax.Array], key: Any, k: Any, data: Any) -> Any:
        dyn, opt_state, good, failed = jax.tree.unflatten(carry_def, leaves)
        args = () if data is None else (data,)
        if uses_key:
            args += (jax.random.fold_in(key, k),)
        new_dyn, new_state, row = transformation.step(
            get_loss(), dyn, static, opt_state, args, names
        )
        return _finish(dyn, opt_state, good, failed, new_dyn, new_state, row)

    def _finish(dyn, opt_state, good, failed, new_dyn, new_state, row) -> Any:
        ok = jnp.all(jnp.isfinite(row)) & ~failed
        new_dyn, new_state, good = _select(
            ok, (new_dyn, strong(new_state), dyn), (dyn, opt_state, good)
        )
        new_leaves, new_def = jax.tree.flatten((new_dyn, new_state, good, ~ok))
        if new_def != carry_def:
            raise TypeError(f"fit: the optimizer changed the structure of its state: {new_def}")
        return new_leaves, row

    def _step(leaves: list[jax.Array], key: Any, k: Any, evaluate: Any) -> Any:
        dyn, opt_state, good, failed = jax.tree.unflatten(carry_def, leaves)
        step_key = jax.random.fold_in(key, k) if uses_key else None
        if linesearch:

            def value_fn(p: Any) -> jax.Array:
                return evaluate(p, step_key)[0]

            if uses_key:  # a fresh loss every step: the stored value belongs to the last one
                (value, row), grad = jax.value_and_grad(evaluate, has_aux=True)(dyn, step_key)
            else:  # optax's documented reuse of the value and gradient the line search stored
                value, grad = optax.value_and_grad_from_state(value_fn)(dyn, state=opt_state)
                if len(names) > 1:  # the terms: one more evaluation of the loss
                    row = evaluate(dyn, step_key)[1]
                else:  # the stored value is the whole row (the term and the total)
                    row = jnp.stack([value] * (2 if names else 1))
            updates, new_state = transformation.update(
                grad, opt_state, dyn, value=value, grad=grad, value_fn=value_fn
            )
        else:
            (_, row), grad = jax.value_and_grad(evaluate, has_aux=True)(dyn, step_key)
            updates, new_state = transformation.update(grad, opt_state, dyn)
        new_dyn = optax.apply_updates(dyn, updates)
        # one fused reduction over the gradient: a finite loss can have a nan gradient (the
        # untaken branch of a `where`), which would turn the parameters into nan
        grad_ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grad)]))
        row = jnp.concatenate([row, jnp.where(grad_ok, 0.0, jnp.nan).astype(row.dtype)[None]])
        return _finish(dyn, opt_state, good, failed, new_dyn, new_state, row)

    return jax.jit(step, donate_argnums=0) if jit else step
