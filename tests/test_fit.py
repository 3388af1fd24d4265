"""`nestax.fit` against independent references: closed forms, hand-written optax loops,
terms recomputed at recorded parameters, and an uninterrupted run for checkpoint/resume."""

from __future__ import annotations

import errno
import gc
import os
import signal
import weakref

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nestax._fit import EarlyStopping, FitResult, NonFiniteLossError, Stage, fit

from ._helpers import assert_close

RNG = np.random.default_rng(0)
M = jnp.asarray(RNG.normal(size=(6, 4)))
Y = jnp.asarray(RNG.normal(size=6))
LAM = 0.1


def ridge(p):
    """Two named terms of a ridge regression in a dict of parameters."""
    return {"data": 0.5 * jnp.sum((M @ p["w"] - Y) ** 2), "reg": 0.5 * LAM * jnp.sum(p["w"] ** 2)}


def rosenbrock(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def leaves_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_adam_on_quadratic_reaches_closed_form_minimum():
    w_star = np.linalg.solve(M.T @ M + LAM * np.eye(4), M.T @ Y)
    schedule = optax.exponential_decay(0.05, 1000, 1e-3)
    start = {"w": jnp.zeros(4)}
    result = fit(ridge, start, [Stage("adam", 1000, learning_rate=schedule)], progress=False)
    assert not start["w"].is_deleted()  # the step donates its own copy, never the caller's
    assert isinstance(result, FitResult)
    assert result.stopped == "completed" and result.steps == 1000
    # Adam with a decayed rate ends within ~1e-12 of the minimiser; 1e-9 leaves a margin.
    assert_close(result.params["w"], w_star, rtol=0, atol=1e-9)
    assert set(result.history) == {"data", "reg", "total"}
    assert result.history["total"][-1] < result.history["total"][0]


def test_lbfgs_on_rosenbrock_reaches_one_one():
    result = fit(rosenbrock, jnp.array([-1.2, 1.0]), [Stage("lbfgs", 100)], progress=False)
    assert_close(result.params, [1.0, 1.0], rtol=0, atol=1e-6)
    assert result.history["total"].shape == (100,) and list(result.history) == ["total"]


def test_stages_run_in_order_against_hand_written_optax():
    custom = optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(0.05, momentum=0.9))
    stages = [Stage("adam", 30, learning_rate=0.02), Stage(custom, 20)]
    result = fit(ridge, {"w": jnp.zeros(4)}, stages, progress=False)
    assert result.steps == 50 and result.stage_steps == (30, 20)
    assert all(len(v) == 30 + 20 for v in result.history.values())

    total = lambda p: sum(ridge(p).values())  # noqa: E731
    p, expected = {"w": jnp.zeros(4)}, []
    for tx, n in ((optax.adam(0.02), 30), (custom, 20)):  # fresh state per stage

        @jax.jit
        def step(p, state, tx=tx):
            value, grad = jax.value_and_grad(total)(p)
            updates, state = tx.update(grad, state, p)
            return optax.apply_updates(p, updates), state, value

        state = tx.init(p)
        for _ in range(n):
            p, state, value = step(p, state)
            expected.append(value)
    assert_close(result.params["w"], p["w"])
    assert_close(result.history["total"], expected)


def test_history_matches_terms_recomputed_at_recorded_params():
    """Every recorded row equals loss(θ_k, fold_in(key, k)) at the θ_k the callback saw."""
    key = jax.random.key(3)
    x_all = jnp.linspace(-1.0, 1.0, 64)

    def loss(p, k):  # resamples 8 of 64 points every step
        x = jax.random.choice(k, x_all, (8,), replace=False)
        return {"fit": jnp.mean((p[0] * x + p[1] - jnp.sin(x)) ** 2), "reg": 1e-3 * p @ p}

    seen = {}
    stages = [Stage("adam", 12, learning_rate=0.1), Stage("lbfgs", 6)]
    result = fit(loss, jnp.zeros(2), stages, key=key, every=5, progress=False,
                 callback=lambda k, p, terms: seen.update({k: (p, terms)}))  # fmt: skip
    assert sorted(seen) == [0, 5, 10, 15]  # 15 is inside the L-BFGS stage
    for k, (p, terms) in seen.items():
        ref = loss(p, jax.random.fold_in(key, k))
        for name in ("fit", "reg"):
            assert_close(result.history[name][k], ref[name])
            assert_close(terms[name], ref[name])
        assert_close(result.history["total"][k], ref["fit"] + ref["reg"])


