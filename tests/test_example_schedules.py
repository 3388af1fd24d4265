"""Every example trains for exactly the ``--iters`` it is given: its stages and rounds add up."""

from __future__ import annotations

import pytest

from nestax.examples import (
    _run,
    burgers,
    hamiltonian,
    heat,
    lotka_volterra,
    poisson_2d,
    seed_ude,
)

ITERS = [1, 2, 3, 5, 9, 10, 20, 200, 201, 1001, 3000, 10_000, 10_007]


def steps(stages) -> list[int]:
    return [s.steps for s in stages]


def in_rounds(first, later, rounds) -> list[int]:
    """The steps of every stage of every round, as `pinn.Problem.train` runs them."""
    out = steps(first)
    for _ in range(rounds - 1):
        out += steps(later)
    return out


SCHEDULES = {
    "burgers": lambda n: in_rounds(*burgers.schedule(n)),
    "burgers-3-rounds": lambda n: in_rounds(*burgers.schedule(n, adam_steps=50, rounds=3)),
    "heat": lambda n: in_rounds(*heat.schedule(n)),
    "heat-3-rounds": lambda n: in_rounds(*heat.schedule(n, rounds=3)),
    "heat-4-rounds-adam-50": lambda n: in_rounds(*heat.schedule(n, rounds=4, adam_steps=50)),
    "poisson-2d": lambda n: steps(poisson_2d.stages(n)),
    "kdv/biharmonic": lambda n: steps(_run.adam_then_lbfgs(n)),
    "hamiltonian": lambda n: steps(hamiltonian.stages(n)),
    "lotka-volterra": lambda n: [s for part in lotka_volterra.stages(n) for s in steps(part)],
    "seed-ude": lambda n: [s for part in seed_ude.stages(n) for s in steps(part)],
}
MINIMUM = {"hamiltonian": 2, "lotka-volterra": 4, "seed-ude": 2}  # one step per stage at least


@pytest.mark.parametrize("name", SCHEDULES)
def test_stages_add_up_to_iters(name):
    for n in ITERS:
        if n < MINIMUM.get(name, 1):
            continue
        got = SCHEDULES[name](n)
        assert sum(got) == n, (name, n, got)
        assert all(k >= 1 for k in got), (name, n, got)


def test_burgers_200_is_200_not_207():
    # the issue's case (the rounds' steps once came on top of `iters`); now a short run is
    # half Adam; of the Gauss-Newton half, 80 in the first round, the rest shared by 6 more
    first, later, rounds = burgers.schedule(200)
    assert rounds == 7 and steps(first) == [100, 82] and steps(later) == [3]
    assert [s.name for s in first + later] == ["adam", "gauss-newton", "gauss-newton"]


def test_default_schedules_keep_their_documented_split():
    first, later, rounds = burgers.schedule(burgers.DEFAULT_ITERS)
    assert (steps(first), steps(later), rounds) == ([1000, 80], [50], 7)
    first, later, rounds = heat.schedule(heat.DEFAULT_ITERS)
    assert (steps(first), rounds) == ([166, 334], 1)
    first, later, rounds = heat.schedule(3000, rounds=3)  # 200 Adam at most a round
    assert (steps(first), steps(later), rounds) == ([200, 800], [200, 800], 3)
