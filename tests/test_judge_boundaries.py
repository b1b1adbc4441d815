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
    Status,
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
