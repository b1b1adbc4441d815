"""What the claims of Ji & Telgarsky share: sources, thresholds, floors and the judging helpers.

Sources. The ICLR submission numbers the gradient-flow theorem Theorem 1 and the rank/
alignment bounds Lemma 2 (claims.md); the camera-ready (arXiv 1810.02032) numbers its
assumptions 1.1, 1.2, 2.7, 3.5 and places the gradient-flow results in §2. The camera-ready
numbers of the theorem and lemma were not verified for this project and are not guessed.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from aligncheck.claims import registry
from aligncheck.claims.check import RunRecord
from aligncheck.claims.verdicts import LimitJudgement, LimitSeries, Status, Verdict

PAPER = registry.register_paper(
    "ji_telgarsky_2019", "Ji & Telgarsky, ICLR 2019 (arXiv 1810.02032)",
    "Gradient descent aligns the layers of deep linear networks",
).key
claim = functools.partial(registry.claim, paper=PAPER)

GF_THEOREM = "submission Theorem 1; camera-ready §2, gradient-flow theorem (slide 'Risk convergence')"
GF_LEMMA2 = "submission Lemma 2; camera-ready §2 (number not verified)"
DERIVED = "derived for this project (claims.md), from the update rule"
GF_MAXMARGIN = "submission Theorem 2; camera-ready §2, max-margin theorem (slide 'Convergence to the maximum margin solution')"
CONJECTURE = "beyond the paper's hypotheses (claims.md): a conjecture, not a theorem"
DATA_LEMMA = "data lemma behind submission Theorem 2 (claims.md; number not verified)"
MM_NEEDS = ("separable", "exp|logistic", "A1.2", "A2.7", "generic")

# Thresholds for limit claims: a gap below these at the end of a run that also shows the
# expected trend and rate counts as evidence that the limit holds. They are reachable within
# the float64 range by every depth 1..6 (gaps decay like ‖W‖^-2 and runs reach ‖W_k‖_F ≈ 30-100).
GAP_THRESHOLD = 1e-3
RISK_THRESHOLD = 1e-100  # the integrator's default target; every GF run is pushed below it
NORM_THRESHOLD = 20.0  # min_k ‖W_k‖_F at the end

# Gradient descent with the paper's step (A3.5) gets much less far: norms grow like log t (depth 1)
# or slower, and the step shrinks like R_t^{−(2L−2)}. Measured on 50,000-step runs, depth 2,
# init scale 0.1, logistic loss, γ = 0.3: R ≈ 5e-3, min_k ‖W_k‖_F ≈ 4 (40x its start), rank and
# alignment gaps 4e-5 to 3e-4, 1 − |<v_1, ū>| 1e-4 to 2e-3, the relative margin gap 0.02 to 0.05.
# So GD is judged against its own, looser end points (the same trend-and-rate logic):
GD_GAP_THRESHOLD = 1e-2  # rank, alignment and max-margin gaps: 1 − cos θ ≈ θ²/2, so θ ≲ 0.14 rad
# The margin gap is first order in the direction error θ where the gaps above are second order:
# the same θ gives its square root.
GD_MARGIN_THRESHOLD = 1e-1
GD_RISK_FRACTION = 0.1  # n·R ≤ ℓ(0)/10: every point's loss is below ℓ(0)/10, so every margin is > 0
GD_NORM_GROWTH = 10.0  # min_k ‖W_k‖_F at the end ≥ 10 × max_k ‖W_k(0)‖_F (an order of magnitude)



def is_gd(run: RunRecord) -> bool:
    return run.trajectory.method == "gd"


def gap_threshold(run: RunRecord) -> float:
    return GD_GAP_THRESHOLD if is_gd(run) else GAP_THRESHOLD


def margin_threshold(run: RunRecord) -> float:
    return GD_MARGIN_THRESHOLD if is_gd(run) else GAP_THRESHOLD


def limit_series(run: RunRecord, q: np.ndarray, scale: np.ndarray, p: float, *, threshold: float, floor: float, what: str,
                 scale_name: str, **kw) -> LimitSeries:
    """The series a limit claim judges on this run: q (n_ckpt,) against ``scale`` (n_ckpt,) with the
    claim's rate p (LimitSeries.judge applies judge_limit). Gradient flow: in the layer scale.
    GD: in the step count (scale = step + 1) with p = 0 (trend only): GD's norms grow like log t or
    slower, so its late phase never spans the x4 scale growth a rate test needs (GD runs are judged
    on their late phase only, gd_late_phase); and a gap that rose but stayed below the threshold
    is a transient as far as a feasible run can tell (inconclusive, see judge_limit)."""
    times = run.metrics.times
    if is_gd(run):  # trend only: a rise above the threshold is evidence either way
        kw.pop("violation_growth", None)
        return LimitSeries(what, q, times + 1.0, times, 0.0, threshold, floor, "step + 1", trend_only=True, **kw)
    return LimitSeries(what, q, scale, times, p, threshold, floor, scale_name, **kw)


def judge_series(run: RunRecord, series: LimitSeries) -> LimitJudgement:
    """``series.judge()``; for GD without a decay exponent (in the step count it measures nothing of the path)."""
    jd = series.judge()
    return dataclasses.replace(jd, exponent=None, end_exponent=None) if is_gd(run) else jd


# Floors: values at or below these are arithmetic noise and are treated as 0 by the judges.
# Gaps formed from singular values/vectors: the integrator's relative error rtol in θ
# perturbs them quadratically, to ~rtol² = 1e-18 at the default rtol 1e-9.
GAP_FLOOR = 1e-18
# The product gap contains 1 − ‖w‖/∏‖W_k‖_F, a difference of two computed norms: ~10 eps.
PROD_GAP_FLOOR = 1e-14



def from_limit(cid: str, jd, threshold: float, series: LimitSeries | None = None) -> Verdict:
    """The verdict of a limit judgement ``jd``, with its measured exponent and, where one was
    measured, the exponent ``series`` expected (LimitSeries.expected_exponent)."""
    expected = series.expected_exponent if series is not None and jd.exponent is not None else None
    return Verdict(cid, jd.status, jd.value, threshold, jd.reason, exponent=jd.exponent, expected_exponent=expected)


def worst_of_layers(verdicts: list[Verdict], cid: str, threshold: float) -> Verdict:
    """Combine per-layer verdicts: any violated wins, then inconclusive, else holds; value = worst."""
    order = [Status.VIOLATED, Status.INCONCLUSIVE, Status.HOLDS]
    for st in order:
        hits = [v for v in verdicts if v.status == st]
        if hits:
            vals = [v.value for v in verdicts if v.value is not None and math.isfinite(v.value)]
            shown = max(hits, key=lambda v: v.value if v.value is not None and math.isfinite(v.value) else -math.inf)
            return Verdict(cid, st, max(vals) if vals else None, threshold, shown.reason, exponent=shown.exponent,
                           expected_exponent=shown.expected_exponent)
    return Verdict(cid, Status.NOT_APPLICABLE, None, threshold, "no layers to judge")


def vector_layers(run: RunRecord) -> list[int]:
    """0-based k of the layers with a dimension of 1 (W_L always: d_L = 1): rank one by construction."""
    return [k for k, W in enumerate(run.trajectory.checkpoints[0].layers) if min(np.shape(W)) == 1]


def width_one_pairs(run: RunRecord) -> list[int]:
    """0-based k of the adjacent pairs (W_k, W_{k+1}) whose shared dimension d_k is 1: u_k and
    v_{k+1} are then ±1 in R^1, aligned by construction."""
    layers = run.trajectory.checkpoints[0].layers
    return [k for k in range(len(layers) - 1) if np.shape(layers[k])[0] == 1]


def by_construction(cid: str, threshold: float | None, what: str) -> Verdict:
    return Verdict(cid, Status.NOT_APPLICABLE, None, threshold, f"true by construction: {what}")


# A run is evidence for an exact invariant or a finite-time bound only if it moved: the checks
# tolerate errors of ~100·rtol relative to ‖W‖² (1e-7 at the default rtol), and an integrator that
# broke an invariant would show an error of the order of the distance moved. A run that moved
# less than MIN_MOVE relative to its size, or kept fewer than MIN_CHECKPOINTS states (e.g. one that
# stopped at t ≈ 4e-8 "approaching a critical point"), shows nothing either way.
MIN_MOVE = 1e-3
MIN_CHECKPOINTS = 4


def not_moved(run: RunRecord) -> str | None:
    """Why the run is no evidence for an exact or finite-time claim, or None if it moved."""
    cps = run.trajectory.checkpoints
    if len(cps) < MIN_CHECKPOINTS:
        return f"the run did not move: {len(cps)} checkpoint(s) ({run.trajectory.stop_reason})"
    a = np.concatenate([np.asarray(W, dtype=float).ravel() for W in cps[0].layers])
    b = np.concatenate([np.asarray(W, dtype=float).ravel() for W in cps[-1].layers])
    size = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    moved = float(np.linalg.norm(b - a)) / size if size > 0 else 0.0
    if moved < MIN_MOVE:
        return f"the run did not move: the layers changed by {moved:.2g} of their size ({run.trajectory.stop_reason})"
    return None


def mean_layer_norm(run: RunRecord) -> np.ndarray:
    """Geometric mean of the layer norms, (∏_k ‖W_k‖_F)^{1/L}, per checkpoint (nan if a layer is 0)."""
    F = run.metrics.stack("frob")
    return np.exp(np.log(np.where(F > 0, F, np.nan)).mean(axis=1))



# ---------------------------------------------------------------- limit claims: the gf predicates, renamed


def gd_progress(run) -> str:
    tm = run.metrics
    lr = float(tm.snaps[-1].log_risk)
    F = float(np.min(tm.snaps[-1].frob))
    log = run.trajectory.gd
    extra = ""
    if log is not None and len(log.eta):
        extra = f", final η = {log.eta[-1]:.3g}, R_t = {log.radius[-1]:g}"
    return f"GD run reached step {int(tm.times[-1])} ({run.trajectory.stop_reason}): log R = {lr:.4g}, min_k ‖W_k‖_F = {F:.4g}{extra}"


# A limit claim is judged on the late phase only: from the first checkpoint with n·R(W(t)) < ℓ(0),
# where every margin is positive (the paper's late phase), to the end (so a run that falls back
# out of it is still seen). Before it, a GD run can sit near the saddle at 0 for thousands of
# steps (W_1 = 0 starts, depth 3), where gaps and norms mean nothing yet.
MIN_LATE_CHECKPOINTS = 8


def gd_late_phase(run):
    """The run record from its first late-phase checkpoint on, or None if fewer than
    MIN_LATE_CHECKPOINTS checkpoints remain."""
    tm = run.metrics
    n = run.setup.Z.shape[0]
    inside = np.nonzero(tm.stack("log_risk") + math.log(n) < math.log(run.setup.loss.ell_at_zero))[0]
    if len(inside) == 0 or len(tm.times) - inside[0] < MIN_LATE_CHECKPOINTS:
        return None
    i = int(inside[0])
    sub = dataclasses.replace(tm, times=tm.times[i:], snaps=tm.snaps[i:], drift=tm.drift[i:])
    return dataclasses.replace(run, metrics=sub)
