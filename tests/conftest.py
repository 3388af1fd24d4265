"""Strict test configuration shared by the whole suite.

float64 everywhere (references are computed in float64), and rank promotion raises, which
catches the classic `(N, 1) + (N,)` residual bug.
"""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_terminal_summary(terminalreporter):
    """Reports how many generated programs were checked against nested AD (the tests record
    each checked program as a ``generated_programs`` user property, across xdist workers)."""
    total = sum(
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "generated_programs"
    )
    if total:
        terminalreporter.write_line(f"generated programs checked against nested AD: {total}")
