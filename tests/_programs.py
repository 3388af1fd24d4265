"""Random programs from a grammar of jnp operations, and their nested-AD references.

A program is a function ``f(params, x)`` of one point ``x`` (shape ``(d,)``, d <= 3) built
from a random sequence of steps over a small vector state: elementwise functions (the
``jax.nn`` activations, ``custom_jvp`` functions of JAX and of the user, at exact ties too),
binary operations that broadcast size-1 axes, scalars and rank differences, reductions with and
without ``keepdims``, reshapes, transposes, concatenation, slices, gathers, sorting, cumulative
reductions, ``where``, matrix products and ``einsum``, layer norm, softmax, determinants and
solves, user ``custom_jvp`` / ``custom_vjp`` functions, ``scan`` / ``cond`` / ``while`` /
``fori_loop``, ``jax.checkpoint`` and nested ``jit``.

`Family` shares one compilation among many programs: each slot of the network picks one of a
few steps by ``lax.switch`` on an integer argument.

`Program.reference(op)` computes the operator by nesting JAX's own first-order AD (``jacfwd``;
``jacrev`` when the program holds a ``custom_vjp`` function, which forward mode cannot
differentiate) in float64: the contract nestax is held to.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st


@jax.custom_jvp
def scaled_sin(x):
    """A custom_jvp whose rule is not its body's derivative (nested AD follows the rule)."""
    return jnp.sin(x)


@scaled_sin.defjvp
def _scaled_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return scaled_sin(x), 1.5 * jnp.cos(x) * t


@jax.custom_jvp
def smooth_abs(x):
    """A custom_jvp with a piecewise rule (derivative 0 at the tie x = 0)."""
    return jnp.sqrt(x * x + 1e-3)


@smooth_abs.defjvp
def _smooth_abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return smooth_abs(x), jnp.where(x == 0, 0.0, x / smooth_abs(x)) * t


@jax.custom_vjp
def vjp_tanh(x):
    return jnp.tanh(x)


def _vjp_tanh_fwd(x):
    y = jnp.tanh(x)
    return y, y


def _vjp_tanh_bwd(y, ct):
    return (0.5 * (1 - y * y) * ct,)  # deliberately not the body's derivative


vjp_tanh.defvjp(_vjp_tanh_fwd, _vjp_tanh_bwd)


UNARY: dict[str, Callable[[Any], Any]] = {
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tanh": jnp.tanh,
    "exp_small": lambda h: jnp.exp(0.3 * h),
    "log1p_sq": lambda h: jnp.log1p(h * h),
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "log_sigmoid": jax.nn.log_sigmoid,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "gelu_exact": lambda h: jax.nn.gelu(h, approximate=False),
    "mish": jax.nn.mish,
    "elu": jax.nn.elu,
    "celu": jax.nn.celu,
    "selu": jax.nn.selu,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu": jax.nn.leaky_relu,
    "hard_tanh": jax.nn.hard_tanh,
    "softsign": jax.nn.soft_sign,
    "abs": jnp.abs,
    "sqrt_1p": lambda h: jnp.sqrt(1.0 + h * h),
    "square": jnp.square,
    "cube": lambda h: h**3,
    "inv_1p": lambda h: 1.0 / (1.0 + h * h),
    "arctan": jnp.arctan,
    "sinh": lambda h: jnp.sinh(0.5 * h),
    "erf": jax.scipy.special.erf,
    "sinc": jnp.sinc,
    "logaddexp0": lambda h: jnp.logaddexp(h, 0.0),
    "pow_1_5": lambda h: (1.0 + h * h) ** 1.5,
    "sign_x": lambda h: jnp.sign(h) * h,
    "floor_mix": lambda h: jnp.floor(h) + jnp.sin(h),
    "clip": lambda h: jnp.clip(h, -0.5, 0.5),
    "scaled_sin": scaled_sin,
    "smooth_abs": smooth_abs,
    "stop_grad": lambda h: jax.lax.stop_gradient(h) * h,
}

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div": lambda a, b: a / (1.0 + b * b),
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
    "atan2": lambda a, b: jnp.arctan2(a, 1.5 + b * b),
    "logaddexp": jnp.logaddexp,
    "hypot": lambda a, b: jnp.sqrt(a * a + b * b + 0.1),
    "where": lambda a, b: jnp.where(a > b, jnp.sin(a), b * b),
}