def test_history_in_lbfgs_stage_matches_recomputed_terms():
    """The L-BFGS step reuses the value its line search stored; the terms are still exact."""
    seen = {}
    fit(lambda p: {"rosen": rosenbrock(p), "pull": 1e-3 * jnp.sum(p**2)}, jnp.array([-1.2, 1.0]),
        [Stage("lbfgs", 9)], every=4, progress=False,
        callback=lambda k, p, terms: seen.update({k: (p, terms)}))  # fmt: skip
    assert sorted(seen) == [0, 4, 8]
    for p, terms in seen.values():
        assert_close(terms["rosen"], rosenbrock(p))
        assert_close(terms["total"], rosenbrock(p) + 1e-3 * jnp.sum(p**2))


def test_history_in_lbfgs_stage_with_one_term_is_the_loss_at_recorded_params():
    """One named term: the row is the line search's stored value, no second evaluation."""
    seen = {}
    record = lambda k, p, terms: seen.update({k: (p, terms)})  # noqa: E731
    fit(lambda p: {"rosen": rosenbrock(p)}, jnp.array([-1.2, 1.0]), [Stage("lbfgs", 9)],
        every=4, progress=False, callback=record)  # fmt: skip
    assert sorted(seen) == [0, 4, 8]
    for p, terms in seen.values():
        assert_close(terms["rosen"], rosenbrock(p))
        assert_close(terms["total"], rosenbrock(p))


def test_later_stages_compile_once_in_the_background(caplog):
    """The L-BFGS step is compiled while Adam runs; its first call finds it in JAX's cache (two
    stages, two compilations of a step: none twice) and the result is the same as without
    the background compilation (jit=False runs the same arithmetic eagerly)."""
    loss = lambda p: {"rosen": rosenbrock(p), "pull": 1e-3 * jnp.sum(p**2)}  # noqa: E731
    stages = [Stage("adam", 5, learning_rate=1e-2), Stage("lbfgs", 5)]
    jax.config.update("jax_log_compiles", True)  # global: the context manager is per thread
    try:
        with caplog.at_level("WARNING"):
            result = fit(loss, jnp.array([-1.2, 1.0]), stages, progress=False)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r for r in caplog.messages if r.startswith("Finished XLA compilation of jit(step)")]
    assert len(compiled) == 2
    eager = fit(loss, jnp.array([-1.2, 1.0]), stages, progress=False, jit=False)
    assert_close(result.params, eager.params, rtol=1e-10)


def _barrier(p):
    """sgd at rate 0.1 on L = p gives p_k = 1 - 0.1 k; sqrt(p - 0.25) is nan from k = 8 on."""
    return {"linear": p[0], "barrier": jnp.sqrt(jax.lax.stop_gradient(p[0]) - 0.25)}


def test_nan_guard_names_term_step_and_stage():
    stages = [Stage("sgd", 5, learning_rate=0.1), Stage("sgd", 20, learning_rate=0.1)]
    with pytest.raises(NonFiniteLossError) as info:
        fit(_barrier, jnp.ones(1), stages, every=10, progress=False)
    err = info.value
    assert (err.term, err.step, err.stage, err.stage_step) == ("barrier", 8, 1, 3)
    assert "'barrier'" in str(err) and "step 8" in str(err) and "stage 1" in str(err)
    assert_close(err.params, [1.0 - 7 * 0.1])  # θ_7, the last with a finite loss
    assert len(err.history["total"]) == 8 and np.isfinite(err.history["barrier"]).all()


# A small equinox MLP fitted to noisy samples of sin (fresh noise every step through the key).
# One loss and one list of stages for the module: `fit` caches a compiled step per loss and
# stage, so the runs below compile Adam's step and L-BFGS's step once in all.
MODEL = eqx.nn.MLP(1, 1, 8, 1, activation=jnp.tanh, key=jax.random.key(0))
X = jnp.linspace(-2.0, 2.0, 16)[:, None]
MLP_STAGES = [Stage("adam", 25, learning_rate=1e-2), Stage("lbfgs", 10)]
KEY = jax.random.key(7)


