"""Every quantity the claims need, computed from layers without catastrophic cancellation.

Conventions: W_k of shape (d_k, d_{k−1}); σ_k, u_k, v_k are the top singular value and the
left/right singular vectors of W_k (signs arbitrary, so alignments use |·|); F_k = ‖W_k‖_F;
ρ = ∏_k F_k. Gaps to a limit of 1 are formed so that they keep full relative accuracy when tiny:

- 1 − σ_k/F_k = (Σ_{j>1} σ_j²) / (F_k (F_k + σ_k)), from the singular values (never F − σ);
- 1 − |⟨a, b⟩| = ½‖a − sign(⟨a,b⟩) b‖² for unit vectors (never 1 − cos);
- angles as 2·atan2(‖â − b̂‖, ‖â + b̂‖) (arccos loses everything below 1e-8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backends import FLOAT64, Backend
from .losses import Loss
from .network import Layers
from .risk import evaluate


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in radians between vectors a and b, accurate for tiny angles; π if either is 0.

    Each vector is first divided by its largest entry, so norms neither overflow nor underflow.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma, mb = np.max(np.abs(a)), np.max(np.abs(b))
    if ma == 0 or mb == 0:
        return math.pi
    a, b = a / ma, b / mb
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return 2.0 * math.atan2(float(np.linalg.norm(a - b)), float(np.linalg.norm(a + b)))


def unsigned_gap(a: np.ndarray, b: np.ndarray) -> float:
    """1 − |⟨a, b⟩| for unit vectors a, b, as ½‖a − sign·b‖² (exact to rounding when tiny)."""
    s = 1.0 if float(a @ b) >= 0 else -1.0
    diff = a - s * b
    return 0.5 * float(diff @ diff)


def balancedness(layers: Layers) -> list[np.ndarray]:
    """Δ_k = W_{k+1}^T W_{k+1} − W_k W_k^T for k = 1..L−1, each of shape (d_k, d_k)."""
    return [layers[k + 1].T @ layers[k + 1] - layers[k] @ layers[k].T for k in range(len(layers) - 1)]


def lemma2_D(layers0: Layers) -> float:
    """Lemma 2's constant D = max_k ‖W_k(0)‖_F² − ‖W_L(0)‖_F² + Σ_{k<L} ‖W_k(0)W_k(0)^T − W_{k+1}(0)^T W_{k+1}(0)‖_2."""
    F2 = [float(np.sum(W * W)) for W in layers0]
    return max(F2) - F2[-1] + sum(float(np.linalg.norm(Dk, 2)) for Dk in balancedness(layers0))


@dataclass(frozen=True)
class Snapshot:
    """Metrics of one iterate. Arrays are indexed by layer k = 1..L at position k−1.

    log_risk: log R (R a mean over points); frob F_k; sigma σ_k; off_rank Σ_{j>1} σ_j²(W_k)
    (= F_k² − σ_k², the quantity Lemma 2 bounds by D); rank_gap 1 − σ_k/F_k; adj_gap[k−1]
    1 − |⟨v_{k+1}, u_k⟩| (nan where a layer is 0); prod_gap 1 − |⟨w_prod, v_1⟩|/ρ; w_norm ‖w_prod‖;
    min_margin min_i ⟨w_prod, z_i⟩/ρ; angle_ubar the angle between w_prod and +ū, v1_gap_ubar
    1 − |⟨v_1, ū⟩| (both nan without ū).
    """

    log_risk: float
    frob: np.ndarray
    sigma: np.ndarray
    off_rank: np.ndarray
    rank_gap: np.ndarray
    adj_gap: np.ndarray
    prod_gap: float
    w_norm: float
    min_margin: float
    max_abs_margin: float
    angle_ubar: float
    v1_gap_ubar: float
    u: list[np.ndarray]
    v: list[np.ndarray]

    @property
    def log_rho(self) -> float:
        """log ∏_k ‖W_k‖_F (−inf if a layer is 0)."""
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(self.frob)))


