"""The generic limit judge (core.verdicts.judge_limit) on synthetic series with known answers."""

import numpy as np

from core.verdicts import Status, judge_limit

SCALE = np.geomspace(1.0, 1e3, 40)
KW = dict(threshold=1e-3, floor=1e-18, what="gap")


def test_a_gap_decaying_at_its_rate_holds():
    assert judge_limit(SCALE**-2.0, SCALE, p=2, **KW).status == Status.HOLDS


def test_a_constant_gap_is_violated():
    assert judge_limit(np.full_like(SCALE, 0.02), SCALE, p=2, **KW).status == Status.VIOLATED


def test_a_gap_decaying_too_slowly_is_violated():
    # q ∝ scale^-0.5 decreases, but its rate constant q·scale² grows ~30x over the late window.
    assert judge_limit(0.5 * SCALE**-0.5, SCALE, p=2, **KW).status == Status.VIOLATED


def test_a_short_run_is_inconclusive():
    short = SCALE[:8]  # the scale grows ~2.7x in all: too short for a late window
    assert judge_limit(short**-2.0, short, p=2, **KW).status == Status.INCONCLUSIVE


def test_a_decaying_gap_above_the_threshold_is_inconclusive():
    assert judge_limit(10 * SCALE**-0.1, SCALE, p=0.1, **KW).status == Status.INCONCLUSIVE


def test_a_rise_below_the_threshold_is_inconclusive_only_when_asked():
    rising = 1e-4 * (1 + 0.5 * np.log(SCALE) / np.log(SCALE[-1]))  # 1e-4 -> 1.5e-4, below 1e-3
    assert judge_limit(rising, SCALE, p=0, **KW).status == Status.VIOLATED
    assert judge_limit(rising, SCALE, p=0, rise_below_threshold_violates=False, **KW).status == Status.INCONCLUSIVE
    above = 100 * rising  # 1e-2 -> 1.5e-2: above the threshold, so a rise is evidence either way
    assert judge_limit(above, SCALE, p=0, rise_below_threshold_violates=False, **KW).status == Status.VIOLATED