def mlp_loss(m, k):
    noise = 1e-2 * jax.random.normal(k, X.shape)
    weights = jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array))
    return {
        "data": jnp.mean((jax.vmap(m)(X) - jnp.sin(X) - noise) ** 2),
        "weights": 1e-4 * sum(jnp.sum(w**2) for w in weights),
    }


@pytest.fixture(scope="module")
def uninterrupted():
    return fit(mlp_loss, MODEL, MLP_STAGES, key=KEY, progress=False)


@pytest.mark.parametrize("how", ["keyboard_interrupt", "sigterm", "sigint", "crash"])
def test_interrupt_then_resume_equals_uninterrupted(tmp_path, how, uninterrupted):
    loss, model, stages, key, ref = mlp_loss, MODEL, MLP_STAGES, KEY, uninterrupted
    assert ref.steps == 35

    stop_at = {"keyboard_interrupt": 10, "sigterm": 30, "sigint": 0, "crash": 27}[how]

    def callback(k, params, terms):
        if k == stop_at:
            if how == "keyboard_interrupt":
                raise KeyboardInterrupt
            if how in ("sigterm", "sigint"):  # what `kill` and Ctrl-C send
                os.kill(os.getpid(), getattr(signal, how.upper()))
            if how == "crash":  # no save on a crash: resume from the periodic one at step 21
                raise RuntimeError("boom")

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    kwargs = dict(key=key, checkpoint_dir=tmp_path, progress=False)
    if how == "crash":
        with pytest.raises(RuntimeError, match="boom"):
            fit(loss, model, stages, callback=callback, every=3, checkpoint_every=7, **kwargs)
    else:
        first = fit(loss, model, stages, callback=callback, every=5, checkpoint_every=7, **kwargs)
        assert first.stopped == "interrupted" and first.steps == stop_at + 1
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers

    resumed = fit(loss, model, stages, resume=True, **kwargs)
    assert resumed.stopped == "completed" and resumed.steps == 35
    leaves_equal(eqx.filter(resumed.params, eqx.is_inexact_array),
                 eqx.filter(ref.params, eqx.is_inexact_array))  # fmt: skip
    for name in ref.history:
        np.testing.assert_array_equal(resumed.history[name], ref.history[name])
    # Resuming a finished run returns at once with the same parameters.
    again = fit(loss, model, stages, resume=True, **kwargs)
    assert again.stopped == "completed"
    leaves_equal(eqx.filter(again.params, eqx.is_inexact_array),
                 eqx.filter(ref.params, eqx.is_inexact_array))  # fmt: skip


def test_without_jit_same_result_and_raw_prng_key():
    key = jax.random.PRNGKey(0)  # a raw uint32 key works like a typed one

    def loss(p, k):
        return {"ridge": sum(ridge(p).values()), "shift": 1e-2 * jax.random.normal(k) * p["w"][0]}

    stages = [Stage("adam", 6, learning_rate=0.1), Stage("sgd", 3)]  # eager L-BFGS is slow
    jitted = fit(loss, {"w": jnp.zeros(4)}, stages, key=key, progress=False)
    eager = fit(loss, {"w": jnp.zeros(4)}, stages, key=key, progress=False, jit=False)
    assert_close(eager.params["w"], jitted.params["w"])
    assert_close(eager.history["total"], jitted.history["total"])


def test_callback_returning_true_stops_early():
    result = fit(ridge, {"w": jnp.zeros(4)}, [Stage("adam", 100), Stage("lbfgs", 10)], every=10,
                 callback=lambda k, p, terms: k >= 20, progress=False)  # fmt: skip
    assert result.stopped == "early_stopping"
    assert result.steps == 21 and result.stage_steps == (21, 0)
    assert len(result.history["total"]) == 21


def test_early_stopping_rule_on_a_plateau():
    rule = EarlyStopping(patience=5, min_delta=1e-3)
    # The total drops by 0.1 per step until the clip at p = 2 holds it flat.
    loss = lambda p: jnp.maximum(p[0], 2.0)  # noqa: E731
    result = fit(loss, jnp.array([3.0]), [Stage("sgd", 100, learning_rate=0.1)], every=1,
                 early_stopping=rule, progress=False)  # fmt: skip
    fired = EarlyStopping(patience=5, min_delta=1e-3).first_stop(result.history["total"])
    assert result.stopped == "early_stopping" and fired is not None
    assert result.steps == fired + 1 and 12 <= result.steps <= 20


