"""Conjectures beyond the paper's hypotheses (claims.md): reported as evidence, never as theorems."""

from __future__ import annotations

import math

import numpy as np

from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky.common import CONJECTURE, GAP_THRESHOLD, GD_GAP_THRESHOLD, MIN_LATE_CHECKPOINTS, claim, gd_late_phase
from aligncheck.claims.ji_telgarsky.theorem2 import max_margin_product, product_series
from aligncheck.claims.verdicts import LimitSeries, Status, Verdict


def _degenerate_sv_series(run: RunRecord) -> list[LimitSeries]:
    ok = run.setup.check()
    return [] if ok["A2.7"][0] and ok["generic"][0] else product_series(run)


def _gd_exp_series(run: RunRecord) -> list[LimitSeries]:
    late = gd_late_phase(run) if run.setup.loss.name == "exp" else None
    return [] if late is None else product_series(late)


@claim("conj.max_margin_degenerate_sv", statement='w_prod/∏‖W_k‖_F → +ū also when the support vectors do not span R^d (or are not generic)', source=CONJECTURE, kind="conjecture", needs=("separable", "exp|logistic", "A1.2"), methods=("gf",), group="conj.max_margin_degenerate_sv",
       series=_degenerate_sv_series, rate="2 in (∏‖W_k‖_F)^(1/L): gf.max_margin_product's rate, if the theorem extends")
def max_margin_degenerate_sv(run: RunRecord) -> Verdict:
    """The max-margin limit (signed product direction) where A2.7 or 'almost all data' fails."""
    cid = "conj.max_margin_degenerate_sv"
    ok = run.setup.check()
    if ok["A2.7"][0] and ok["generic"][0]:
        return Verdict(cid, Status.NOT_APPLICABLE, None, GAP_THRESHOLD, "A2.7 and 'almost all data' hold: the theorem covers this case")
    v = max_margin_product(run)
    where = ok["A2.7"][1] if not ok["A2.7"][0] else ok["generic"][1]
    return Verdict(cid, v.status, v.value, v.threshold, f"{where}: {v.reason}", exponent=v.exponent, expected_exponent=v.expected_exponent)


@claim("conj.gd_exp_max_margin", statement='GD with the exponential loss still turns w_prod/∏‖W_k‖_F to +ū (exp fails A3.x)', source=CONJECTURE, kind="conjecture", needs=("separable", "A1.2", "A2.7", "generic"), methods=("gd",), group="conj.gd_exp_max_margin",
       series=_gd_exp_series)
def gd_exp_max_margin(run: RunRecord) -> Verdict:
    """GD with the exponential loss (outside A3.x: ℓ' is unbounded) turns w_prod towards +ū."""
    cid = "conj.gd_exp_max_margin"
    if run.setup.loss.name != "exp":
        return Verdict(cid, Status.NOT_APPLICABLE, None, GD_GAP_THRESHOLD, f"{run.setup.loss.name} loss: the conjecture is about the exponential loss")
    late = gd_late_phase(run)
    if late is None:
        return Verdict(cid, Status.INCONCLUSIVE, None, GD_GAP_THRESHOLD, f"fewer than {MIN_LATE_CHECKPOINTS} checkpoints in the late phase (n·R < ℓ(0))")
    v = max_margin_product(late)
    step = run.trajectory.gd.step if run.trajectory.gd is not None else None
    return Verdict(cid, v.status, v.value, v.threshold, f"exp loss, GD with {'constant step ' + format(step, 'g') if step else 'its step rule'}: {v.reason}")


@claim("conj.smoothed_margin_monotone", statement='ℓ^{-1}(nR)/∏‖W_k‖_F is non-decreasing once nR < ℓ(0)', source="Lyu & Li 2020 (gradient flow); a conjecture for this normalisation", kind="conjecture", needs=("separable", "A1.1"), methods=("gf",), group="conj.smoothed_margin_monotone", worse="min")
def smoothed_margin_monotone(run: RunRecord) -> Verdict:
    """Lyu & Li (2020): ℓ^{-1}(nR)/∏‖W_k‖_F is non-decreasing once nR < ℓ(0) (gradient flow)."""
    cid = "conj.smoothed_margin_monotone"
    tm = run.metrics
    n = run.setup.Z.shape[0]
    log_nR = tm.stack("log_risk") + math.log(n)
    name = run.setup.loss.name
    if name == "exp":
        inv = -log_nR  # ℓ^{-1}(y) = −log y
    elif name == "logistic":
        # ℓ^{-1}(y) = −log(expm1(y)); for tiny y, log expm1(y) = log y + y/2 + O(y²) (no underflow).
        # Formed only where it is used, n·R < ℓ(0) = log 2 (below): elsewhere expm1(n·R) can
        # overflow (n·R > 709) and would only be discarded.
        y = np.exp(np.minimum(log_nR, 700.0))
        tiny = log_nR < -18
        used = log_nR < math.log(run.setup.loss.ell_at_zero)
        inv = np.full_like(log_nR, np.nan)
        inv[tiny] = -(log_nR[tiny] + y[tiny] / 2)
        inv[used & ~tiny] = -np.log(np.expm1(y[used & ~tiny]))
    else:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, f"ℓ^-1 not implemented for the {name} loss")
    rho = np.exp(np.log(np.where(tm.stack("frob") > 0, tm.stack("frob"), np.nan)).sum(axis=1))
    active = np.nonzero(log_nR < math.log(run.setup.loss.ell_at_zero))[0]
    if len(active) < 3:
        return Verdict(cid, Status.INCONCLUSIVE, None, 0.0, "n·R never went below ℓ(0) for 3 checkpoints")
    q = inv[active] / rho[active]
    # Stored states carry the integrator's relative error ~rtol; the margin and ρ are degree-L
    # functions of θ, so q's relative error is ≲ 2L·rtol: 10x that absorbs it.
    tol = 20 * len(run.trajectory.final) * run.rtol
    drops = q[1:] < q[:-1] * (1 - tol)
    worst = float(np.min(q[1:] / q[:-1] - 1)) if len(q) > 1 else 0.0
    if drops.any():
        j = int(np.nonzero(drops)[0][0])
        return Verdict(cid, Status.VIOLATED, worst, -tol, f"smoothed margin fell {q[j]:.6g} -> {q[j+1]:.6g} at t={tm.times[active[j + 1]]:.4g}")
    return Verdict(cid, Status.HOLDS, worst, -tol, f"non-decreasing over {len(q)} checkpoints after n·R < ℓ(0) (smallest relative step {worst:.3g})")

