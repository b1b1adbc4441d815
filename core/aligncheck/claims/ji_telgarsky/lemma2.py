"""Gradient flow: the exact invariants (risk monotone, balancedness) and Lemma 2's finite-time bounds
(submission Lemma 2): ‖W_k‖_F² − ‖W_k‖_2² ≤ D and the alignment of adjacent layers, each checked
at every checkpoint and certified in ball arithmetic where it is closest to failing."""

from __future__ import annotations

import dataclasses

import numpy as np

from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky.common import (
    GF_LEMMA2, by_construction, not_moved, vector_layers, width_one_pairs, claim,
)
from aligncheck.claims.verdicts import BoundSeries, Status, Verdict
from aligncheck.numerics.certify import Certificate, certify_alignment_bound, certify_rank_bound

# ---------------------------------------------------------------- gradient flow: exact and finite-time


@claim("gf.risk_monotone", statement='dR/dt = −‖∇R‖² ≤ 0', source="gradient flow, by definition (camera-ready §2)", kind="exact", needs=(), methods=("gf",), group="lemma2")
def risk_monotone(run: RunRecord) -> Verdict:
    cid = "gf.risk_monotone"
    lr = run.metrics.stack("log_risk")
    if (why := not_moved(run)) is not None:
        return Verdict(cid, Status.INCONCLUSIVE, None, 0.0, why)
    # Each stored state carries the integrator's relative error ~rtol, which moves log R by
    # about rtol·|log R| (the margins scale with θ); 10x that absorbs it.
    tol = 10 * run.rtol * np.maximum(1.0, np.abs(lr[:-1]))
    rises = np.diff(lr) - tol
    worst = float(np.max(np.diff(lr))) if len(lr) > 1 else 0.0
    if len(lr) > 1 and rises.max() > 0:
        j = int(np.argmax(rises))
        return Verdict(cid, Status.VIOLATED, worst, 0.0, f"log R rose by {np.diff(lr)[j]:.3g} between checkpoints {j} and {j+1} (t={run.metrics.times[j]:.4g})")
    return Verdict(cid, Status.HOLDS, worst, 0.0, f"log R non-increasing over {len(lr)} checkpoints (largest step {worst:.3g})")


def _drift_tolerance(run: RunRecord) -> float:
    # The invariant is exact for the flow; what remains is the integrator's accumulated error.
    # Measured over the ci conjecture session at the default rtol 1e-9: ≤ 2e-8 relative to ‖W‖²
    # (≈ 20·rtol); 100·rtol absorbs it with 5x to spare.
    return 100 * run.rtol


def balancedness_series(run: RunRecord) -> list[BoundSeries]:
    """gf.balancedness's series, one per pair k: the drift ‖Δ_k(t) − Δ_k(0)‖_F/max_j ‖W_j(t)‖_F² ≤ 0 (+ tol)."""
    tm = run.metrics
    zero, tol = np.zeros(len(tm.times)), np.full(len(tm.times), _drift_tolerance(run))
    return [BoundSeries(f"‖Δ_{k+1}(t) − Δ_{k+1}(0)‖_F/‖W‖²", "0 (an invariant)", tm.times, tm.drift[:, k], zero, tol) for k in range(tm.drift.shape[1])]


@claim("gf.balancedness", statement='W_{k+1}^T W_{k+1} − W_k W_k^T is constant in t', source=GF_LEMMA2 + " (the invariant behind it)", kind="exact", needs=(), methods=("gf",), group="lemma2",
       series=balancedness_series)
