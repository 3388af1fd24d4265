"""Everything the Taylor engine needs to know about jaxprs, in one place.

The interpreter walks a traced program equation by equation. This module is the only one that
touches jaxpr objects (`Var`, `Literal`, equation parameters, sub-jaxprs of call-like
primitives), so a JAX upgrade that moves them touches one file. It exposes a small, stable view:

- `trace(f, x)` -> a `Program` (inputs, constants, equations, outputs) and the output treedef;
- `Equation` (primitive, inputs, outputs, params) and `bind(eqn, args)` to evaluate one normally;
- `call_body(eqn)` -> the `Program` a call-like equation runs (`jit`, `closed_call`, `remat`),
  or `None`;
- `custom_kind(eqn)` (``"custom_jvp"`` / ``"custom_vjp"`` / ``None``) and `custom_jvp_rule(eqn,
  zeros)`: the program of a `custom_jvp` function's *rule* (nested AD differentiates the rule,
  never the primal body, and so does the engine);
- `scan_parts`, `while_parts`, `cond_branches`: the pieces of the control-flow primitives;
- `sub_programs(eqn)`: every program an equation holds (for static walks);
- `is_literal`, `literal_value`, `is_dropvar`, `where(eqn)` for error messages, and
  `primitive(name)` to look a primitive up by name across JAX versions.

Example:
    >>> import jax.numpy as jnp
    >>> program, _ = trace(lambda x: jnp.sin(x) * 2.0, jnp.ones(3))
    >>> [eqn.primitive.name for eqn in program.eqns]
    ['sin', 'mul']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.extend.core as jex

try:  # pragma: no cover - depends on the JAX version
    from jax.extend.source_info_util import summarize as _summarize
except ImportError:  # pragma: no cover
    _summarize = None

# Call-like primitives whose body is a (closed) jaxpr over the same inputs as the equation.
_BODY_PARAM = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat": "jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
}

#: Primitives of functions with user-defined derivative rules.
_CUSTOM = {
    "custom_jvp_call": "custom_jvp",
    "custom_vjp_call": "custom_vjp",
    "custom_vjp_call_jaxpr": "custom_vjp",
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


class Traced:
    """``f`` together with its program at one input shape: every static walk and every run of
    the engine that is handed a `Traced` reuses the program instead of tracing ``f`` again.

    Calling it calls ``f``. It belongs to one call of an operator (one lowering) and is never
    kept beyond it, so a value ``f`` closes over is read afresh on the next call.

    Example:
        >>> import jax.numpy as jnp
        >>> t = Traced(jnp.sin, jnp.ones(3))
        >>> trace(t, jnp.zeros(3))[0] is t.program
        True
    """

    def __init__(self, f: Callable[..., Any], x: Any):
        self.f = f
        self.aval = (tuple(jax.numpy.shape(x)), jax.numpy.result_type(x))
        closed, self.out_shape = jax.make_jaxpr(lambda z: f(z), return_shape=True)(x)
        self.program = _as_program(closed)
        self.out_tree = jax.tree_util.tree_structure(self.out_shape)

    def __call__(self, x: Any) -> Any:
        return self.f(x)

    def first(self) -> Traced:
        """The first element of a pair output ``(y, aux)``, without tracing ``f`` again."""
        y_shape = self.out_shape[0]
        n = len(jax.tree_util.tree_leaves(y_shape))
        new = object.__new__(Traced)
        f = self.f
        new.f = lambda x: f(x)[0]
        new.aval, new.out_shape = self.aval, y_shape
        new.program = dataclasses.replace(self.program, outvars=tuple(self.program.outvars[:n]))
        new.out_tree = jax.tree_util.tree_structure(y_shape)
        return new


def trace(f: Callable[..., Any], x: Any) -> tuple[Program, Any]:
    """Trace ``f`` at ``x``; return its program and the treedef of its output.

    Under an outer `jax.grad`/`jax.vmap`/`jax.jit`, values ``f`` closes over become the
    program's constants (tracers of the outer transformation), which is what lets the engine
    compose with them. A `Traced` ``f`` of ``x``'s shape and dtype gives its program.

    Otherwise the trace is never reused: `jax.make_jaxpr` caches traces by function object,
    and a function that closes over a Python value that has since changed would otherwise run
    with the old value. A fresh wrapper per call defeats that cache.
    """
    if isinstance(f, Traced) and f.aval == (tuple(jax.numpy.shape(x)), jax.numpy.result_type(x)):
        return f.program, f.out_tree
    closed, out_shape = jax.make_jaxpr(lambda z: f(z), return_shape=True)(x)
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

    Functions with custom derivative rules are not call-like here (see `custom_kind`): their
    derivatives are those of the rule, not of the body.
    """
    key = _BODY_PARAM.get(eqn.primitive.name)
    if key is None or key not in eqn.params:
        return None
    return _as_program(eqn.params[key])


def custom_kind(eqn: Any) -> str | None:
    """``"custom_jvp"`` or ``"custom_vjp"`` for a function with a custom rule, else ``None``."""
    return _CUSTOM.get(eqn.primitive.name)


