"""The generic limit judge (aligncheck.claims.verdicts.judge_limit) on synthetic series with known answers."""

import dataclasses

import numpy as np
import pytest
from aligncheck.claims.verdicts import (
    END_POINTS,
    MIN_LATE_GROWTH,
    RATE_SLACK,
    STALL_EXPONENT,
    Status,
    decay_exponent,
    judge_limit,
)

SCALE = np.geomspace(1.0, 1e3, 40)
FLOOR = 1e-18
KW = {"threshold": 1e-3, "floor": FLOOR, "what": "gap"}


def test_a_gap_decaying_at_its_rate_holds():
    jd = judge_limit(SCALE**-2.0, SCALE, p=2, **KW)
    assert jd.status == Status.HOLDS
    assert jd.exponent == pytest.approx(2.0)


def test_a_constant_gap_is_violated():
    assert judge_limit(np.full_like(SCALE, 0.02), SCALE, p=2, **KW).status == Status.VIOLATED


def test_a_gap_settling_at_a_positive_limit_is_violated():
    # 2e-4 + 1e-2·scale^-2 decreases at every step, yet settles at 2e-4: over the late window
    # (scale 32 -> 1000) it falls by 5%, a stall.
    q = 2e-4 + 1e-2 * SCALE**-2.0
    jd = judge_limit(q, SCALE, p=2, **KW)
    assert np.all(np.diff(q) < 0)
    assert jd.status == Status.VIOLATED and "stalled" in jd.reason


def test_a_plateau_reached_late_in_the_window_is_not_yet_evidence():
    # 2e-4 + scale^-2 reaches its plateau only within the late window (from 1.2e-3 at scale 32 to
    # 2e-4): a gap settling above 0, or one still on its way down; a longer run decides.
    jd = judge_limit(2e-4 + SCALE**-2.0, SCALE, p=2, **KW)
    assert jd.status == Status.INCONCLUSIVE
    s = np.geomspace(1.0, 1e6, 80)  # the same gap, run long enough to see the plateau
    assert judge_limit(2e-4 + s**-2.0, s, p=2, **KW).status == Status.VIOLATED


def test_a_direction_that_turns_away_before_it_settles_is_never_violated():
    # The shape measured on a depth-1 run (n = d = 3, every point a support vector): the offset
    # ρ(F) = w_prod − (its component along ū) moves to its limit w̃ (‖w̃‖² / 2 = 8.7) past 0, so
    # the gap ‖ρ‖²/(2F²) dips (here to ~1e-8 at F ≈ 100), rises by ~100x, then decays like F^-2.
    F = np.geomspace(0.5, 1e6, 500)
    w = np.array([4.17, 0.0])
    rho = w[None, :] * (1 - 1.4 * np.exp(-F / 300))[:, None] + np.array([0.0, 0.01])
    q = 0.5 * np.sum(rho * rho, axis=1) / F**2
    for stop in np.geomspace(50, 1e6, 60):
        keep = F <= stop
        jd = judge_limit(q[keep], F[keep], p=2, **KW)
        assert jd.status != Status.VIOLATED, (stop, jd)
    assert judge_limit(q, F, p=2, **KW).status == Status.HOLDS


def test_the_stall_exponent_is_the_boundary():
    # q ∝ scale^-a over the whole run: a stall exactly when a < STALL_EXPONENT (the rate test
    # then says inconclusive, never violated).
    below = judge_limit(0.5 * SCALE ** -(0.8 * STALL_EXPONENT), SCALE, p=2, **KW)
    above = judge_limit(0.5 * SCALE ** -(1.25 * STALL_EXPONENT), SCALE, p=2, **KW)
    assert below.status == Status.VIOLATED and "stalled" in below.reason
    assert above.status == Status.INCONCLUSIVE


def test_a_gap_decaying_slower_than_its_rate_is_inconclusive_not_violated():
    # q ∝ scale^-0.5 decreases, but its rate constant q·scale² grows ~30x over the late window: a
    # rate is not part of a limit claim, so this is no evidence against q → 0.
    jd = judge_limit(1e-4 * SCALE**-0.5, SCALE, p=2, **KW)
    assert jd.status == Status.INCONCLUSIVE
    assert "slower than the expected scale^-2" in jd.reason


def test_a_rate_constant_still_settling_is_inconclusive_then_holds_once_settled():
    # The shape measured on the issue-8 false alarm (n = d = 6, depth 1, exp loss): c = q·s²
    # rises ~1e4-fold while s grows ~1e4-fold, then settles at a plateau (here c = 21 for s ≫ 2000)
    # and q decays exactly like s^-2 from there.
    s = np.geomspace(0.05, 1e7, 400)
    c = 21.0 / (1.0 + (2000.0 / s) ** 1.3)
    q = c / s**2
    stopped_early = s <= 460  # where the run of the issue stopped
    early = judge_limit(q[stopped_early], s[stopped_early], p=2, **KW)
    assert early.status == Status.INCONCLUSIVE and "still settling" in early.reason
    late = judge_limit(q, s, p=2, **KW)
    assert late.status == Status.HOLDS


