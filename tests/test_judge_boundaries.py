"""The limit judge (aligncheck.claims.verdicts.judge_limit) at its boundaries, on constructed series:
each rule's comparison on the side the comment block of verdicts.py states, and the judgement's
fields. Written for the survivors of mutation testing (tools/mutation.sh): a boundary moved by one
(≤ for <), a field dropped or swapped, a violation never demoted on a short window passed the
tests before."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from aligncheck.claims.verdicts import (
    END_POINTS,
    MIN_LATE_GROWTH,
    RATE_SLACK,
    STALL_ABOVE_FLOOR,
    Status,
    decay_exponent,
    judge_limit,
    limit_window,
)

# 2^(k/4), k = 0..16: the late window starts at exactly 4 (log 4 = half of log 16 in float64) and ends
# at 16, a growth of exactly MIN_LATE_GROWTH = 4.
SCALE = 2.0 ** np.linspace(0.0, 4.0, 17)
FLOOR, THRESHOLD = 1e-18, 1e-3


def judge(q, scale=SCALE, **kw):
    return judge_limit(np.asarray(q, float), np.asarray(scale, float), **{"p": 2.0, "threshold": THRESHOLD, "floor": FLOOR, "what": "gap", **kw})


def test_the_window_of_the_constructed_scale():
    assert MIN_LATE_GROWTH == 4.0 and SCALE[8] == 4.0 and SCALE[-1] == 16.0


def test_four_defined_checkpoints_are_enough_three_are_not():
    three = judge([1e-4, 1e-5, 1e-6], scale=[1.0, 10.0, 100.0])
    assert three.status == Status.INCONCLUSIVE and math.isnan(three.value) and three.reason == "gap: fewer than 4 defined checkpoints"
    four = judge([1e-4, 1e-5, 1e-6, 1e-7], scale=[1.0, 10.0, 100.0, 1000.0])
    assert "fewer than 4" not in four.reason and four.value == 1e-7


def test_a_late_growth_of_exactly_min_late_growth_is_judged():
    q = 1e-4 / SCALE**2
    jd = judge(q)
    assert jd.status == Status.HOLDS, jd.reason
    assert "decaying at least like scale^-2" in jd.reason and "x4 growth" in jd.reason
    short = judge(q[:-1], scale=SCALE[:-1])  # the window ends just below x4
    assert short.status == Status.INCONCLUSIVE and "too short to judge the trend" in short.reason and short.value == q[-2]


def test_the_fields_of_a_judgement():
    q = 1e-4 / SCALE**2
    jd = judge(q)
    assert jd.exponent == pytest.approx(2.0, abs=1e-9)
    # the rate constant: the largest |q|·scale^p over the first half of the late window (scale 4 to 8)
    assert jd.rate_constant == pytest.approx(1e-4, rel=1e-12)
    assert judge(q, trend_only=True).rate_constant is None
    # the end exponent needs 2·END_POINTS points in the window's second half: 4 here, 8 on a finer grid
    assert jd.end_exponent is None
    fine = 2.0 ** np.linspace(0.0, 4.0, 33)
    dense = judge(1e-4 / fine**2, scale=fine)
    assert dense.end_exponent == pytest.approx(2.0, abs=1e-9) and dense.exponent == pytest.approx(2.0, abs=1e-9)


def test_at_the_floor_means_at_or_below_it():
    q = np.full(17, 1e-10)
    q[-3:] = FLOOR  # the last points exactly at the floor: arithmetic noise, counted as 0
    jd = judge(q)
    assert jd.status == Status.HOLDS and "at the arithmetic floor" in jd.reason
    q[-1] = 2 * FLOOR
    assert "at the arithmetic floor" not in judge(q).reason


def test_negative_values_are_flagged_beyond_minus_the_floor_only():
    q = 1e-4 / SCALE**2
    q[-1] = -1e-12
    assert judge(q).reason.endswith("(negative: the arithmetic error is at least that large)")
    q[-1] = -FLOOR
    assert "negative" not in judge(q).reason
    q[-1] = FLOOR / 2
    assert "negative" not in judge(q).reason


def test_a_rising_gap_is_a_violation_only_over_enough_growth():
    q = 1e-4 * SCALE  # rising
    exact = judge(q, violation_growth=4.0)  # the window grew exactly x4: enough
    assert exact.status == Status.VIOLATED and "did not decrease over the late window" in exact.reason and "run longer" not in exact.reason
    more = judge(q, violation_growth=4.5)
    assert more.status == Status.INCONCLUSIVE and "run longer" in more.reason


def test_a_flat_gap_did_not_decrease():
    jd = judge(np.full(17, 1e-2))
    assert jd.status == Status.VIOLATED and "did not decrease" in jd.reason


def test_trend_only_at_the_threshold_is_not_a_violation():
    q = np.full(17, THRESHOLD)  # flat, exactly at the threshold
    jd = judge(q, trend_only=True)
    assert jd.status == Status.INCONCLUSIVE and "a transient, or a limit above 0" in jd.reason
    above = judge(np.full(17, 2 * THRESHOLD), trend_only=True)
    assert above.status == Status.VIOLATED


def test_a_gap_slower_than_the_rate_is_still_settling_and_says_how_fast():
    # Over a x16 late window (scale 16 to 256) a gap falling like scale^-0.3 (faster than the stall
    # exponent) lets its constant q·scale² grow x(256/64)^1.7 ≈ 10.6 > RATE_SLACK from the reference.
    scale = 2.0 ** np.linspace(0.0, 8.0, 33)
    jd = judge(1e-4 * scale**-0.3, scale=scale)
    assert jd.status == Status.INCONCLUSIVE, jd.reason
    assert "decays like scale^-0.3 over the late window, slower than the expected scale^-2" in jd.reason
    grew = float(re.search(r"its constant grew x([0-9.e+-]+)", jd.reason).group(1))
    assert RATE_SLACK < grew < 11  # c_end / c_ref


def test_a_stall_reports_the_ratio_it_fell_by():
    q = 1e-2 * SCALE ** -0.1  # falls like scale^-0.1 < the stall exponent
    jd = judge(q)
    assert jd.status == Status.VIOLATED and "stalled at" in jd.reason
    fell = float(np.max(np.abs(q[8:13]))) / float(np.max(np.abs(q[-3:])))
    assert f"fell only x{fell:.3g}" in jd.reason


def test_at_the_threshold_holds():
    q = 1e-4 / SCALE**2
    q = q * (THRESHOLD / q[-3])  # the end's largest value exactly at the threshold
    jd = judge(q)
    assert jd.status == Status.HOLDS, jd.reason
    assert judge(q * 1.5).status == Status.INCONCLUSIVE and "still above" in judge(q * 1.5).reason


def test_trend_only_holds_say_decreasing():
    jd = judge(1e-4 / SCALE**2, trend_only=True)
    assert jd.status == Status.HOLDS and "decreasing over a x4 growth" in jd.reason


# --------------------------------------------------------------------- exact boundaries on powers of 2
#
# GRID = 2^k, k = −4..19: every q·scale^p and every ratio below is exact in float64, and no
# checkpoint sits on a window boundary (late window: k ≥ 7.5, so k = 8..19, a growth of 2^11;
# reference: k ≤ 13.5, so 8..13; end half: 14..19, six checkpoints).
GRID = 2.0 ** np.arange(-4, 20)
LATE, REF, END = np.arange(12, 24), np.arange(12, 18), np.arange(18, 24)  # indices into GRID


def test_the_windows_of_the_power_of_two_grid():
    w = limit_window(np.ones_like(GRID), GRID)
    assert list(w.defined) == list(range(24))
    assert (list(w.late), list(w.reference), list(w.end_half)) == (list(LATE), list(REF), list(END))


def test_an_end_half_of_two_end_points_sizes_gets_an_exponent():
    # The end exponent needs 2·END_POINTS checkpoints in the end half: GRID's has exactly that many.
    assert len(END) == 2 * END_POINTS
    jd = judge(GRID**-2.0, scale=GRID)
    assert jd.end_exponent == pytest.approx(2.0, abs=1e-9)


def test_a_rate_constant_grown_exactly_rate_slack_fold_still_holds():
    # q·scale² = 1 up to the last END_POINTS checkpoints, then exactly RATE_SLACK: "at most" that growth.
    c = np.where(np.arange(24) >= 24 - END_POINTS, RATE_SLACK, 1.0)
    jd = judge(c / GRID**2, scale=GRID, floor=1e-30)
    assert jd.status == Status.HOLDS and jd.rate_constant == 1.0, jd.reason
    c[-END_POINTS:] = 2 * RATE_SLACK
    more = judge(c / GRID**2, scale=GRID, floor=1e-30)
    assert more.status == Status.INCONCLUSIVE and f"its constant grew x{2 * RATE_SLACK:.3g}" in more.reason


def test_a_fall_of_exactly_growth_to_the_stall_exponent_is_no_stall():
    # q halves once, at the end of the reference (k = 13 -> 14), over a late growth of 2^11: its mean
    # decay exponent is log 2 / log 2^11. A stall needs strictly less.
    q = np.where(np.arange(24) <= REF[-1], 2.0**-19, 2.0**-20)
    fell = math.log(2.0) / math.log(2.0**11)
    at = judge(q, scale=GRID, stall_exponent=fell)
    assert at.status == Status.INCONCLUSIVE and "stalled" not in at.reason, at.reason  # the rate test's verdict
    above = judge(q, scale=GRID, stall_exponent=1.01 * fell)
    assert above.status == Status.VIOLATED and "stalled at 9.54e-07: it fell only x2 " in above.reason


def test_a_stall_is_called_only_strictly_above_stall_above_floor_floors():
    # A halving over the window (a stall), with the end half's median exactly STALL_ABOVE_FLOOR·floor:
    # that close to the floor it is not called a stall.
    floor = 2.0**-40
    q = np.full(24, 200 * floor)
    q[END] = np.array([150, 120, 100, 100, 100, 100]) * floor
    assert np.median(q[END]) == STALL_ABOVE_FLOOR * floor
    at = judge(q, scale=GRID, floor=floor)
    assert at.status == Status.INCONCLUSIVE and "stalled" not in at.reason, at.reason
    q[END] *= 1.01  # the median 101 floors: the same halving is a stall
    above = judge(q, scale=GRID, floor=floor)
    assert above.status == Status.VIOLATED and "stalled" in above.reason


def test_a_rate_test_without_an_exponent_says_slowly():
    # Only two late values above the floor (the reference's first and the last): no exponent can be
    # fitted, and the reason says so instead of printing one; the end half is at the floor, so no stall test.
    floor = 1e-12
    q = np.full(24, floor / 2)
    q[LATE[0]], q[-1] = 1e-10, 1e-11
    jd = judge(q, scale=GRID, floor=floor)
    assert jd.exponent is None and jd.status == Status.INCONCLUSIVE
    assert jd.reason.startswith("gap = 1e-11 decays slowly over the late window, slower than the expected scale^-2")


def test_a_late_window_needs_more_checkpoints_than_the_end_is_read_over():
    # The end is the largest |q| over the last END_POINTS checkpoints: in a late window of only
    # END_POINTS, that includes the window's first value, and a gap decaying like scale^-2 read as
    # "did not decrease" (violated, before this rule). Growth x5 in both windows below.
    four = np.array([1.0, 2.0, 6.0, 8.0, 12.0, 30.0])  # late window: 6, 8, 12, 30 (from sqrt(30) on)
    assert list(limit_window(four**-2.0, four).late) == [2, 3, 4, 5]
    jd = judge(1e-4 * four**-2.0, scale=four)
    assert jd.status == Status.HOLDS and jd.reason == "gap = 1.56e-06 <= 0.001, decaying at least like scale^-2 over a x5 growth"
    three = np.array([1.0, 2.0, 6.0, 10.0, 30.0])  # late window: 6, 10, 30
    assert len(limit_window(three**-2.0, three).late) == END_POINTS
    for trend_only in (False, True):
        short = judge(1e-4 * three**-2.0, scale=three, trend_only=trend_only)
        assert short.status == Status.INCONCLUSIVE and short.value == 1e-4 / 900
        assert short.reason == "gap = 1.11e-07; only 3 checkpoints in the late window (the end is read over the last 3): too short to judge the trend"


def test_checkpoints_on_a_boundary_belong_to_the_earlier_part():
    # Ties only between equal scales (exact in any arithmetic): a scale that stopped growing at 8
    # puts its whole late window in the reference, with nothing after it; so does a late window of
    # one checkpoint.
    flat = limit_window(np.ones(5), [1.0, 1.0, 8.0, 8.0, 8.0])
    assert (list(flat.late), list(flat.reference), list(flat.end_half)) == ([2, 3, 4], [2, 3, 4], [])
    jump = limit_window(np.ones(4), [1.0, 1.0, 1.0, 100.0])
    assert (list(jump.late), list(jump.reference), list(jump.end_half)) == ([3], [3], [])


def test_the_window_skips_undefined_checkpoints_and_indexes_the_whole_series():
    q = np.array([np.nan, 1.0, 1.0, 1.0, 1.0, np.inf, 1.0])
    scale = np.array([2.0, 0.0, 1.0, -1.0, 5.0, 8.0, 16.0])  # a zero or negative scale is undefined too
    w = limit_window(q, scale)
    assert list(w.defined) == [2, 4, 6]
    assert (list(w.late), list(w.reference), list(w.end_half)) == ([4, 6], [4], [6])
    none = limit_window([np.nan, 1.0], [1.0, 0.0])
    assert all(len(ix) == 0 for ix in (none.defined, none.late, none.reference, none.end_half))
    one = limit_window([np.nan, 1.0], [1.0, 3.0])
    assert (list(one.defined), list(one.late), list(one.reference), list(one.end_half)) == ([1], [1], [1], [])


def test_decay_exponent_fits_the_points_strictly_above_the_floor():
    scale = np.array([1.0, 10.0, 100.0, 1000.0])
    q = np.array([1.0, 1e-2, 1e-4, 1e-9])
    assert decay_exponent(q, scale, floor=1e-9) == pytest.approx(2.0)  # the point at the floor is left out
    assert decay_exponent(q[:3], scale[:3], floor=1e-9) == pytest.approx(2.0)  # three points are enough
    assert decay_exponent(q[:2], scale[:2], floor=1e-9) is None
    # scales below 1 count; a zero scale is undefined and skipped
    small = np.array([0.0, 0.01, 0.1, 0.5])
    assert decay_exponent(np.array([5.0, 1e4, 1e2, 4.0]), small, floor=0.0) == pytest.approx(2.0)
    assert decay_exponent(np.array([1.0, 2.0, 3.0]), np.ones(3), floor=0.0) is None  # no spread in scale
