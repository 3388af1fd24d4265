"""The progress bar of `nestax.fit`: its rate and ETA leave out the compiling steps."""

from __future__ import annotations

import io

import jax.numpy as jnp
import pytest

from nestax._fit import Stage, fit
from nestax._fit._progress import ProgressBar


class Clock:
    """A fake clock for the bar: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_bar(total: int) -> tuple[ProgressBar, Clock]:
    clock = Clock()
    bar = ProgressBar(total=total, file=io.StringIO(), mininterval=0, ncols=200)
    bar._time = clock  # tqdm's own clock attribute, read by elapsed, rate and ETA
    bar.start_t = bar.last_print_t = clock.now
    return bar, clock


def test_eta_counts_only_the_steps_after_compilation():
    bar, clock = make_bar(1000)
    clock.now += 30.0  # the first step compiles for 30 s
    bar.update(1)
    bar.compiled(30.0)
    assert bar.format_dict["rate"] == 0.0  # nothing measured yet
    assert "<?" in str(bar)  # tqdm shows an unknown ETA as "?"
    for _ in range(10):  # then 10 ms a step
        clock.now += 0.01
        bar.update(1)
    assert bar.format_dict["rate"] == pytest.approx(100.0)
    # 989 steps left at 100 steps/s: 9.89 s, where tqdm's own average (11 steps in 30.1 s)
    # would say 45 min
    text = str(bar)
    assert "00:30<00:09" in text, text
    assert "compile 30.0 s" in text, text


def test_a_later_stage_restarts_the_rate_and_adds_its_compilation():
    bar, clock = make_bar(300)
    clock.now += 5.0
    bar.update(1)
    bar.compiled(5.0)
    for _ in range(99):  # stage 1: 1 ms a step
        clock.now += 0.001
        bar.update(1)
    clock.now += 2.0  # stage 2 compiles for 2 s
    bar.update(1)
    bar.compiled(7.0)
    for _ in range(10):  # stage 2: 0.1 s a step
        clock.now += 0.1
        bar.update(1)
    assert bar.format_dict["rate"] == pytest.approx(10.0)
    assert "compile 7.0 s" in str(bar)


def test_terms_follow_the_compile_time_in_the_postfix():
    bar, clock = make_bar(10)
    bar.update(1)
    bar.compiled(1.5)
    bar.set_postfix_str("total=1.000e+00", refresh=False)
    assert "compile 1.5 s, total=1.000e+00" in str(bar)


def test_fit_shows_the_compile_time(capsys):
    fit(lambda w: jnp.sum(w**2), jnp.ones(3), [Stage("adam", 5, learning_rate=0.1)], progress=True)
    err = capsys.readouterr().err
    assert "compile " in err and " s, total=" in err, err