def test_compiled_steps_are_reused_and_freed_with_the_loss():
    from nestax._fit import _step

    loss = lambda p: jnp.sum((p - 2.0) ** 2)  # noqa: E731
    stage = Stage("sgd", 3, learning_rate=0.1)
    first = fit(loss, jnp.ones(2), stage, progress=False)
    second = fit(loss, jnp.ones(2), stage, progress=False)
    steps = [c for c in _step._CACHE[id(loss)][1] if c[0] != "terms"]
    assert len(steps) == 1  # one compiled step served both runs
    leaves_equal(first.params, second.params)
    ref = weakref.ref(loss)
    del loss
    gc.collect()
    assert ref() is None  # the cache does not keep the loss (or what it closes over) alive


def test_compiled_steps_are_reused_for_a_bound_method_of_an_unhashable_object():
    # `problem.loss_terms` is a new bound-method object at each access, and a dataclass with
    # eq=True cannot be hashed: the cache keys on the instance's identity and the function
    import dataclasses

    from nestax._fit import _step

    @dataclasses.dataclass
    class Problem:
        target: float

        def loss(self, p):
            return {"fit": jnp.sum((p - self.target) ** 2)}

    problem = Problem(2.0)
    stage = Stage("sgd", 3, learning_rate=0.1)
    first = fit(problem.loss, jnp.ones(2), stage, progress=False)
    second = fit(problem.loss, first.params, stage, progress=False)
    table = _step._CACHE[id(problem)][1]
    assert len([c for c in table if c[0] != "terms"]) == 1  # compiled once, used twice
    # the second fit continued from the first: 6 steps of p <- p - 0.2 (p - 2) from p = 1
    np.testing.assert_allclose(second.params, 2.0 - 0.8**6, rtol=1e-6)
    ref = weakref.ref(problem)
    del problem, table
    gc.collect()
    assert ref() is None and not any(r() is None for r, _ in _step._CACHE.values())


def _scalar(p):
    return jnp.sum(p**2)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: Stage("adagrad", 10), ValueError, "unknown optimizer 'adagrad'"),
        (lambda: Stage("adam", 0), ValueError, "`steps`"),
        (lambda: Stage("adam", 2.5), ValueError, "`steps`"),
        (lambda: Stage("adam", 10, learning_rate=-1.0), ValueError, "`learning_rate`"),
        (lambda: Stage(optax.sgd(0.1), 10, learning_rate=0.1), ValueError, "`learning_rate`"),
        (lambda: Stage("adam", 10, bogus=1), TypeError, "bad option"),
        (lambda: fit(lambda p: p**2, jnp.ones(3), Stage("adam", 2)), ValueError, "shape (3,)"),
        (
            lambda: fit(lambda p: {"a": _scalar(p), "b": p}, jnp.ones(3), Stage("adam", 2)),
            ValueError,
            "term 'b' has shape (3,)",
        ),
        (
            lambda: fit(lambda p: {"total": _scalar(p)}, jnp.ones(3), Stage("adam", 2)),
            ValueError,
            "'total'",
        ),
        (lambda: fit(lambda p: jnp.sum(p > 0), jnp.ones(3), Stage("adam", 2)), TypeError, "dtype"),
        (lambda: fit(_scalar, {"n": jnp.arange(3)}, Stage("adam", 2)), ValueError, "`params`"),
        (lambda: fit(_scalar, jnp.ones(3), ["adam"]), TypeError, "`stages`"),
        (lambda: fit(_scalar, jnp.ones(3), []), TypeError, "`stages`"),
        (lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), every=0), ValueError, "`every`"),
        (
            lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), checkpoint_every=5),
            ValueError,
            "`checkpoint_dir`",
        ),
        (
            lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), resume=True),
            ValueError,
            "`checkpoint_dir`",
        ),
        (lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), key=3), TypeError, "`key`"),
        (
            lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), key=jax.random.key(0)),
            TypeError,
            "loss(params, key)",
        ),
        (
            lambda: fit(_scalar, jnp.ones(3), Stage("adam", 2), early_stopping=5),
            TypeError,
            "`early_stopping`",
        ),
    ],
)
def test_bad_input_errors_name_the_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_resume_rejects_a_different_problem(tmp_path):
    fit(_scalar, jnp.ones(3), Stage("adam", 4), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="`stages`"):
        fit(_scalar, jnp.ones(3), Stage("adam", 5), checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="leaf 0 of the parameters"):
        fit(_scalar, jnp.ones(2), Stage("adam", 4), checkpoint_dir=tmp_path, resume=True)


