r"""The terms of a linear operator, ``{alpha: c_alpha}``, and their lazy form for the
operators that are polynomials in the Laplacian.

Every linear strategy reads an operator as a mapping from multi-indices to coefficients. For
``sum_m c_m Delta^m`` (the Laplacian, the biharmonic, ...) the mapping is `InvariantTerms`: its
*profile* ``{m: c_m}`` is known at once and the ``d``-dimensional terms are built only when a
strategy reads them (the reduced and iterated strategies never do).

Example:
    >>> t = InvariantTerms({1: 1.0}, 3)          # the Laplacian in 3-D
    >>> len(t), dict(t)[(2, 0, 0)]
    (3, 1.0)
    >>> laplacian_power_terms(2, 2)              # Delta^2 in 2-D
    {(0, 4): 1.0, (2, 2): 2.0, (4, 0): 1.0}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from ._directions import _compositions_nonneg


def laplacian_power_terms(m: int, k: int) -> dict[tuple[int, ...], float]:
    r"""The terms of :math:`\Delta^m` in ``k`` dimensions: ``{2 beta: m!/beta!}``, |beta| = m."""
    if m == 0:
        return {(0,) * k: 1.0}
    if m == 1:
        return {tuple(2 if j == i else 0 for j in range(k)): 1.0 for i in range(k)}
    out = {}
    for beta in _compositions_nonneg(m, k):
        coef = math.factorial(m) // math.prod(math.factorial(b) for b in beta)
        out[tuple(2 * b for b in beta)] = float(coef)
    return out


def _profile_terms(profile: Mapping[int, float], k: int) -> dict[tuple[int, ...], float]:
    out: dict[tuple[int, ...], float] = {}
    for m, c in profile.items():
        for alpha, v in laplacian_power_terms(m, k).items():
            out[alpha] = out.get(alpha, 0.0) + c * v
    return {a: c for a, c in out.items() if c != 0.0}


def operator_profile(op: Any) -> dict[int, float]:
    """``{m: c_m}`` with ``op = sum_m c_m Delta^m``, read off ``op.terms(1)`` (rotation-invariant
    operators are dimension-free, and in one dimension ``Delta^m = d^(2m)``)."""
    profile = {}
    for (a,), c in op.terms(1).items():
        if a % 2:
            raise ValueError(f"reduced: {op!r} is not a polynomial in the Laplacian")
        profile[a // 2] = float(c)
    return profile


class InvariantTerms(Mapping):
    """The terms of ``sum_m c_m Delta^m`` in ``d`` dimensions, built only when read.

    A Laplacian in d = 10 000 has 10 000 multi-indices of length 10 000 and a biharmonic in
    d = 1 024 half a million: the reduced strategy never needs them (it plans in ``k``
    dimensions), the others build them on first access.
    """

    def __init__(self, profile: Mapping[int, float], d: int):
        self.profile = {int(m): float(c) for m, c in profile.items() if c != 0.0}
        self.d = int(d)
        self._terms: dict[tuple[int, ...], float] | None = None

    @classmethod
    def of(cls, op: Any, d: int) -> Mapping:
        """``InvariantTerms`` for a rotation-invariant operator, else ``op.terms(d)``."""
        return cls(operator_profile(op), d) if op.rotation_invariant else op.terms(d)

    def _dict(self) -> dict[tuple[int, ...], float]:
        if self._terms is None:
            self._terms = _profile_terms(self.profile, self.d)
        return self._terms

    def __getitem__(self, key: tuple[int, ...]) -> float:
        return self._dict()[key]

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return iter(self._dict())

    def __len__(self) -> int:
        if self._terms is not None:
            return len(self._terms)
        return sum(math.comb(self.d + m - 1, m) if m else 1 for m in self.profile)

    def materialized_size(self) -> int:
        """Integers the full term list would hold (to decide whether to build it)."""
        return len(self) * self.d

    def summary(self) -> Mapping[tuple[int, ...], float]:
        """One representative term per order, with the true length (for the planner's
        one-line summary, without building the list)."""
        return _Summary(
            {tuple([2 * m] + [0] * (self.d - 1)): c for m, c in self.profile.items()}, len(self)
        )

    def __repr__(self) -> str:
        parts = " + ".join(f"{c:g}*Laplacian^{m}" for m, c in sorted(self.profile.items()))
        return f"InvariantTerms({parts}, d={self.d})"


class _Summary(dict):
    def __init__(self, items: dict, length: int):
        super().__init__(items)
        self._length = length

    def __len__(self) -> int:
        return self._length
