"""Everything the Taylor engine needs to know about jaxprs, in one place.

The interpreter walks a traced program equation by equation. This module is the only one that
touches jaxpr objects (`Var`, `Literal`, equation parameters, sub-jaxprs of call-like
primitives), so a JAX upgrade that moves them touches one file. It exposes a small, stable view:

- `trace(f, x)` -> a `Program` (inputs, constants, equations, outputs) and the output treedef;
- `Equation` (primitive, inputs, outputs, params) and `bind(eqn, args)` to evaluate one normally;
- `call_body(eqn)` -> the `Program` a call-like equation runs (`jit`, `closed_call`, `remat`, the
  primal function of `custom_jvp_call` / `custom_vjp_call`), or `None`;
- `is_literal`, `literal_value`, `is_dropvar`, `where(eqn)` for error messages, and
  `primitive(name)` to look a primitive up by name across JAX versions.

Example:
    >>> import jax.numpy as jnp
    >>> program, _ = trace(lambda x: jnp.sin(x) * 2.0, jnp.ones(3))
    >>> [eqn.primitive.name for eqn in program.eqns]
    ['sin', 'mul']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.extend.core as jex

try:  # pragma: no cover - depends on the JAX version
    from jax.extend.source_info_util import summarize as _summarize
except ImportError:  # pragma: no cover
    _summarize = None

#: Names of control-flow primitives: the engine has no rule for them (yet).
CONTROL_FLOW = {
    "scan": "jax.lax.scan / fori_loop",
    "while": "jax.lax.while_loop / fori_loop",
    "cond": "jax.lax.cond / switch",
}

# Call-like primitives whose body is a (closed) jaxpr over the same inputs as the equation.
_BODY_PARAM = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat": "jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
}


@dataclass(frozen=True)
class Program:
    """A traced function: `outvars = eqns(invars, constvars := consts)`."""

    invars: Sequence[Any]
    constvars: Sequence[Any]
    consts: Sequence[Any]
    eqns: Sequence[Any]
    outvars: Sequence[Any]


def _program(jaxpr: Any, consts: Sequence[Any]) -> Program:
    return Program(
        invars=tuple(jaxpr.invars),
        constvars=tuple(jaxpr.constvars),
        consts=tuple(consts),
        eqns=tuple(jaxpr.eqns),
        outvars=tuple(jaxpr.outvars),
    )


def _as_program(body: Any) -> Program:
    if isinstance(body, jex.ClosedJaxpr):
        return _program(body.jaxpr, body.consts)
    if isinstance(body, jex.Jaxpr):
        return _program(body, ())
    raise TypeError(f"expected a jaxpr, got {type(body).__name__}")  # pragma: no cover


def trace(f: Callable[..., Any], x: Any) -> tuple[Program, Any]:
    """Trace ``f`` at ``x``; return its program and the treedef of its output.

    Under an outer `jax.grad`/`jax.vmap`/`jax.jit`, values ``f`` closes over become the
    program's constants (tracers of the outer transformation), which is what lets the engine
    compose with them.
    """
    closed, out_shape = jax.make_jaxpr(f, return_shape=True)(x)
    return _as_program(closed), jax.tree_util.tree_structure(out_shape)


def is_literal(atom: Any) -> bool:
    return isinstance(atom, jex.Literal)


def literal_value(atom: Any) -> Any:
    return atom.val


def is_dropvar(atom: Any) -> bool:
    return isinstance(atom, jex.DropVar)


def aval_of(atom: Any) -> Any:
    return atom.aval


def bind_params(eqn: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Split an equation's params into (sub-functions, keyword params) for `primitive.bind`."""
    bound = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(bound, dict):
        return (), bound
    subfuns, params = bound  # pragma: no cover - JAX < 0.9.2
    return tuple(subfuns), dict(params)  # pragma: no cover


def bind(eqn: Any, args: Sequence[Any]) -> list[Any]:
    """Evaluate one equation normally; always returns a list of outputs."""
    subfuns, params = bind_params(eqn)
    out = eqn.primitive.bind(*subfuns, *args, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def call_body(eqn: Any) -> Program | None:
    """The program a call-like equation evaluates on its inputs, or ``None``.

    For `custom_jvp_call` and `custom_vjp_call` this is the *primal* function: Taylor
    coefficients are propagated through its implementation, not through the custom rule.
    """
    key = _BODY_PARAM.get(eqn.primitive.name)
    if key is None or key not in eqn.params:
        return None
    return _as_program(eqn.params[key])


def where(eqn: Any) -> str:
    """Where in the user's source this equation came from, if known (for error messages)."""
    if _summarize is None:  # pragma: no cover
        return ""
    try:
        return _summarize(eqn.source_info)
    except Exception:  # pragma: no cover - best effort only
        return ""


def primitive(name: str) -> Any | None:
    """Look up a primitive object by its Python name (``"tanh_p"``) across JAX versions."""
    for module in (jex.primitives, jax.lax):
        prim = getattr(module, name, None)
        if prim is not None:
            return prim
    return None


def is_float_atom(atom: Any) -> bool:
    """Whether a jaxpr variable or literal holds floating values."""
    import jax.numpy as jnp

    return bool(jnp.issubdtype(atom.aval.dtype, jnp.inexact))


def batch_size(x: Any) -> int:
    """How many points ``x`` stands for under enclosing `jax.vmap`\\ s (1 outside any).

    A per-point function sees one point; under ``vmap`` its argument is a batch tracer over the
    whole batch. Work that does not depend on the point (a basis computed from the parameters)
    is done once per batch, so the planner divides its cost by this number. Best effort: any
    surprise in the tracer's layout gives 1.
    """
    try:
        from jax._src.interpreters import ad, batching
    except ImportError:  # pragma: no cover - depends on the JAX version
        return 1
    n = 1
    try:
        while True:
            if isinstance(x, batching.BatchTracer):
                dim = x.batch_dim
                if isinstance(dim, int):  # not `not_mapped` (None / NotMapped across versions)
                    n *= int(x.val.shape[dim])
                x = x.val
            elif isinstance(x, ad.JVPTracer):  # a jvp w.r.t. the point inside the vmap
                x = x.primal
            else:
                break
    except Exception:  # pragma: no cover - best effort only
        return 1
    return max(n, 1)