def custom_name(eqn: Any) -> str:
    """The user's name for a custom-rule function (best effort, for messages)."""
    jaxpr = eqn.params.get("call_jaxpr")
    info = getattr(getattr(jaxpr, "jaxpr", None), "debug_info", None)
    name = getattr(info, "func_name", None) or eqn.params.get("name")
    return str(name) if name else eqn.primitive.name


def custom_jvp_consts(eqn: Any) -> int:
    """How many leading operands of a `custom_jvp_call` are closed-over constants."""
    return int(eqn.params.get("num_consts", 0))


def custom_jvp_rule(eqn: Any, zeros: Sequence[bool]) -> tuple[Program, tuple[bool, ...]]:
    """The rule of a `custom_jvp_call`, traced for the given zero tangents.

    ``zeros[i]`` says whether the tangent of (non-constant) operand ``i`` is zero. Returns the
    program ``(*primals, *tangents) -> (*primal outputs, *nonzero output tangents)`` and which
    output tangents are zero; ``tangents`` holds one entry per operand unless the function
    was defined with ``symbolic_zeros=True``, in which case only the nonzero ones (see
    `custom_jvp_symbolic_zeros`). This is what `jax.jvp` evaluates for the function.
    """
    fun = eqn.params["jvp_jaxpr_fun"]
    flags = [bool(z) for z in zeros] if custom_jvp_symbolic_zeros(eqn) else [False] * len(zeros)
    jaxpr, consts, out_zeros = fun.call_wrapped(*flags)
    return _program(jaxpr, consts), tuple(bool(z) for z in out_zeros)


def custom_jvp_symbolic_zeros(eqn: Any) -> bool:
    """Whether a custom_jvp rule takes symbolic zeros (else every tangent is an array)."""
    return bool(eqn.params.get("symbolic_zeros", False))


@dataclass(frozen=True)
class ScanParts:
    body: Program
    num_consts: int
    num_carry: int
    length: int
    reverse: bool
    unroll: Any


def scan_parts(eqn: Any) -> ScanParts:
    """The body and settings of a `scan` equation (body: consts, carry, x slices -> carry, y)."""
    p = eqn.params
    counts = (int(p[k]) for k in ("num_consts", "num_carry", "length"))
    return ScanParts(_as_program(p["jaxpr"]), *counts, bool(p["reverse"]), p.get("unroll", 1))


@dataclass(frozen=True)
class WhileParts:
    cond: Program
    body: Program
    cond_nconsts: int
    body_nconsts: int


def while_parts(eqn: Any) -> WhileParts:
    """The condition and body of a `while` equation (operands: cond consts, body consts, carry)."""
    p = eqn.params
    programs = (_as_program(p[k]) for k in ("cond_jaxpr", "body_jaxpr"))
    return WhileParts(*programs, int(p["cond_nconsts"]), int(p["body_nconsts"]))


def cond_branches(eqn: Any) -> list[Program]:
    """The branches of a `cond` equation (operands: the branch index, then the branch inputs)."""
    return [_as_program(b) for b in eqn.params["branches"]]


def sub_programs(eqn: Any) -> list[Program]:
    """Every program an equation holds: call bodies, loop bodies, branches, a custom function's
    primal body (for static walks that look for constructs anywhere in a program)."""
    out = []
    for value in eqn.params.values():
        items = value if isinstance(value, tuple | list) else (value,)
        for item in items:
            if isinstance(item, jex.ClosedJaxpr | jex.Jaxpr):
                out.append(_as_program(item))
    return out


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


def is_float_aval(atom: Any) -> bool:
    """Whether a variable's type is floating or complex (what can carry Taylor coefficients)."""
    import jax.numpy as jnp

    return bool(jnp.issubdtype(atom.aval.dtype, jnp.inexact))


def dependence(program: Program, arg_dep: Sequence[bool]) -> tuple[dict[Any, bool], list[bool]]:
    """Which variables of ``program`` depend on its inputs flagged in ``arg_dep``.

    Conservative: every floating result of an equation with a dependent operand depends.
    Returns the map for every variable and the flags of the outputs.
    """
    dep: dict[Any, bool] = dict(zip(program.invars, arg_dep, strict=True))

    def flag(atom: Any) -> bool:
        return not is_literal(atom) and dep.get(atom, False)

    for eqn in program.eqns:
        any_dep = any(flag(a) for a in eqn.invars)
        for v in eqn.outvars:
            dep[v] = any_dep and is_float_aval(v)
    return dep, [flag(v) for v in program.outvars]


def has_jvp(prim: Any) -> bool:
    """Whether JAX can differentiate ``prim`` in forward mode (its JVP rule is registered)."""
    try:
        from jax._src.interpreters import ad
    except ImportError:  # pragma: no cover - depends on the JAX version
        return True
    return prim in ad.primitive_jvps or prim in getattr(ad, "fancy_jvps", {})


def default_params(fn: Callable[..., Any], *example: Any) -> dict[str, Any]:
    """The parameters ``fn`` binds its (single) primitive with, e.g. ``lax.mul``'s."""
    (eqn,) = jax.make_jaxpr(fn)(*example).eqns
    return dict(eqn.params)
