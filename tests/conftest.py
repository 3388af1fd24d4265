"""Strict test configuration shared by the whole suite.

float64 everywhere (references are computed in float64), and rank promotion raises, which
catches the classic `(N, 1) + (N,)` residual bug.
"""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