def balancedness_invariant(run: RunRecord) -> Verdict:
    cid = "gf.balancedness"
    drift = run.metrics.drift
    if drift.shape[1] == 0:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, "L = 1: no layer pairs")
    if (why := not_moved(run)) is not None:
        return Verdict(cid, Status.INCONCLUSIVE, None, None, why)
    tol = _drift_tolerance(run)
    worst = float(drift.max())
    if worst > tol:
        t, k = np.unravel_index(int(np.argmax(drift)), drift.shape)
        return Verdict(cid, Status.VIOLATED, worst, tol, f"‖Δ_{k+1}(t) − Δ_{k+1}(0)‖_F/‖W‖² = {worst:.3g} at t={run.metrics.times[t]:.4g}")
    return Verdict(cid, Status.HOLDS, worst, tol, f"max drift of Δ_k relative to ‖W‖²: {worst:.3g} over {drift.shape[0]} checkpoints")


def _with_certificate(v: Verdict, cert: Certificate, where: str) -> Verdict:
    """``v`` with the ball-arithmetic check of its inequality at one checkpoint attached."""
    return dataclasses.replace(v, certificate=cert.status, reason=f"{v.reason}; ball arithmetic ({cert.prec} bits) at {where}: {cert.status}, slack in [{cert.lower:.3g}, {cert.upper:.3g}]")


def _worst_checkpoint(excess: np.ndarray) -> int:
    """The checkpoint where a bound is closest to failing (largest excess over layers)."""
    return int(np.argmax(np.max(np.where(np.isfinite(excess), excess, -np.inf), axis=1))) if excess.size else len(excess) - 1


def _rank_bound(run: RunRecord) -> tuple[np.ndarray, float, np.ndarray]:
    """(‖W_k‖_F² − ‖W_k‖_2² (n_ckpt, L), D, the tolerance (n_ckpt, L)) of Lemma 2's rank bound."""
    off, F = run.metrics.stack("off_rank"), run.metrics.stack("frob")
    D = run.metrics.D
    # The bound rests on the invariants, which the integrator keeps to ~rtol·‖W‖² (see
    # gf.balancedness); 100·rtol·‖W_k‖_F² absorbs that, plus rounding of D itself.
    return off, D, 100 * run.rtol * F**2 + 64 * np.finfo(float).eps * max(D, 1.0)


def rank_bound_series(run: RunRecord) -> list[BoundSeries]:
    """gf.lemma2_rank_bound's series, one per layer that is not a vector: ‖W_k‖_F² − ‖W_k‖_2² ≤ D."""
    off, D, tol = _rank_bound(run)
    t = run.metrics.times
    return [BoundSeries(f"‖W_{k+1}‖_F² − ‖W_{k+1}‖_2²", "D", t, off[:, k], np.full(len(t), D), tol[:, k])
            for k in range(off.shape[1]) if k not in vector_layers(run)]


@claim("gf.lemma2_rank_bound", statement='‖W_k‖_F² − ‖W_k‖_2² ≤ D for all t', source=GF_LEMMA2, kind="bound", needs=("separable", "A1.1", "A1.2"), methods=("gf",), group="lemma2",
       series=rank_bound_series)
def lemma2_rank_bound(run: RunRecord) -> Verdict:
    cid = "gf.lemma2_rank_bound"
    # value: max (‖W_k‖_F² − ‖W_k‖_2²) − D; threshold 0, as for every bound (value = lhs − rhs ≤ 0)
    off, D, tol = _rank_bound(run)
    if len(vector_layers(run)) == off.shape[1]:
        return by_construction(cid, 0.0, "every layer has a dimension of 1, so ‖W_k‖_F² − ‖W_k‖_2² = 0 ≤ D")
    if (why := not_moved(run)) is not None:
        return Verdict(cid, Status.INCONCLUSIVE, None, 0.0, why)
    excess = off - D - tol
    value = float((off - D).max())
    if excess.max() > 0:
        t, k = np.unravel_index(int(np.argmax(excess)), excess.shape)
        v = Verdict(cid, Status.VIOLATED, value, 0.0, f"‖W_{k+1}‖_F² − ‖W_{k+1}‖_2² = {off[t, k]:.6g} > D = {D:.12g} at t={run.metrics.times[t]:.4g}")
    else:
        v = Verdict(cid, Status.HOLDS, value, 0.0, f"max_k,t (‖W_k‖_F² − ‖W_k‖_2²) − D = {value:.3g} ≤ 0 (D = {D:.12g})")
    i = _worst_checkpoint(off - D)
    cps = run.trajectory.checkpoints
    return _with_certificate(v, certify_rank_bound(cps[i].layers, cps[0].layers), f"t={cps[i].time:.4g}")


