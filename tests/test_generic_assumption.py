"""The 'generic' assumption ('almost all data': independent support vectors, every dual
coefficient > 0) and the cause it names where it fails, on tiny data whose max-margin solution is
known by hand (aligncheck.claims.assumptions)."""

from __future__ import annotations

import numpy as np
from aligncheck.claims.assumptions import _generic
from aligncheck.data.problem import Problem


def _judge(X: list[list[float]], y: list[float]) -> tuple[bool, str]:
    p = Problem.from_arrays(np.array(X, dtype=float), np.array(y, dtype=float))
    return _generic(p.Z, p.max_margin)


def test_independent_support_vectors_with_positive_duals_are_generic():
    ok, reason = _judge([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], [1.0, 1.0, 1.0])  # ū ∝ (1, 1), α = (1, 1)
    assert ok and reason == "2 support vectors of rank 2, min dual coefficient 1"


def test_mirrored_points_are_named_as_identical_z_rows():
    # x and −x with opposite labels give the same z = y·x, also where x has a zero entry (−0.0).
    # Six copies of z = (1, 0): five pairs, the first four shown.
    X = [[1.0, 0.0], [-1.0, 0.0]] * 3 + [[0.0, 1.0]]
    ok, reason = _judge(X, [1.0, -1.0] * 3 + [1.0])
    assert not ok
    assert reason.startswith("7 support vectors of rank 2, min dual coefficient 0: ")
    assert "identical z_i = y_i x_i at rows 0 and 1, 0 and 2, 0 and 3, 0 and 4, ... (mirrored ±x points, or duplicates)" in reason


def test_four_identical_pairs_are_all_shown_without_an_ellipsis():
    X = [[1.0, 0.0]] * 5 + [[0.0, 1.0]]
    ok, reason = _judge(X, [1.0] * 6)
    assert not ok and "at rows 0 and 1, 0 and 2, 0 and 3, 0 and 4 (mirrored" in reason


def test_dependent_support_vectors_without_identical_rows():
    # (0.7, 0.3) lies on the margin of {(1, 0), (0, 1)}: three margin points in R^2
    ok, reason = _judge([[1.0, 0.0], [0.0, 1.0], [0.7, 0.3]], [1.0, 1.0, 1.0])
    assert not ok and "dependent support vectors (3 of rank 2: more points on the margin than its dimension)" in reason
    assert "identical" not in reason


def test_a_zero_dual_coefficient_is_named_with_its_rows():
    # ū = (1, 0, 0): every point has margin 1, w = z_0 alone, so rows 1 and 2 carry no weight.
    ok, reason = _judge([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]], [1.0, 1.0, 1.0])
    assert not ok and reason.endswith(": a zero dual coefficient at rows 1, 2")
    ok, reason = _judge([[1.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
    assert not ok and reason.endswith(": a zero dual coefficient at row 1")
    assert "dependent" not in reason  # the two support vectors are independent


def test_more_than_six_zero_duals_are_cut_with_an_ellipsis():
    # ū = (1, 0): (1, k) has margin 1 for every k, and only k = 0 can carry w = (1, 0) with α ≥ 0.
    ok, reason = _judge([[1.0, float(k)] for k in range(8)], [1.0] * 8)
    assert not ok and reason.endswith("; a zero dual coefficient at rows 1, 2, 3, 4, 5, 6, ...")
    ok, reason = _judge([[1.0, float(k)] for k in range(7)], [1.0] * 7)
    assert not ok and reason.endswith("; a zero dual coefficient at rows 1, 2, 3, 4, 5, 6")
