"""A second share of the generated programs of `test_generated_programs` (other programs: a
separate test function has its own derandomized seed), so that two xdist workers share them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._programs import Program, programs
from .test_generated_programs import FAMILIES, SETTINGS, check_family, check_program


@SETTINGS
@given(prog=programs(), data=st.data())
def test_every_method_matches_nested_ad_second_share(prog: Program, data, record_property):
    check_program(prog, data, record_property)


@pytest.mark.parametrize("seed", range(FAMILIES, 2 * FAMILIES))
def test_program_families_match_nested_ad_second_share(seed: int, record_property):
    check_family(seed, record_property)