#: Reductions to one value per vector, as (name, fn(h, keepdims)).
REDUCE: dict[str, Callable[[Any, bool], Any]] = {
    "sum": lambda h, k: jnp.sum(h, keepdims=k),
    "mean": lambda h, k: jnp.mean(h, keepdims=k),
    "max": lambda h, k: jnp.max(h, keepdims=k),
    "min": lambda h, k: jnp.min(h, keepdims=k),
    "prod": lambda h, k: jnp.prod(jnp.tanh(h), keepdims=k),
    "logsumexp": lambda h, k: jax.nn.logsumexp(h, keepdims=k),
    "norm": lambda h, k: jnp.sqrt(jnp.sum(h * h, keepdims=k) + 0.1),
    "var": lambda h, k: jnp.var(h, keepdims=k),
}


def layer_norm(h):
    m = jnp.mean(h, keepdims=True)
    v = jnp.var(h, keepdims=True)
    return (h - m) / jnp.sqrt(v + 1e-3)


def _attention(h):
    q = h[:, None] * h[None, :]
    return jax.nn.softmax(q / 2.0, axis=-1) @ jnp.tanh(h)


STRUCTURAL: dict[str, Callable[[Any], Any]] = {
    "reverse": lambda h: h[::-1],
    "roll": lambda h: jnp.roll(h, 1),
    "concat_slice": lambda h: jnp.concatenate([h, jnp.sin(h)])[1 : 1 + h.shape[0]],
    "gather": lambda h: (
        h[jnp.array([0, h.shape[0] - 1, 0])][: h.shape[0]]
        if h.shape[0] >= 3
        else h[jnp.zeros(h.shape[0], jnp.int32)]
    ),
    "outer_diag": lambda h: jnp.diagonal(jnp.outer(h, jnp.cos(h))),
    "transpose_sum": lambda h: jnp.sum(jnp.outer(h, h).T * jnp.tanh(h)[None, :], axis=0),
    "reshape": lambda h: jnp.reshape(jnp.reshape(h, (h.shape[0], 1)) * 2.0, (h.shape[0],)),
    "cumsum": jnp.cumsum,
    "cumprod": lambda h: jnp.cumprod(jnp.tanh(h)),
    "cummax": lambda h: jax.lax.cummax(h),
    "sort": jnp.sort,
    "layer_norm": layer_norm,
    "softmax": jax.nn.softmax,
    "log_softmax": jax.nn.log_softmax,
    "attention": _attention,
    "broadcast_sub_mean": lambda h: h - jnp.mean(h, keepdims=True),
    "rbf": lambda h: jnp.exp(-((h[:, None] - jnp.linspace(-1.0, 1.0, 3)[None, :]) ** 2)).sum(-1),
    "det": lambda h: h * jnp.linalg.det(jnp.eye(h.shape[0]) + 0.3 * jnp.outer(h, jnp.tanh(h))),
    "slogdet": lambda h: (
        h + jnp.linalg.slogdet(jnp.eye(h.shape[0]) * 2.0 + jnp.outer(jnp.sin(h), h))[1]
    ),
    "solve": lambda h: jnp.linalg.solve(jnp.eye(h.shape[0]) * 3.0 + jnp.outer(h, h), h),
    "vjp_tanh": vjp_tanh,
}


def _scan(h):
    def step(c, w):
        return jnp.tanh(c * w + 0.1), jnp.sum(c)

    c, ys = jax.lax.scan(step, h, jnp.array([0.7, -1.1, 0.4]))
    return c + jnp.sum(ys)


def _cond(h):
    return jax.lax.cond(jnp.sum(h) > 0.1, jnp.sin, lambda z: z * z, h)