def _alignment_bound(run: RunRecord) -> tuple[np.ndarray, np.ndarray, float]:
    """(1 − ⟨v_{k+1},u_k⟩² (n_ckpt, L−1), its bound C_k/σ_{k+1}² (n_ckpt, L−1), the tolerance)."""
    tm = run.metrics
    gap, sig = tm.stack("adj_gap"), tm.stack("sigma")
    with np.errstate(divide="ignore", invalid="ignore"):
        sin2 = gap * (2 - gap)  # 1 − ⟨v,u⟩² = (1 − |c|)(1 + |c|), no cancellation
        C = tm.D + tm.spec0_sq[1:] + tm.spec0_sq[:-1]
        bound = C / sig[:, 1:] ** 2
    # Singular vectors and states carry relative errors ~rtol (integrator) and ~eps/spectral gap
    # (SVD); 100·rtol absorbs them on a quantity of size ≤ 1.
    return sin2, bound, 100 * run.rtol


def alignment_bound_series(run: RunRecord) -> list[BoundSeries]:
    """gf.lemma2_alignment_bound's series, one per pair whose shared width is not 1: 1 − ⟨v_{k+1},u_k⟩² ≤ C_k/σ_{k+1}²."""
    sin2, bound, tol = _alignment_bound(run)
    t = run.metrics.times
    return [BoundSeries(f"1 − <v_{k+2},u_{k+1}>²", f"C/σ_{k+2}²", t, sin2[:, k], bound[:, k], np.full(len(t), tol))
            for k in range(sin2.shape[1]) if k not in width_one_pairs(run)]


@claim("gf.lemma2_alignment_bound", statement='<v_{k+1},u_k>² ≥ 1 − (D + ‖W_{k+1}(0)‖_2² + ‖W_k(0)‖_2²)/‖W_{k+1}‖_2²', source=GF_LEMMA2, kind="bound", needs=("separable", "A1.1", "A1.2"), methods=("gf",), group="lemma2",
       series=alignment_bound_series)
def lemma2_alignment_bound(run: RunRecord) -> Verdict:
    cid = "gf.lemma2_alignment_bound"
    tm = run.metrics
    L = len(run.trajectory.final)
    if L == 1:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, "L = 1: no adjacent layers")
    if len(width_one_pairs(run)) == L - 1:
        return by_construction(cid, 0.0, "every hidden width is 1, so <v_{k+1}, u_k>² = 1")
    if (why := not_moved(run)) is not None:
        return Verdict(cid, Status.INCONCLUSIVE, None, 0.0, why)
    sin2, bound, tol = _alignment_bound(run)
    defined = np.isfinite(sin2) & np.isfinite(bound)
    excess = np.where(defined, sin2 - bound - tol, -np.inf)
    value = float(np.max(np.where(defined, sin2 - bound, -np.inf)))
    if excess.max() > 0:
        t, k = np.unravel_index(int(np.argmax(excess)), excess.shape)
        v = Verdict(cid, Status.VIOLATED, value, 0.0, f"1 − <v_{k+2},u_{k+1}>² = {sin2[t, k]:.4g} > bound {bound[t, k]:.4g} at t={tm.times[t]:.4g}")
    else:
        v = Verdict(cid, Status.HOLDS, value, 0.0, f"max over k,t of (1 − <v_(k+1),u_k>²) − bound = {value:.3g} ≤ 0")
    i = _worst_checkpoint(np.where(defined, sin2 - bound, -np.inf))
    cps = run.trajectory.checkpoints
    return _with_certificate(v, certify_alignment_bound(cps[i].layers, cps[0].layers), f"t={cps[i].time:.4g}")