def test_a_short_run_is_inconclusive():
    short = SCALE[:8]  # the scale grows ~2.7x in all: too short for a late window
    assert judge_limit(short**-2.0, short, p=2, **KW).status == Status.INCONCLUSIVE


def test_min_late_growth_is_required():
    # Late window growth just below / above MIN_LATE_GROWTH (the run's growth is its square).
    for factor, status in ((0.9, Status.INCONCLUSIVE), (1.1, Status.HOLDS)):
        s = np.geomspace(1.0, (factor * MIN_LATE_GROWTH) ** 2, 60)
        assert judge_limit(1e-4 * s**-2.0, s, p=2, **KW).status == status, factor


def test_a_decaying_gap_above_the_threshold_is_inconclusive():
    assert judge_limit(10 * SCALE**-0.5, SCALE, p=0.5, **KW).status == Status.INCONCLUSIVE


def test_a_gap_just_below_and_above_the_threshold():
    for factor, status in ((0.3, Status.HOLDS), (3.0, Status.INCONCLUSIVE)):
        q = KW["threshold"] * factor * (SCALE / SCALE[-1]) ** -2.0
        assert judge_limit(q, SCALE, p=2, **KW).status == status, factor


def test_the_rate_slack_is_the_boundary_for_holds():
    # The constant q·s² is flat over A and rises by a factor g over B (up to the last END_POINTS
    # values, from which the end is read): holds for g below RATE_SLACK, inconclusive above.
    s = np.geomspace(1.0, 1e6, 80)
    ls = np.log(s)
    ramp = np.clip((ls - 0.75 * ls[-1]) / (ls[-END_POINTS] - 0.75 * ls[-1]), 0.0, 1.0)
    for g, status in ((0.5 * RATE_SLACK, Status.HOLDS), (2.0 * RATE_SLACK, Status.INCONCLUSIVE)):
        q = 1e-6 * g**ramp * s**-2.0
        assert judge_limit(q, s, p=2, **KW).status == status, g


def test_a_rise_below_the_threshold_is_inconclusive_only_for_trend_only_judging():
    rising = 1e-4 * (1 + 0.5 * np.log(SCALE) / np.log(SCALE[-1]))  # 1e-4 -> 1.5e-4, below 1e-3
    assert judge_limit(rising, SCALE, p=0, **KW).status == Status.VIOLATED
    assert judge_limit(rising, SCALE, p=0, trend_only=True, **KW).status == Status.INCONCLUSIVE
    above = 100 * rising  # 1e-2 -> 1.5e-2: above the threshold, so a rise is evidence either way
    assert judge_limit(above, SCALE, p=0, trend_only=True, **KW).status == Status.VIOLATED


def test_trend_only_judging_has_no_stall_test():
    # GD's gaps decay like 1/log t in the step count: a stall there is what convergence looks like.
    q = 1e-3 / np.log(np.e * SCALE)
    assert judge_limit(q, SCALE, p=0, trend_only=True, **KW).status == Status.HOLDS
    assert judge_limit(q, SCALE, p=2, **KW).status == Status.VIOLATED


LONG = np.geomspace(1.0, 1e5, 100)


@pytest.mark.parametrize("noise", [1e-17, 1e-16, 1e-14])
def test_no_verdict_hangs_on_the_sign_of_a_rounding_error(noise):
    # The tail of a gap formed by cancellation: quantised rounding noise (multiples of `noise`)
    # once the true gap, ∝ scale^-4, has fallen below it. The last values rounding to ± one or two
    # quanta give the same verdict (a negative value counts by its magnitude).
    rng = np.random.default_rng(0)
    q = np.where(LONG**-4.0 < 10 * noise, noise * rng.integers(0, 4, size=LONG.size), LONG**-4.0)
    for last in (noise, 2 * noise):
        for k in range(1, END_POINTS + 1):
            plus, minus = q.copy(), q.copy()
            plus[-k], minus[-k] = last, -last
            assert judge_limit(plus, LONG, p=2, **KW).status == judge_limit(minus, LONG, p=2, **KW).status


def test_a_noise_plateau_well_above_the_floor_is_violated():
    # Rounding noise of ~1e-14 (e.g. cancellation in a larger sum) while the true gap decays far
    # below it: a stall, which aligncheck.harness.confirm then replays at high precision.
    rng = np.random.default_rng(1)
    true = 1e-6 * LONG**-4.0  # below the noise over the whole late window (scale 316 -> 1e5)
    q = np.where(true < 1e-13, 1e-14 * rng.integers(1, 4, size=LONG.size), true)
    assert judge_limit(q, LONG, p=2, **KW).status == Status.VIOLATED


def test_a_negative_value_is_never_read_as_zero():
    q = SCALE**-2.0
    q[-END_POINTS:] = -1e-9  # impossible for a gap: an arithmetic error of at least 1e-9
    jd = judge_limit(q, SCALE, p=2, **KW)
    assert jd.status != Status.HOLDS or "floor" not in jd.reason
    assert jd.value == -1e-9 and "negative" in jd.reason