def _while(h):
    def body(c):
        return jnp.sin(c[0]) + 0.5 * c[0], c[1] + 1

    return jax.lax.while_loop(lambda c: c[1] < 3, body, (h, 0))[0]


CONTROL: dict[str, Callable[[Any], Any]] = {
    "scan": _scan,
    "cond": _cond,
    "while": _while,
    "fori": lambda h: jax.lax.fori_loop(0, 2, lambda i, c: jnp.tanh(c) + 0.1 * i, h),
    "checkpoint": lambda h: jax.checkpoint(lambda z: jnp.sin(z) * z)(h),
    "jit": lambda h: jax.jit(lambda z: jnp.tanh(z) ** 2)(h),
}


@dataclasses.dataclass
class Program:
    """``f(params, x)``; ``describe`` lists the steps (hypothesis prints it on failure)."""

    d: int
    steps: list[str]
    fn: Callable[[Any, Any], Any]
    params: dict[str, Any]
    x: Any
    vector_out: bool
    #: nest ``jacrev`` and ``jacfwd`` in turn (a second reference with other round-off)
    alternate: bool = False

    @property
    def has_custom_vjp(self) -> bool:
        return any("vjp_tanh" in s for s in self.steps)

    @property
    def has_while(self) -> bool:
        return any("control:while" in s for s in self.steps)

    def describe(self) -> str:
        return f"d={self.d} x={np.asarray(self.x).tolist()} steps={self.steps}"

    def point_fn(self, params: Any = None) -> Callable[[Any], Any]:
        p = self.params if params is None else params
        return lambda x: self.fn(p, x)

    def derivative_tensor(self, k: int, params: Any = None) -> Any:
        """The full ``k``-th derivative, shape ``out + (d,) * k``, by nested first-order AD."""
        g = self.point_fn(params)
        nest = jax.jacrev if self.has_custom_vjp else jax.jacfwd
        for i in range(k):
            g = (jax.jacrev if i % 2 == 0 else jax.jacfwd)(g) if self.alternate else nest(g)
        return g(self.x)

    def other_nesting(self) -> Program | None:
        """The same program with its reference nested the other way (``jacrev`` and ``jacfwd``
        in turn), or ``None`` where only one mode can run (``custom_vjp``, ``while_loop``)."""
        if self.has_custom_vjp or self.has_while:
            return None
        return dataclasses.replace(self, alternate=True)


def _unary(fn):
    return lambda p, h, hist: fn(h)


def _at_tie(fn):  # h - stop_gradient(h) is exactly zero with tangent one
    return lambda p, h, hist: fn(h - jax.lax.stop_gradient(h)) + h


def _reduce_back(fn, keep):  # back to a vector: by rank difference or by a size-1 axis
    return lambda p, h, hist: h * fn(h, keep) + fn(h, keep)


def _tie_point(draw, d: int) -> np.ndarray:
    kind = draw(st.sampled_from(["random", "random", "zeros", "ties"]))
    if kind == "zeros":
        return np.zeros(d)
    if kind == "ties":
        return np.array([draw(st.sampled_from([0.0, 0.5, -0.5, 1.0])) for _ in range(d)])
    return np.array([draw(st.floats(-1.2, 1.2, allow_nan=False)) for _ in range(d)])


def _binary(fn, other):
    def op(p, h, hist):
        if other == "param":
            b = p["c"]
        elif other == "scalar":
            b = jnp.asarray(0.3)
        elif other == "keepdims":
            b = jnp.mean(h, keepdims=True)
        elif other == "history":
            b = hist[0]
        else:
            b = h
        return fn(h, b) if other != "scalar" else fn(b, h)

    return op


@dataclasses.dataclass
class _Allowed:
    """Nested AD runs no mode over both a ``custom_vjp`` function and a ``while_loop``: a
    program holds at most one of the two."""

    custom_vjp: bool = True
    while_loop: bool = True


class _Draws:
    """Random choices from a hypothesis ``draw`` (shrinkable, printed on failure)."""

    def __init__(self, draw):
        self.draw = draw

    def choice(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def integers(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))