def snapshot(Z: np.ndarray, loss: Loss, layers: Layers, u_bar: np.ndarray | None = None, bk: Backend = FLOAT64) -> Snapshot:
    """All per-iterate metrics of ``layers`` on data Z (n, d) under ``loss``."""
    ev = evaluate(Z, loss, layers, bk)
    L = len(layers)
    frob, sigma, off, gap = (np.zeros(L) for _ in range(4))
    us, vs = [], []
    for k, W in enumerate(layers):
        U, s, Vt = bk.svd(W)
        s = bk.to_float(s)
        frob[k] = math.sqrt(float(np.sum(s * s)))
        sigma[k] = s[0]
        off[k] = float(np.sum(s[1:] ** 2))
        gap[k] = off[k] / (frob[k] * (frob[k] + sigma[k])) if frob[k] > 0 else 0.0  # A = 0: ‖A‖_2 = ‖A‖_F
        us.append(bk.to_float(U[:, 0]) if s[0] > 0 else None)
        vs.append(bk.to_float(Vt[0]) if s[0] > 0 else None)
    adj = np.array([unsigned_gap(vs[k + 1], us[k]) if us[k] is not None and vs[k + 1] is not None else np.nan for k in range(L - 1)])
    w = bk.to_float(ev.w_prod)
    m = bk.to_float(ev.margins)
    rho = float(np.prod(frob))
    w_norm = float(np.linalg.norm(w))
    if rho > 0 and w_norm > 0 and vs[0] is not None:
        # 1 − |⟨w, v_1⟩|/ρ = (1 − ‖w‖/ρ) + (‖w‖/ρ)(1 − |⟨ŵ, v_1⟩|); the first term is a difference of
        # two computed norms, accurate to a few eps (it is ≥ 0 since ‖w‖ ≤ ∏‖W_k‖_2 ≤ ρ).
        r = w_norm / rho
        prod_gap = (1.0 - r) + r * unsigned_gap(w / w_norm, vs[0])
    else:
        prod_gap = np.nan
    return Snapshot(
        log_risk=float(ev.log_risk),
        frob=frob,
        sigma=sigma,
        off_rank=off,
        rank_gap=gap,
        adj_gap=adj,
        prod_gap=float(prod_gap),
        w_norm=w_norm,
        min_margin=float(m.min() / rho) if rho > 0 else np.nan,
        max_abs_margin=float(np.abs(m).max()),
        angle_ubar=angle_between(w, u_bar) if u_bar is not None else np.nan,
        v1_gap_ubar=unsigned_gap(vs[0], u_bar) if u_bar is not None and vs[0] is not None else np.nan,
        u=us,
        v=vs,
    )


@dataclass(frozen=True)
class TrajectoryMetrics:
    """Snapshots of every checkpoint of a run, plus the quantities fixed by the start.

    times (n_ckpt,); D Lemma 2's constant; spec0_sq[k] = ‖W_k(0)‖_2²; drift (n_ckpt, L−1) the
    balancedness drift ‖Δ_k(t) − Δ_k(0)‖_F / max_j ‖W_j(t)‖_F² (relative to the scale of W²).
    """

    times: np.ndarray
    snaps: list[Snapshot]
    D: float
    spec0_sq: np.ndarray
    drift: np.ndarray

    def stack(self, field: str) -> np.ndarray:
        """A per-checkpoint field of the snapshots as an array (n_ckpt, ...)."""
        return np.array([getattr(s, field) for s in self.snaps], dtype=float)


def trajectory_metrics(trajectory, u_bar: np.ndarray | None = None, bk: Backend = FLOAT64) -> TrajectoryMetrics:
    """Compute :class:`TrajectoryMetrics` for a :class:`core.dynamics.Trajectory`."""
    cps = trajectory.checkpoints
    layers0 = cps[0].layers
    delta0 = balancedness(layers0)
    snaps, drift = [], []
    for cp in cps:
        snaps.append(snapshot(trajectory.Z, trajectory.loss, cp.layers, u_bar, bk))
        scale = max(float(np.sum(W * W)) for W in cp.layers) or 1.0
        drift.append([float(np.linalg.norm(Dk - D0)) / scale for Dk, D0 in zip(balancedness(cp.layers), delta0)])
    spec0 = np.array([float(np.linalg.norm(W, 2)) ** 2 for W in layers0])
    return TrajectoryMetrics(
        times=np.array([cp.time for cp in cps]),
        snaps=snaps,
        D=lemma2_D(layers0),
        spec0_sq=spec0,
        drift=np.array(drift).reshape(len(cps), len(layers0) - 1),
    )
