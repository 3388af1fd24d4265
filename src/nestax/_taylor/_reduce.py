r"""The reduction pass: the directions along which a network reads its input.

A network ``u(x) = g(W_1 x + b, ...)`` sees ``x`` only through the values that *linear* maps of
``x`` feed into non-linear operations. This pass walks the traced program and splits its
variables into

- **constant**: independent of ``x`` (parameters, and values computed from them only);
- **affine**: ``A x + c``, computed from ``x`` by linear primitives (the engine's
  order-preserving rules that are not piecewise: ``dot_general`` with a constant operand,
  ``mul`` by a constant, ``add``, ``reshape``, ``slice``, ...; not ``max`` or ``abs``);
- **dependent**: everything downstream of a non-linear operation.

An affine variable read by an equation whose result is not affine (``tanh``, a product of two
affine values, a comparison, ...), or returned as an output, is a *reader*: ``u`` depends on ``x``
only through the readers, so ``u`` is constant along every direction orthogonal to the rows of
their stacked Jacobian ``M`` (shape ``(N, d)``, ``N`` = total size of the readers):

.. math::  u(x + v) = u(x) \quad \text{for all } v \perp \operatorname{rowspace}(M).

``M`` does not depend on the point: it is the Jacobian of an affine map, computed by reverse
mode at ``x = 0`` from the program's constants alone. Under `jax.vmap` over points it is
therefore *unbatched* and computed once per batch, and so is anything derived from it (the
orthonormal basis of the strategy "reduced").

An input that reaches a non-linear operation directly (``(1 - |x|^2) N(x)`` reads ``x`` in
``x**2``; ``relu(x)``) makes ``x`` itself a reader, ``N >= d``: no reduction, exactly.

Example:
    >>> import jax, jax.numpy as jnp
    >>> W = jnp.ones((5, 2))
    >>> r = input_readers(lambda x: jnp.sum(jnp.tanh(x @ W)), jnp.zeros(5))
    >>> r.size, r.matrix.shape
    (2, (2, 5))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jaxpr
from ._rules import get_rule, is_linear

_CONST, _AFFINE, _DEP = 0, 1, 2


class Reader(NamedTuple):
    """One affine variable read non-linearly: its size and who reads it (for `explain`)."""

    size: int
    by: str
    where: str


class Readers(NamedTuple):
    """The outcome of `input_readers`.

    Attributes:
        size: ``N``, the number of linear functionals of ``x`` that ``f`` reads.
        readers: one `Reader` per affine variable read non-linearly.
        matrix: ``M`` of shape ``(N, d)`` (rows span what ``f`` reads), or ``None`` when not
            computed (``N >= d``, or ``with_matrix=False``).
    """

    size: int
    readers: tuple[Reader, ...]
    matrix: Any = None

    def describe(self, d: int) -> str:
        """A sentence for `explain`: what reads the input, and through how many functionals."""
        big = sorted(self.readers, key=lambda r: -r.size)[:3]
        parts = [f"`{r.by}` reads {r.size}" + (f" (at {r.where})" if r.where else "") for r in big]
        more = f" and {len(self.readers) - 3} more" if len(self.readers) > 3 else ""
        return f"f reads x through N = {self.size} linear functional(s) ({'; '.join(parts)}{more})"


def _walk(
    program: _jaxpr.Program,
    args: list[Any],
    kinds: list[int],
    found: list[tuple[Any, Reader]],
) -> tuple[list[Any], list[int]]:
    """Evaluate the constant and affine part of ``program``; append readers to ``found``.

    Values of dependent variables are never computed (``None``).
    """
    env: dict[Any, Any] = {}
    kind: dict[Any, int] = {}
    marked: set[int] = set()

    def read(atom: Any) -> tuple[Any, int]:
        if _jaxpr.is_literal(atom):
            return _jaxpr.literal_value(atom), _CONST
        return env.get(atom), kind[atom]

    def mark(atom: Any, by: str, where: str) -> None:
        if id(atom) not in marked:
            marked.add(id(atom))
            value = env[atom]
            found.append((value, Reader(_functionals(value), by, where)))

    for v, c in zip(program.constvars, program.consts, strict=True):
        env[v], kind[v] = c, _CONST
    for v, a, k in zip(program.invars, args, kinds, strict=True):
        env[v], kind[v] = a, k
    for eqn in program.eqns:
        vals, ks = zip(*(read(a) for a in eqn.invars), strict=True) if eqn.invars else ((), ())
        if all(k == _CONST for k in ks):
            outs, out_kinds = _jaxpr.bind(eqn, list(vals)), [_CONST] * len(eqn.outvars)
        elif _AFFINE not in ks:
            outs, out_kinds = [None] * len(eqn.outvars), [_DEP] * len(eqn.outvars)
        elif (body := _jaxpr.call_body(eqn)) is not None:
            outs, out_kinds = _walk(body, list(vals), list(ks), found)
        else:
            flags = tuple(k != _CONST for k in ks)
            linear = (
                _DEP not in ks
                and all(_jaxpr.is_float_atom(v) for v in eqn.outvars)
                and get_rule(eqn.primitive) is not None
                and is_linear(eqn.primitive, flags, eqn.params)
            )
            if linear:
                outs, out_kinds = _jaxpr.bind(eqn, list(vals)), [_AFFINE] * len(eqn.outvars)
            else:
                for a, k in zip(eqn.invars, ks, strict=True):
                    if k == _AFFINE:
                        mark(a, eqn.primitive.name, _jaxpr.where(eqn))
                outs, out_kinds = [None] * len(eqn.outvars), [_DEP] * len(eqn.outvars)
        for v, o, k in zip(eqn.outvars, outs, out_kinds, strict=True):
            if not _jaxpr.is_dropvar(v):
                env[v], kind[v] = o, k
    results = [read(a) for a in program.outvars]
    return [r[0] for r in results], [r[1] for r in results]


def _functionals(value: Any) -> int:
    """Real linear functionals of ``x`` in an affine value: its size, twice for complex ones."""
    size = int(np.prod(np.shape(value), dtype=int))
    return 2 * size if jnp.issubdtype(jnp.result_type(value), jnp.complexfloating) else size


def _real_parts(value: Any, dtype: Any) -> Any:
    """An affine value as real functionals: real and imaginary parts of a complex one."""
    v = jnp.ravel(value)
    if jnp.issubdtype(v.dtype, jnp.complexfloating):
        return jnp.concatenate([jnp.real(v), jnp.imag(v)]).astype(dtype)
    return v.astype(dtype)


def _front(program: _jaxpr.Program, x: Any) -> list[tuple[Any, Reader]]:
    found: list[tuple[Any, Reader]] = []
    outs, kinds = _walk(program, [x], [_AFFINE], found)
    for value, k in zip(outs, kinds, strict=True):
        if k == _AFFINE:  # an output affine in x reads x too
            found.append((value, Reader(_functionals(value), "output", "")))
    return found


def input_readers(
    f: Callable[..., Any], x: Any, *, with_matrix: bool = True, known: Readers | None = None
) -> Readers:
    """The linear functionals of ``x`` through which ``f`` reads it (see the module docstring).

    Args:
        f: ``x -> pytree of arrays``; traced once at ``x`` (abstractly: nothing is evaluated
            unless ``with_matrix``).
        x: a point, shape ``(d,)``.
        with_matrix: compute ``M`` (``(N, d)``) when ``N < d``. It depends on the constants
            ``f`` closes over only, never on ``x``.
        known: the readers of an earlier call without the matrix (the abstract walk is then
            not repeated).
    """
    x = jnp.asarray(x)
    program, _ = _jaxpr.trace(f, x)
    if known is None:
        readers = tuple(r for _, r in _front_abstract(program, x))
    else:
        readers = known.readers
    size = sum(r.size for r in readers)
    if not with_matrix or size >= x.size or size == 0:
        return Readers(size, readers)

    def stacked(t: Any) -> Any:
        return jnp.concatenate([_real_parts(v, x.dtype) for v, _ in _front(program, t)])

    matrix = jax.jacrev(stacked)(jnp.zeros(x.shape, x.dtype)).reshape(size, x.size)
    return Readers(size, readers, matrix)


def _front_abstract(program: _jaxpr.Program, x: Any) -> list[tuple[Any, Reader]]:
    out: list[tuple[Any, Reader]] = []

    def run(t: Any) -> list[Any]:
        out.extend(_front(program, t))
        return []

    jax.eval_shape(run, jax.ShapeDtypeStruct(x.shape, x.dtype))
    return out