class _Seeded:
    """The same choices from a numpy generator (reproducible from a seed)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def choice(self, options: list[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def integers(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))


def _draw_step(
    pick: _Draws | _Seeded, allowed: _Allowed
) -> tuple[str, Callable[[Any, Any, list[Any]], Any]]:
    """One step ``h -> op(params, h, history)`` of a program, and its name."""
    family = pick.choice(["unary", "unary", "binary", "reduce", "struct", "control"])
    if family == "unary":
        name = pick.choice(sorted(UNARY))
        tie = pick.integers(0, 5) == 0  # at an exact tie: the activation of h - h
        op = _at_tie(UNARY[name]) if tie else _unary(UNARY[name])
        return f"unary:{name}{':tie' if tie else ''}", op
    if family == "binary":
        name = pick.choice(sorted(BINARY))
        other = pick.choice(["param", "scalar", "keepdims", "history", "self"])
        return f"binary:{name}:{other}", _binary(BINARY[name], other)
    if family == "reduce":
        name = pick.choice(sorted(REDUCE))
        keep = bool(pick.integers(0, 1))
        return f"reduce:{name}:{'keepdims' if keep else 'scalar'}", _reduce_back(REDUCE[name], keep)
    if family == "struct":
        name = _pick_guarded(pick, STRUCTURAL, allowed, "vjp_tanh", "custom_vjp", "while_loop")
        return f"struct:{name}", _unary(STRUCTURAL[name])
    name = _pick_guarded(pick, CONTROL, allowed, "while", "while_loop", "custom_vjp")
    return f"control:{name}", _unary(CONTROL[name])


def _pick_guarded(
    pick: _Draws | _Seeded, table: dict[str, Any], allowed: _Allowed, guarded: str, mine: str,
    theirs: str,
) -> str:  # fmt: skip
    """A name of ``table``: ``guarded`` only while ``allowed.<mine>``, and drawing it forbids
    ``allowed.<theirs>`` (a program holds a custom_vjp function or a while_loop, not both)."""
    names = sorted(table)
    if not getattr(allowed, mine):
        names.remove(guarded)
    name = pick.choice(names)
    if name == guarded:
        setattr(allowed, theirs, False)
    return name


def _draw_params(draw, d: int, n: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    zero_bias = draw(st.booleans())
    return _params(rng, d, n, zero_bias)


def _params(rng: np.random.Generator, d: int, n: int, zero_bias: bool) -> dict[str, Any]:
    return {
        "W": jnp.asarray(rng.normal(size=(d, n)) / math.sqrt(d)),
        "b": jnp.zeros(n) if zero_bias else jnp.asarray(0.5 * rng.normal(size=n)),
        "c": jnp.asarray(rng.normal(size=n)),
    }


def _network(d: int, vector_out: bool, ops: list[Callable[..., Any]]) -> Callable[..., Any]:
    """``f(params, x)``: a tanh layer, the steps, then two outputs or a weighted sum."""

    def fn(p, x):
        h = jnp.tanh(x @ p["W"] + p["b"])
        hist = [h]
        for op in ops:
            h = op(p, h, hist)
            hist.append(h)
        if vector_out:
            return h[:2]
        return jnp.sum(h * p["c"])

    return fn


@st.composite
def programs(draw, max_steps: int = 5) -> Program:
    """A random program (see the module docstring)."""
    # Few distinct shapes: eager JAX compiles each primitive once per shape, so programs that
    # share shapes share compiled primitives (a cold start costs ~1 s, a warm one ~10 ms).
    d = draw(st.integers(1, 3))
    params = _draw_params(draw, d)
    allowed = _Allowed()
    steps, ops = [], []
    for _ in range(draw(st.integers(1, max_steps))):
        name, op = _draw_step(_Draws(draw), allowed)
        steps.append(name)
        ops.append(op)
    vector_out = draw(st.booleans())
    steps.append("out:vector" if vector_out else "out:scalar")
    x = jnp.asarray(_tie_point(draw, d))
    return Program(d, steps, _network(d, vector_out, ops), params, x, vector_out)


@dataclasses.dataclass
class Family:
    """Programs that share compiled code: slot ``i`` of the network takes one of the steps
    ``slots[i]``, chosen by ``lax.switch`` on an integer argument, so one trace and one XLA
    compilation serve every choice (one program per choice, each with its own parameters and
    point). The steps run inside ``cond`` branches; JAX's AD and nestax see every branch, so
    the family's mode restrictions (``custom_vjp``, ``while_loop``) are those of all its
    steps."""

    d: int
    slots: list[list[str]]
    ops: list[list[Callable[[Any, Any, list[Any]], Any]]]
    vector_out: bool
    seed: int

    @property
    def steps(self) -> list[str]:
        """Every step of every slot (what the mode restrictions and the operators see)."""
        out = "out:vector" if self.vector_out else "out:scalar"
        return [f"{i}:{name}" for i, names in enumerate(self.slots) for name in names] + [out]

    def fn(self, p: Any, choice: Any, x: Any) -> Any:
        def slot(i: int) -> Callable[..., Any]:
            return lambda p, h, hist: jax.lax.switch(choice[i], self.ops[i], p, h, hist)

        return _network(self.d, self.vector_out, [slot(i) for i in range(len(self.slots))])(p, x)

    def program(self, choice: Any, params: Any, x: Any) -> Program:
        """The member ``choice`` (concrete or traced) at ``params`` and ``x``."""
        return Program(
            self.d,
            self.steps,
            lambda p, z: self.fn(p, choice, z),
            params,
            x,
            self.vector_out,
        )

    def member(self, choice: Any, params: Any, x: Any) -> Program:
        """The member ``choice`` (concrete) written without the switch: its own steps only."""
        picked = [int(c) for c in choice]
        ops = [self.ops[i][c] for i, c in enumerate(picked)]
        steps = [self.slots[i][c] for i, c in enumerate(picked)]
        steps.append("out:vector" if self.vector_out else "out:scalar")
        return Program(
            self.d, steps, _network(self.d, self.vector_out, ops), params, x, self.vector_out
        )

    def smaller(self, slots: int, branches: int) -> Family:
        """The first ``slots`` slots, each with its first ``branches`` steps."""
        names = [s[:branches] for s in self.slots[:slots]]
        ops = [o[:branches] for o in self.ops[:slots]]
        return dataclasses.replace(self, slots=names, ops=ops)

    def describe(self, choice: Any) -> str:
        picked = [names[int(c)] for names, c in zip(self.slots, choice, strict=True)]
        return f"family seed={self.seed} d={self.d} choice={list(map(int, choice))} {picked}"

    def members(self, count: int) -> list[tuple[np.ndarray, dict[str, Any], Any]]:
        """Up to ``count`` members with distinct choices: ``(choice, params, x)``."""
        rng = np.random.default_rng(self.seed)
        sizes = [len(names) for names in self.slots]
        total = math.prod(sizes)
        picks = rng.choice(total, size=min(count, total), replace=False)
        out = []
        for flat in picks:
            choice = np.array(np.unravel_index(flat, sizes), dtype=np.int32)
            params = _params(rng, self.d, 3, zero_bias=bool(rng.integers(2)))
            out.append((choice, params, jnp.asarray(_tie_point_rng(rng, self.d))))
        return out


def _tie_point_rng(rng: np.random.Generator, d: int) -> np.ndarray:
    kind = rng.choice(["random", "random", "zeros", "ties"])
    if kind == "zeros":
        return np.zeros(d)
    if kind == "ties":
        return rng.choice([0.0, 0.5, -0.5, 1.0], size=d)
    return rng.uniform(-1.2, 1.2, size=d)


def family(seed: int, slots: int = 5, branches: int = 4) -> Family:
    """The random family number ``seed`` (see `Family`): 3..``slots`` slots of
    3..``branches`` distinct steps each."""
    pick = _Seeded(np.random.default_rng([seed, 1]))
    d = pick.integers(1, 3)
    allowed = _Allowed()
    names: list[list[str]] = []
    ops: list[list[Callable[..., Any]]] = []
    for _ in range(pick.integers(3, slots)):
        slot_names: list[str] = []
        slot_ops: list[Callable[..., Any]] = []
        size = pick.integers(3, branches)
        while len(slot_names) < size:  # distinct steps (a repeated draw is dropped)
            name, op = _draw_step(pick, allowed)
            if name not in slot_names:
                slot_names.append(name)
                slot_ops.append(op)
        names.append(slot_names)
        ops.append(slot_ops)
    return Family(d, names, ops, bool(pick.integers(0, 1)), seed)


# --------------------------------------------------------------------------- operators


@dataclasses.dataclass(frozen=True)
class Check:
    """One operator to check on a program: how nestax computes it and how nested AD does."""

    name: str
    methods: tuple[str, ...]
    nestax: Callable[[Program, str, Any], Any]
    reference: Callable[[Program, Any], Any]
    scalar_only: bool = False


def _laplacian_ref(prog: Program, params: Any) -> Any:
    t = prog.derivative_tensor(2, params)
    return jnp.trace(t, axis1=-2, axis2=-1)


def _biharmonic_ref(prog: Program, params: Any) -> Any:
    t = prog.derivative_tensor(4, params)
    return jnp.einsum("...iijj->...", t)


def _partial_alpha(prog: Program) -> tuple[int, ...]:
    # deterministic per program: total order 3 spread over the coordinates
    alpha = [0] * prog.d
    for k in range(3):
        alpha[(k * 7 + len(prog.steps)) % prog.d] += 1
    return tuple(alpha)


def _partial_ref(prog: Program, params: Any) -> Any:
    alpha = _partial_alpha(prog)
    t = prog.derivative_tensor(sum(alpha), params)
    idx = tuple(i for i, a in enumerate(alpha) for _ in range(a))
    return t[(...,) + idx]


def _direction(prog: Program) -> Any:
    return jnp.linspace(1.0, -0.5, prog.d)


def _derivative_fn(prog: Program, params: Any) -> Callable[[Any], Any]:
    v, f = _direction(prog), prog.point_fn(params)
    return lambda t: f(prog.x + t * v)


def _derivative_ref(prog: Program, params: Any) -> Any:
    t = prog.derivative_tensor(3, params)
    v = _direction(prog)
    return jnp.einsum("...ijk,i,j,k->...", t, v, v, v)


def _nestax():
    import nestax as nx

    return nx


CHECKS: dict[str, Check] = {
    "laplacian": Check(
        "laplacian",
        (
            "auto",
            "taylor",
            "collapsed",
            "nested",
            "forward-over-reverse",
            "forward-over-forward",
            "reverse-over-reverse",
            "reverse-over-forward",
        ),
        lambda prog, m, p: _nestax().laplacian(prog.point_fn(p), method=m)(prog.x),
        _laplacian_ref,
    ),
    "hessian": Check(
        "hessian",
        ("auto", "forward-over-reverse", "forward-over-forward", "reverse-over-reverse"),
        lambda prog, m, p: _nestax().hessian(prog.point_fn(p), method=m)(prog.x),
        lambda prog, p: prog.derivative_tensor(2, p),
        scalar_only=True,
    ),
    "partial": Check(
        "partial",
        ("auto", "taylor", "collapsed", "nested", "nested-reverse"),
        lambda prog, m, p: _nestax().partial(prog.point_fn(p), _partial_alpha(prog), method=m)(
            prog.x
        ),
        _partial_ref,
    ),
    "derivative": Check(
        "derivative",
        ("auto", "forward", "reverse", "taylor", "collapsed"),
        lambda prog, m, p: _nestax().derivative(_derivative_fn(prog, p), order=3, method=m)(0.0),
        _derivative_ref,
    ),
    "biharmonic": Check(
        "biharmonic",
        ("auto", "taylor", "collapsed", "iterated", "nested"),
        lambda prog, m, p: _nestax().apply(_nestax().Biharmonic(), prog.point_fn(p), method=m)(
            prog.x
        ),
        _biharmonic_ref,
    ),
}
