"""Gradient flow, Theorem 2 (submission) and its corollary: for the exp and logistic losses under
A1.2 and A2.7 ('almost all data'), v_1 turns to ±ū, the normalised product to +ū and the
normalised margin to γ. Judged only once the support vectors carry the gradient."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky.common import (
    GAP_FLOOR, GF_MAXMARGIN, MM_NEEDS, PROD_GAP_FLOOR, from_limit, gap_threshold, judge_series, limit_series, margin_threshold,
    mean_layer_norm, claim,
)
from aligncheck.claims.verdicts import MIN_LATE_GROWTH, LimitSeries, Status, Verdict


# The max-margin claims are judged from the point where the support vectors carry the gradient:
# the non-support points' share of the softmax weights, about n·exp(−Δ·‖w_prod‖) (Δ: the smallest
# non-support margin ⟨ū, z_j⟩ minus γ), is below e^−SUPPORT_PHASE_LOG_SHARE ≈ 1e-3 once
# ‖w_prod‖ ≥ (ln n + 7)/Δ. Before that the direction can move away from ū (measured at n = 10^4,
# depth 1: the gap and its rate constant rise until the share is ~1e-3, then decay like ‖w‖^-2).
SUPPORT_PHASE_LOG_SHARE = 7.0
# How far past that point a run goes (in the mean layer norm), so that the judged part spans the
# x16 growth judge_limit needs (MIN_LATE_GROWTH² = 16, with 25% to spare).
SUPPORT_PHASE_GROWTH = 1.25 * MIN_LATE_GROWTH**2


def support_phase_norm(Z: np.ndarray, max_margin) -> float:
    """‖w_prod‖ from which the support vectors carry the gradient, (ln n + 7)/Δ; 0 when every point
    is a support vector (or there is no max margin)."""
    if max_margin is None:
        return 0.0
    others = np.setdiff1d(np.arange(Z.shape[0]), max_margin.support)
    if len(others) == 0:
        return 0.0
    delta = float(np.min(Z[others] @ max_margin.u_bar)) - float(max_margin.gamma)
    if delta <= 0:  # within the support-vector tolerance: no separation to wait for
        return 0.0
    return (math.log(Z.shape[0]) + SUPPORT_PHASE_LOG_SHARE) / delta


def _support_phase(run: RunRecord) -> RunRecord | None:
    """The run from its first checkpoint with ‖w_prod‖ ≥ support_phase_norm on, or None if fewer
    than 4 checkpoints remain (the judge needs 4)."""
    start = support_phase_norm(run.setup.Z, run.setup.max_margin)
    tm = run.metrics
    inside = np.nonzero(tm.stack("w_norm") >= start)[0]
    if len(inside) == 0 or len(tm.times) - inside[0] < 4:
        return None
    i = int(inside[0])
    if i == 0:
        return run
    return dataclasses.replace(run, metrics=dataclasses.replace(tm, times=tm.times[i:], snaps=tm.snaps[i:], drift=tm.drift[i:]))


def _in_support_phase(predicate):
    """Judge a max-margin predicate on the support phase of the run only (inconclusive before it)."""

    def judged(run: RunRecord) -> Verdict:
        late = _support_phase(run)
        if late is None:
            cid = predicate.__name__
            start = support_phase_norm(run.setup.Z, run.setup.max_margin)
            return Verdict(f"gf.{cid}", Status.INCONCLUSIVE, None, None, f"the run did not get far enough past ‖w_prod‖ = {start:.4g}, where the support vectors start to carry the gradient (non-support share < 1e-3)")
        return predicate(late)

    judged.__name__ = predicate.__name__
    return judged


def _support_phase_series(series):
    """``series`` (a claim's series function) read on the support phase of the run only, as the
    predicate is ([] before it)."""

    def in_phase(run: RunRecord) -> list[LimitSeries]:
        late = _support_phase(run)
        return [] if late is None else series(late)

    return in_phase


# A max-margin gap can stay flat while ‖w_prod‖ grows x7 before it decays (aligncheck.claims.verdicts, the
# judge's comment block): a flat or rising gap is a violation only over a late window in which
# ‖w_prod‖ ≈ F̄^L grew at least MM_VIOLATION_GROWTH-fold (14x the longest such stretch measured),
# i.e. F̄ by MM_VIOLATION_GROWTH^(1/L).
MM_VIOLATION_GROWTH = 100.0


def _mm_violation_growth(run: RunRecord) -> float:
    return MM_VIOLATION_GROWTH ** (1.0 / len(run.trajectory.final))


# Max-margin limits are judged with rate p = 2 in the mean layer norm F̄: every gap below
# contains the layers' distance from rank one and alignment, ≤ O(D/F̄²) by Lemma 2, while the
# direction error of w_prod itself falls faster, like 1/(min margin) ∝ F̄^{-L} (numerics.md).
MM_RATE = 2.0
MM_RATE_SOURCE = ("2 in (∏‖W_k‖_F)^(1/L), the rate the judge tests: the gap contains the layers' distance from rank one and "
                  "alignment, ≤ O(D/F̄²) by Lemma 2, while the angle of w_prod to ū falls like ρ^-L (numerics notes; the claim's comment)")


MEAN_NORM = "(∏‖W_k‖_F)^(1/L)"


def _v1_series(run: RunRecord) -> list[LimitSeries]:
    return [limit_series(run, run.metrics.stack("v1_gap_ubar"), mean_layer_norm(run), MM_RATE, threshold=gap_threshold(run), floor=GAP_FLOOR,
                         what="1 - |<v_1, ū>|", scale_name=MEAN_NORM, violation_growth=_mm_violation_growth(run))]


@claim("gf.max_margin_v1", statement='|<v_1, ū>| → 1', source=GF_MAXMARGIN, kind="limit", needs=MM_NEEDS, methods=("gf",), group="theorem2",
       series=_support_phase_series(_v1_series), rate=MM_RATE_SOURCE)
@_in_support_phase
def max_margin_v1(run: RunRecord) -> Verdict:
    [series] = _v1_series(run)
    return from_limit("gf.max_margin_v1", judge_series(run, series), series.threshold, series)


def _product_series(run: RunRecord) -> list[LimitSeries]:
    tm = run.metrics
    # 1 − ⟨w/ρ, ū⟩ (signed) = (1 − r) + r·2 sin²(θ/2), r = ‖w‖/ρ, θ = angle(w, +ū): no cancellation
    # in the angle part; the 1 − r part is a difference of two computed norms (PROD_GAP_FLOOR).
    scale = mean_layer_norm(run)
    r = tm.stack("w_norm") / scale ** len(run.trajectory.final)
    theta = tm.stack("angle_ubar")
    gap = (1 - r) + r * 2 * np.sin(theta / 2) ** 2
    return [limit_series(run, gap, scale, MM_RATE, threshold=gap_threshold(run), floor=PROD_GAP_FLOOR, what="1 - <w_prod/∏‖W_k‖_F, +ū>",
                         scale_name=MEAN_NORM, violation_growth=_mm_violation_growth(run))]


product_series = _support_phase_series(_product_series)  # also the series of the conjectures built on the claim


@claim("gf.max_margin_product", statement='w_prod/∏‖W_k‖_F → +ū (signed)', source=GF_MAXMARGIN, kind="limit", needs=MM_NEEDS, methods=("gf",), group="theorem2",
       series=product_series, rate=MM_RATE_SOURCE)
@_in_support_phase
def max_margin_product(run: RunRecord) -> Verdict:
    [series] = _product_series(run)
    return from_limit("gf.max_margin_product", judge_series(run, series), series.threshold, series)


def _margin_series(run: RunRecord) -> list[LimitSeries]:
    gamma = float(run.setup.max_margin.gamma)
    # (γ − min_i ⟨w, z_i⟩/ρ)/γ ≥ 0, since ‖w‖ ≤ ρ; relative to γ so the threshold means the same
    # for every data set. The subtraction loses ~eps·max|m|/(ργ) ≲ 1e-14 (PROD_GAP_FLOOR).
    gap = (gamma - run.metrics.stack("min_margin")) / gamma
    # The margin is first order in the direction error θ ∝ 1/ρ = F̄^{-L} (1 − cos is second
    # order), so for L = 1 the rate in F̄ is 1, not 2.
    return [limit_series(run, gap, mean_layer_norm(run), min(MM_RATE, len(run.trajectory.final)), threshold=margin_threshold(run), floor=PROD_GAP_FLOOR,
                         what="(γ - min_i <w_prod, z_i>/∏‖W_k‖_F)/γ", scale_name=MEAN_NORM, violation_growth=_mm_violation_growth(run))]


@claim("gf.margin_corollary", statement='min_i <w_prod, z_i>/∏‖W_k‖_F → γ', source=GF_MAXMARGIN.replace("Theorem 2", "Corollary of Theorem 2"), kind="limit", needs=MM_NEEDS, methods=("gf",), group="theorem2",
       series=_support_phase_series(_margin_series),
       rate="min(2, L) in (∏‖W_k‖_F)^(1/L), per run: the margin gap is first order in the angle of w_prod to ū, ∝ ρ^-L "
       "(numerics notes), plus 1 − ‖w_prod‖/∏‖W_k‖_F, ≤ O(D/F̄²) (Lemma 2): the slower of the two (the claim's comment)")
@_in_support_phase
def margin_corollary(run: RunRecord) -> Verdict:
    [series] = _margin_series(run)
    return from_limit("gf.margin_corollary", judge_series(run, series), series.threshold, series)