# ----------------------------------------------------------------------------- checkpoint folder
def _quick(**kwargs):
    return fit(_scalar, jnp.ones(3), Stage("sgd", 2, learning_rate=0.1), progress=False, **kwargs)


@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_checkpoint_dir_that_is_or_is_under_a_file_is_refused_before_training(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    target = blocker if where == "is_a_file" else blocker / "sub" / "ckpt"
    trained = []
    with pytest.raises(ValueError) as info:
        _quick(checkpoint_dir=target, callback=lambda k, p, t: trained.append(k))
    msg = str(info.value)
    assert "`checkpoint_dir`" in msg and str(blocker) in msg and "file" in msg
    assert trained == []  # refused before the first step


def test_checkpoint_dir_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    from nestax._fit import _checkpoint

    def refuse(path):  # what a read-only folder does (root may write anywhere, so simulated)
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(_checkpoint, "_probe_write", refuse)
    with pytest.raises(ValueError, match=r"`checkpoint_dir`.*not writable") as info:
        _quick(checkpoint_dir=tmp_path / "ro")
    assert str(tmp_path / "ro") in str(info.value)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into read-only folders; the simulated test covers it",
)
def test_checkpoint_dir_read_only_for_real(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="`checkpoint_dir`"):
            _quick(checkpoint_dir=ro)
    finally:
        ro.chmod(0o700)


def test_checkpoint_dir_without_free_space_is_refused(tmp_path, monkeypatch):
    from nestax._fit import _checkpoint

    usage = type("usage", (), {"total": 10**9, "used": 10**9, "free": 10})()
    monkeypatch.setattr(_checkpoint.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(ValueError, match=r"`checkpoint_dir`.*free"):
        _quick(checkpoint_dir=tmp_path)


def test_failed_save_warns_and_training_goes_on(tmp_path, monkeypatch):
    from nestax._fit import _checkpoint

    def full_disk(fh, arrays):  # writes part of the file, then the disk is full
        fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_checkpoint, "_write_arrays", full_disk)
    with pytest.warns(UserWarning, match="No space left on device") as record:
        result = fit(_scalar, jnp.ones(3), Stage("sgd", 6, learning_rate=0.1), every=2,
                     checkpoint_dir=tmp_path, checkpoint_every=2, progress=False)  # fmt: skip
    assert str(tmp_path) in str(record[0].message)
    assert result.stopped == "completed" and result.steps == 6
    assert_close(result.params, 0.8**6 * np.ones(3))  # sgd on |p|^2 at rate 0.1: p_k = 0.8^k
    assert list(tmp_path.iterdir()) == []  # no partial checkpoint, no stray temporary file


_KILLED = """
import sys, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import nestax as nx
loss = lambda p: jnp.sum((p - 1.0) ** 2)
nx.fit(loss, jnp.zeros(200_000), nx.Stage("sgd", 100_000, learning_rate=0.1), every=1,
       checkpoint_dir=sys.argv[1], checkpoint_every=1, progress=False)
"""


def test_run_killed_while_saving_never_leaves_a_partial_checkpoint(tmp_path):
    import subprocess
    import sys
    import time

    from nestax._fit import _checkpoint

    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ckpt-*.json"))) < 2 or len(list(tmp_path.glob("*"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.05)
    finally:
        proc.kill()  # SIGKILL: no handler runs, a write may be cut anywhere
        proc.wait()
    (tmp_path / ".ckpt-000000099.npz.abc.tmp").write_bytes(b"cut short")  # as a kill leaves it
    meta, arrays = _checkpoint.load_latest(tmp_path)
    k = meta["global_step"]
    assert k >= 1 and arrays["history"].shape == (k, 1)
    # sgd at rate 0.1 on |p - 1|^2 from 0: p_k = 1 - 0.8^k, the checkpoint of step k holds it
    assert_close(arrays["params_0"], (1.0 - 0.8**k) * np.ones(200_000))
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # resume cleaned them up