def test_values_at_the_floor_hold_and_within_it_either_sign():
    q = SCALE**-2.0
    q[-END_POINTS:] = [FLOOR / 2, -FLOOR / 2, 0.0]
    jd = judge_limit(q, SCALE, p=2, **KW)
    assert jd.status == Status.HOLDS and "floor" in jd.reason
    q[-2] = 10 * FLOOR  # one of the last END_POINTS values above the floor: not at the floor
    assert "floor" not in judge_limit(q, SCALE, p=2, **KW).reason


def test_nan_values_are_skipped_and_too_few_are_inconclusive():
    q = SCALE**-2.0
    q[::2] = np.nan
    assert judge_limit(q, SCALE, p=2, **KW).status == Status.HOLDS
    assert judge_limit(q[:6], SCALE[:6], p=2, **KW).status == Status.INCONCLUSIVE


def test_decay_exponent():
    assert decay_exponent(3 * SCALE**-1.5, SCALE, FLOOR) == pytest.approx(1.5)
    assert decay_exponent(np.full(2, 1.0), SCALE[:2], FLOOR) is None
    assert decay_exponent(np.zeros_like(SCALE), SCALE, FLOOR) is None


def test_a_verdict_as_a_document():
    from aligncheck.claims.verdicts import Verdict

    plain = Verdict("gf.rank_one", Status.HOLDS, 1e-5, 1e-3, "fine")
    assert plain.as_dict() == {"id": "gf.rank_one", "status": "holds", "value": 1e-5, "threshold": 1e-3, "reason": "fine", "backend": "float64"}
    full = Verdict("gf.rank_one", Status.HOLDS, 2e-5, None, "artefact", backend="mpmath-50", confirmation="float64 artefact",
                   float64_value=3e-2, certificate="certified", judged_from=0.5, exponent=1.9, expected_exponent=2.0)
    assert full.as_dict() == {"id": "gf.rank_one", "status": "holds", "value": 2e-5, "threshold": None, "reason": "artefact",
                              "backend": "mpmath-50", "confirmation": "float64 artefact", "float64_value": 3e-2,
                              "certificate": "certified", "judged_from": 0.5, "exponent": 1.9, "expected_exponent": 2.0}
    # non-finite numbers travel as strings (JSON has none), finite ones as floats
    odd = Verdict("gf.risk_monotone", Status.VIOLATED, float("inf"), float("nan"), "up", confirmation="float64 artefact",
                  float64_value=-np.inf).as_dict()
    assert (odd["value"], odd["threshold"], odd["float64_value"]) == ("inf", "nan", "-inf")
    assert type(Verdict("x", Status.HOLDS, np.float64(0.5), 1, "").as_dict()["threshold"]) is float


def test_a_limit_series_judges_and_windows_with_its_own_settings():
    from aligncheck.claims.verdicts import LimitSeries, limit_window

    rising = 1e-4 * (1 + 0.5 * np.log(SCALE) / np.log(SCALE[-1]))  # below the threshold, not decreasing
    base = LimitSeries("gap", rising, SCALE, np.arange(SCALE.size, dtype=float), p=0.0, threshold=1e-3, floor=FLOOR)
    variants = {
        "default": base,
        "trend_only": dataclasses.replace(base, trend_only=True),  # inconclusive instead of violated
        "violation_growth": dataclasses.replace(base, violation_growth=1e3),  # too short a window to call it
        "stall_exponent": dataclasses.replace(base, q=0.5 * SCALE**-0.2, p=2.0, stall_exponent=0.1),  # no longer a stall
        "what": dataclasses.replace(base, what="1 − σ_1/‖W_1‖_F"),
    }
    judged = {k: s.judge() for k, s in variants.items()}
    for s, jd in zip(variants.values(), judged.values()):
        assert jd == judge_limit(s.q, s.scale, p=s.p, threshold=s.threshold, floor=s.floor, what=s.what, trend_only=s.trend_only,
                                 violation_growth=s.violation_growth, stall_exponent=s.stall_exponent)
        assert all(map(np.array_equal, dataclasses.astuple(s.window()), dataclasses.astuple(limit_window(s.q, s.scale))))
    assert judged["default"].status == Status.VIOLATED
    assert judged["trend_only"].status == Status.INCONCLUSIVE and judged["violation_growth"].status == Status.INCONCLUSIVE
    assert judged["stall_exponent"].status != Status.VIOLATED
    assert judged["what"].reason.startswith("1 − σ_1/‖W_1‖_F did not decrease")
    assert list(base.window().late) == list(limit_window(rising, SCALE).late) and len(base.window().late) > 0


def test_the_expected_exponent_of_a_series():
    from aligncheck.claims.verdicts import LimitSeries

    s = LimitSeries("gap", SCALE**-2.0, SCALE, SCALE, p=2.0, threshold=1e-3, floor=FLOOR)
    assert s.expected_exponent == 2.0  # the tested rate
    assert dataclasses.replace(s, expected=4.0).expected_exponent == 4.0  # a faster measured decay
    assert dataclasses.replace(s, expected=4.0, trend_only=True).expected_exponent is None  # GD's step count
