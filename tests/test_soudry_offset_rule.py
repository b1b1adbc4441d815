"""soudry.offset's violation rule (aligncheck.claims.soudry.implicit_bias): a gap that did not
decrease is a violation only over a growth of t in which the theorem's own rate t^-λ would have
halved it; below that it is inconclusive, whatever the gap did."""

from __future__ import annotations

import numpy as np
from aligncheck.claims.assumptions import Setup
from aligncheck.claims.soudry.implicit_bias import (
    OFFSET_VISIBLE_FALL,
    _offset_violation_growth,
    local_rate,
)
from aligncheck.claims.verdicts import MIN_LATE_GROWTH, LimitSeries, Status
from aligncheck.data.problem import Problem
from aligncheck.numerics.losses import LOGISTIC


def _setup(X: list[list[float]], y: list[float]) -> Setup:
    p = Problem.from_arrays(np.array(X), np.array(y))
    return Setup(p.Z, p.max_margin, LOGISTIC, (np.zeros((1, p.d)),), "gd")


def _flat_gap(violation_growth: float) -> Status:
    """The judge on a gap stuck at 0.5 while t grows x1000 (a constant: no decrease at all)."""
    t = np.geomspace(1.0, 1e3, 40)
    return LimitSeries("gap", np.full(40, 0.5), t, t, 0.0, 1e-2, 1e-14, "step t", trend_only=True, violation_growth=violation_growth).judge().status


def test_a_fast_rate_keeps_the_default_growth_and_a_flat_gap_is_violated():
    # Support vectors ±e_1, ±e_2 (λ_min(Σ α z zᵀ) = α = 1) and no other point (θ = ∞): λ = 1.
    setup = _setup([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], [1.0, 1.0, -1.0, -1.0])
    assert local_rate(setup)[0] == 1.0
    assert _offset_violation_growth(setup) == MIN_LATE_GROWTH  # t^-1 halves the gap over x2 < x4
    assert _flat_gap(_offset_violation_growth(setup)) == Status.VIOLATED


def test_a_crawling_rate_makes_a_flat_gap_inconclusive():
    # A point just beyond the margin: θ − 1 = 0.01, so λ = 0.01 and t^-λ halves the gap only over x2^100.
    setup = _setup([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.505, 0.505]], [1.0, 1.0, -1.0, -1.0, 1.0])
    lam = local_rate(setup)[0]
    assert abs(lam - 0.01) < 1e-12
    assert abs(np.log(_offset_violation_growth(setup)) - np.log(OFFSET_VISIBLE_FALL) / lam) < 1e-9
    assert _flat_gap(_offset_violation_growth(setup)) == Status.INCONCLUSIVE