def test_nan_gradient_with_finite_loss_stops_like_a_nan_loss():
    """The untaken branch of a `where` has a nan derivative: the loss is finite, its gradient
    is not (the issue's example); training must not go on with nan parameters."""

    def loss(p):
        return jnp.where(p["p"][0] > -10, (p["p"][0] - 1) ** 2, jnp.sqrt(p["p"][1]))

    start = {"p": jnp.array([0.0, -1.0])}
    assert np.isfinite(loss(start)) and not np.isfinite(jax.grad(loss)(start)["p"]).all()
    with pytest.raises(NonFiniteLossError) as info:
        fit(loss, start, Stage("adam", 5, learning_rate=0.1), progress=False)
    err = info.value
    assert err.step == 0 and err.of == "gradient" and "gradient" in str(err)
    leaves_equal(err.params, start)  # finite: the initial parameters


def test_nan_gradient_names_the_step_and_the_term(tmp_path):
    # sgd at rate 0.1 on (p - 1)^2 from 0: p_k = 1 - 0.8^k crosses 0.5 at k = 4, where the
    # untaken branch 0 * sqrt(0.5 - p) has a nan derivative (the value stays 0).
    def loss(p):
        safe = jnp.where(p[0] > 0.5, 0.0, 0.0 * jnp.sqrt(0.5 - p[0]))
        return {"fit": (p[0] - 1.0) ** 2, "barrier": safe}

    with pytest.raises(NonFiniteLossError) as info:
        fit(loss, jnp.zeros(1), Stage("sgd", 20, learning_rate=0.1), every=7, progress=False,
            checkpoint_dir=tmp_path)  # fmt: skip
    err = info.value
    assert (err.step, err.term, err.of) == (4, "barrier", "gradient")
    from nestax._fit import _checkpoint

    meta, arrays = _checkpoint.load_latest(tmp_path)  # the state before the failing step
    assert err.checkpoint is not None and meta["global_step"] == 4
    assert_close(arrays["params_0"], [1.0 - 0.8**4])
    assert "'barrier'" in str(err) and "step 4" in str(err)
    assert_close(err.params, [1.0 - 0.8**3])  # θ_3, the last step that moved the parameters
    assert_close(err.history["fit"], (0.8 ** np.arange(4)) ** 2)


def test_resume_matches_leaves_by_path_and_refuses_renamed_keys(tmp_path):
    def loss(p):
        return jnp.sum((p["a"] - 1.0) ** 2) + jnp.sum((p[next(k for k in p if k != "a")]) ** 2)

    stage = Stage("sgd", 4, learning_rate=0.1)
    start = {"a": jnp.zeros(2), "b": jnp.ones(2)}
    fit(loss, start, stage, checkpoint_dir=tmp_path, progress=False)
    renamed = {"a": jnp.zeros(2), "c": jnp.ones(2)}  # same shapes, same order, another name
    with pytest.raises(ValueError) as info:
        fit(loss, renamed, stage, checkpoint_dir=tmp_path, resume=True, progress=False)
    msg = str(info.value)
    assert "['b']" in msg and "['c']" in msg and "missing" in msg and "unexpected" in msg
    # the same names resume (the finished run comes back with p_4: a = 1 - 0.8^4, b = 0.8^4)
    again = fit(loss, start, stage, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert_close(again.params["a"], (1 - 0.8**4) * np.ones(2))
    assert_close(again.params["b"], 0.8**4 * np.ones(2))


@pytest.mark.parametrize("damage", ["truncated_npz", "garbage_json"])
def test_corrupt_checkpoint_is_named_and_the_previous_one_is_used(tmp_path, damage):
    stage = Stage("sgd", 6, learning_rate=0.1)
    kwargs = dict(checkpoint_dir=tmp_path, progress=False, every=2)
    fit(_scalar, jnp.ones(3), stage, checkpoint_every=2, **kwargs)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.json")) == [
        "ckpt-000000004.json", "ckpt-000000006.json"]  # fmt: skip
    bad = tmp_path / ("ckpt-000000006.npz" if damage == "truncated_npz" else "ckpt-000000006.json")
    if damage == "truncated_npz":
        bad.write_bytes(bad.read_bytes()[:40])
    else:
        bad.write_text("{ not json")
    with pytest.warns(UserWarning, match="ckpt-000000006"):
        result = fit(_scalar, jnp.ones(3), stage, resume=True, **kwargs)
    # resumed from step 4 and ran steps 4 and 5 again: sgd on |p|^2 at rate 0.1, p_k = 0.8^k
    assert result.stopped == "completed" and result.steps == 6
    assert_close(result.params, 0.8**6 * np.ones(3))
    assert_close(result.history["total"], 3 * 0.8 ** (2 * np.arange(6)))


def test_corrupt_only_checkpoint_raises_naming_the_file(tmp_path):
    stage = Stage("sgd", 2, learning_rate=0.1)
    fit(_scalar, jnp.ones(3), stage, checkpoint_dir=tmp_path, progress=False)
    (tmp_path / "ckpt-000000002.npz").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="ckpt-000000002.npz"):
        fit(_scalar, jnp.ones(3), stage, checkpoint_dir=tmp_path, resume=True, progress=False)


_TWO_CTRL_C = """
import os, signal, sys, threading
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import nestax as nx

def u(p, x):
    for w in p:
        x = jnp.tanh(x @ w)
    return jnp.sum(x)

def loss(p):  # an L-BFGS step with a Laplacian inside: ~1 s to compile on a CPU
    xs = jnp.linspace(0.0, 1.0, 32).reshape(16, 2)
    return jnp.mean(jax.vmap(nx.laplacian(lambda x: u(p, x)))(xs) ** 2)

key = jax.random.key(0)
p = [0.3 * jax.random.normal(jax.random.fold_in(key, i), (2 if i == 0 else 16, 16))
     for i in range(6)]

def first_ctrl_c(k, params, terms):
    if k == 0:
        os.kill(os.getpid(), signal.SIGINT)

r = nx.fit(loss, p, [nx.Stage("adam", 10**6), nx.Stage("lbfgs", 50)], every=1,
           checkpoint_dir=sys.argv[1], callback=first_ctrl_c, progress=False)
alive = any(t.name.startswith("nestax-compile") and t.is_alive() for t in threading.enumerate())
print("RESULT", r.stopped, r.steps, alive, flush=True)
"""


def test_second_ctrl_c_while_the_background_compile_runs_exits_cleanly(tmp_path):
    """The first Ctrl-C stops training and saves; the second arrives while the L-BFGS step still
    compiles on the background thread (at the script's exit). The interpreter used to abort
    (exit -6, `terminate called ...`) and now exits normally with the checkpoint intact."""
    import subprocess
    import sys

    from nestax._fit import _checkpoint

    proc = subprocess.Popen(
        [sys.executable, "-c", _TWO_CTRL_C, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)  # the second Ctrl-C
    out, err = proc.communicate(timeout=120)
    assert line.startswith("RESULT interrupted 1"), (line, err)
    if line.split()[-1] != "True":
        pytest.skip("the background compilation ended before the second Ctrl-C was sent")
    # exit 0, or -SIGINT when the second Ctrl-C lands while the script's own last line still
    # runs (Python's KeyboardInterrupt in user code); never the abort (-6, "terminate called")
    assert proc.returncode in (0, -signal.SIGINT), err[-2000:]
    assert "terminate called" not in err, err[-2000:]
    meta, arrays = _checkpoint.load_latest(tmp_path)
    assert meta["global_step"] == 1 and meta["stopped"] == "interrupted"
    assert arrays["history"].shape == (1, 1) and np.isfinite(arrays["history"]).all()


def test_ctrl_c_while_the_checkpoint_is_written_waits_for_it(tmp_path, monkeypatch):
    """Ctrl-C twice: the second lands while the final checkpoint is being written; it is
    deferred until the checkpoint is complete, and `fit` still returns its result."""
    from nestax._fit import _checkpoint

    save = _checkpoint.save

    def save_with_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, mid-save
        return save(*args, **kwargs)

    monkeypatch.setattr(_checkpoint, "save", save_with_ctrl_c)

    def first_ctrl_c(k, p, terms):
        if k == 2:
            os.kill(os.getpid(), signal.SIGINT)

    result = fit(_scalar, jnp.ones(3), Stage("sgd", 50, learning_rate=0.1), every=1,
                 callback=first_ctrl_c, checkpoint_dir=tmp_path, progress=False)  # fmt: skip
    assert result.stopped == "interrupted" and result.steps == 3
    meta, arrays = _checkpoint.load_latest(tmp_path)
    assert meta["global_step"] == 3
    assert_close(arrays["params_0"], 0.8**3 * np.ones(3))
