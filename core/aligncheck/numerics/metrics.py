"""Every quantity the claims need, computed from layers without catastrophic cancellation.

Conventions: W_k of shape (d_k, d_{k−1}); σ_k, u_k, v_k are the top singular value and the
left/right singular vectors of W_k (signs arbitrary, so alignments use |·|); F_k = ‖W_k‖_F;
ρ = ∏_k F_k. Gaps to a limit of 1 are formed so that they keep full relative accuracy when tiny:

- 1 − σ_k/F_k = (Σ_{j>1} σ_j²) / (F_k (F_k + σ_k)), from the singular values (never F − σ);
- 1 − |⟨a, b⟩| = ½‖a − sign(⟨a,b⟩) b‖² for unit vectors (never 1 − cos);
- angles as 2·atan2(‖â − b̂‖, ‖â + b̂‖) (arccos loses everything below 1e-8).

Every metric is computed in the backend ``bk`` (float64, or mpf object arrays for
:class:`aligncheck.numerics.backends.Mpmath`) and only the final scalars are converted to float: a gap of 1e-40
is a float64 number, but it only exists if the vectors and singular values it is formed from
carry more than 16 digits. A backend coarser than the layers it is given is an error, never a
silent conversion to float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.numerics.backends import FLOAT64, Backend, Float64, Mpmath
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers, product
from aligncheck.numerics.risk import log_risk_of_margins


def _to_float(bk: Backend, x) -> float:
    """A backend scalar as a Python float (nearest; beyond the float64 range ±inf or 0)."""
    return float(bk.to_float(x))


def _in_backend(bk: Backend, layers: Layers) -> Layers:
    """``layers`` as arrays of ``bk`` (float64 entries convert exactly into mpf; float64 arrays are
    returned as they are). Object arrays (mpf) with the float64 backend are refused: they would be
    rounded to 16 digits without notice."""
    if isinstance(bk, Float64) and any(np.asarray(W).dtype == object for W in layers):
        raise ProblemError("these layers are high-precision (object) arrays: pass their backend, float64 would round them")
    return tuple(bk.asarray(W) for W in layers)


def _gap(a: np.ndarray, b: np.ndarray):
    """1 − |⟨a, b⟩| = ½‖a − sign(⟨a,b⟩)·b‖² for unit a, b, as a backend scalar."""
    diff = a - b if a @ b >= 0 else a + b
    return 0.5 * (diff @ diff)


def _as_unit(bk: Backend, v: np.ndarray) -> np.ndarray:
    """``v`` divided by its norm unless it is unit to within the rounding of that norm.

    (d + 2)·eps bounds the rounding of a computed ‖v‖ (d products, d − 1 additions, a square root),
    so below it dividing cannot make v more unit (and a float64-normalised ū is used bit for bit
    as given); above it, e.g. a float64 ū (unit to ~1e-16) at 50 digits, ½‖a − ū‖² would carry
    ‖ū‖ − 1 as an additive error, so v is renormalised at the working precision.
    """
    n = bk.norm(v)
    return v if abs(n - 1) <= (v.size + 2) * bk.eps else v / n


def angle_between(a: np.ndarray, b: np.ndarray, bk: Backend = FLOAT64) -> float:
    """Angle in radians between vectors a and b (shape (d,)), accurate for tiny angles; π if either is 0.

    Each vector is first divided by its largest entry, so norms neither overflow nor underflow;
    the norms are formed in ``bk``, only the two norms entering atan2 are rounded to float
    (relative error eps each, so the angle keeps float64's relative accuracy however small).
    """
    a, b = bk.asarray(a), bk.asarray(b)
    ma, mb = np.max(np.abs(a)), np.max(np.abs(b))
    if ma == 0 or mb == 0:
        return math.pi
    a, b = a / ma, b / mb
    a, b = a / bk.norm(a), b / bk.norm(b)
    return 2.0 * math.atan2(_to_float(bk, bk.norm(a - b)), _to_float(bk, bk.norm(a + b)))


def unsigned_gap(a: np.ndarray, b: np.ndarray) -> float:
    """1 − |⟨a, b⟩| for unit vectors a, b (shape (d,), float64 or mpf arrays), as ½‖a − sign·b‖²
    formed in the arrays' own precision (exact to rounding when tiny), returned as a float."""
    return float(_gap(a, b))


def balancedness(layers: Layers) -> list[np.ndarray]:
    """Δ_k = W_{k+1}^T W_{k+1} − W_k W_k^T for k = 1..L−1, each of shape (d_k, d_k), in the layers' own type."""
    return [layers[k + 1].T @ layers[k + 1] - layers[k] @ layers[k].T for k in range(len(layers) - 1)]


def lemma2_D(layers0: Layers, bk: Backend = FLOAT64) -> float:
    """Lemma 2's constant D = max_k ‖W_k(0)‖_F² − ‖W_L(0)‖_F² + Σ_{k<L} ‖W_k(0)W_k(0)^T − W_{k+1}(0)^T W_{k+1}(0)‖_2,
    formed in ``bk`` (an exactly balanced start gives D = 0 to the working precision)."""
    layers0 = _in_backend(bk, layers0)
    F2 = [np.sum(W * W) for W in layers0]
    return _to_float(bk, max(F2) - F2[-1] + sum(bk.norm(Dk, 2) for Dk in balancedness(layers0)))


@dataclass(frozen=True)
class Snapshot:
    """Metrics of one iterate. Arrays are indexed by layer k = 1..L at position k−1.

    frob F_k; sigma σ_k; off_rank Σ_{j>1} σ_j²(W_k) (= F_k² − σ_k², the quantity Lemma 2 bounds
    by D); rank_gap 1 − σ_k/F_k; adj_gap[k−1] 1 − |⟨v_{k+1}, u_k⟩| (nan where a layer is 0);
    prod_gap 1 − |⟨w_prod, v_1⟩|/ρ; w_norm ‖w_prod‖; angle_ubar the angle between w_prod and +ū,
    v1_gap_ubar 1 − |⟨v_1, ū⟩| (both nan without ū). From the data (properties): log_risk log R
    (R a mean over points), min_margin min_i ⟨w_prod, z_i⟩/ρ, max_abs_margin max_i |⟨w_prod, z_i⟩|;
    ``data`` returns those three: already computed in float64, computed on first use in mpmath,
    where they are the costly part at large n (~50 µs per point) and most claims never ask.
    """

    frob: np.ndarray
    sigma: np.ndarray
    off_rank: np.ndarray
    rank_gap: np.ndarray
    adj_gap: np.ndarray
    prod_gap: float
    w_norm: float
    angle_ubar: float
    v1_gap_ubar: float
    u: list[np.ndarray]
    v: list[np.ndarray]
    data: Callable[[], tuple[float, float, float]] = field(repr=False, compare=False)

    @cached_property
    def _data(self) -> tuple[float, float, float]:
        return self.data()

    @property
    def log_risk(self) -> float:
        return self._data[0]

    @property
    def min_margin(self) -> float:
        return self._data[1]

    @property
    def max_abs_margin(self) -> float:
        return self._data[2]

    @property
    def log_rho(self) -> float:
        """log ∏_k ‖W_k‖_F (−inf if a layer is 0)."""
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(self.frob)))


def snapshot(Z: np.ndarray, loss: Loss, layers: Layers, u_bar: np.ndarray | None = None, bk: Backend = FLOAT64) -> Snapshot:
    """All per-iterate metrics of ``layers`` on data Z (n, d) under ``loss``, with ū (d,) if given.

    Everything is formed in ``bk`` (float64 layers convert exactly into an mpmath backend; object
    layers need one) and rounded to float at the end, so the gaps keep the backend's resolution
    (1e-40 at 50 digits). ``u``/``v`` are the singular vectors rounded to float64.
    """
    layers = _in_backend(bk, layers)
    w = product(layers)
    L = len(layers)
    frob, sigma, off, gap = [], [], [], []  # backend scalars, layer by layer
    us, vs = [], []  # top singular vectors in bk, None for a zero layer
    for W in layers:
        U, s, Vt = bk.svd(W)
        F = bk.sqrt(np.sum(s * s))
        frob.append(F)
        sigma.append(s[0])
        off.append(np.sum(s[1:] ** 2))
        gap.append(off[-1] / (F * (F + s[0])) if F > 0 else 0.0)  # A = 0: ‖A‖_2 = ‖A‖_F
        us.append(U[:, 0] if s[0] > 0 else None)
        vs.append(Vt[0] if s[0] > 0 else None)
    adj = [_gap(vs[k + 1], us[k]) if us[k] is not None and vs[k + 1] is not None else np.nan for k in range(L - 1)]
    rho = np.prod(np.array(frob))
    w_norm = bk.norm(w)
    if rho > 0 and w_norm > 0 and vs[0] is not None:
        # 1 − |⟨w, v_1⟩|/ρ = (1 − ‖w‖/ρ) + (‖w‖/ρ)(1 − |⟨ŵ, v_1⟩|); the first term is a difference of
        # two computed norms, accurate to a few units of bk.eps (it is ≥ 0 since ‖w‖ ≤ ∏‖W_k‖_2 ≤ ρ).
        r = w_norm / rho
        prod_gap = (1 - r) + r * _gap(w / w_norm, vs[0])
    else:
        prod_gap = np.nan
    ub = _as_unit(bk, bk.asarray(u_bar)) if u_bar is not None else None

    def floats(xs) -> np.ndarray:
        return bk.to_float(np.array(xs, dtype=object)).astype(float)

    def data() -> tuple[float, float, float]:
        m = Z @ w
        return (_to_float(bk, log_risk_of_margins(loss, m, bk)), _to_float(bk, m.min() / rho) if rho > 0 else np.nan,
                _to_float(bk, np.abs(m).max()))

    return Snapshot(
        frob=floats(frob),
        sigma=floats(sigma),
        off_rank=floats(off),
        rank_gap=floats(gap),
        adj_gap=floats(adj),
        prod_gap=_to_float(bk, prod_gap),
        w_norm=_to_float(bk, w_norm),
        angle_ubar=angle_between(w, u_bar, bk) if u_bar is not None else np.nan,  # normalises by itself
        v1_gap_ubar=_to_float(bk, _gap(vs[0], ub)) if ub is not None and vs[0] is not None else np.nan,
        u=[None if x is None else bk.to_float(x) for x in us],
        v=[None if x is None else bk.to_float(x) for x in vs],
        data=_at_this_precision(bk, data) if isinstance(bk, Mpmath) else (lambda values=data(): values),
    )


def _at_this_precision(bk: Mpmath, compute: Callable[[], tuple]) -> Callable[[], tuple]:
    """``compute`` deferred, run at the precision ``bk`` has now (a later ensure_headroom cannot
    change what it returns)."""
    prec = bk.prec

    def deferred() -> tuple:
        with bk.ctx.workprec(prec):
            return compute()

    return deferred


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


def _relative_to_start(cps, bk: Backend) -> dict:
    """The fields of TrajectoryMetrics fixed by the first of ``cps``: D, spec0_sq and the drift of
    every checkpoint's balancedness from it."""
    layers0 = _in_backend(bk, cps[0].layers)
    delta0 = balancedness(layers0)
    drift = []
    for cp in cps:
        layers = _in_backend(bk, cp.layers)
        scale = max(np.sum(W * W) for W in layers) or 1.0
        drift.append([_to_float(bk, bk.norm(Dk - D0) / scale) for Dk, D0 in zip(balancedness(layers), delta0)])
    return {
        "D": lemma2_D(layers0, bk),
        "spec0_sq": np.array([_to_float(bk, bk.norm(W, 2)) ** 2 for W in layers0]),
        "drift": np.array(drift).reshape(len(cps), len(layers0) - 1),
    }


def restarted(tm: TrajectoryMetrics, trajectory, index: int, bk: Backend | None = None) -> TrajectoryMetrics:
    """``tm`` (the metrics of ``trajectory``) for the run restarted at checkpoint ``index``: the
    snapshots from there on, with D, the initial spectral norms and the balancedness drift taken
    relative to W(t_index) instead of W(0)."""
    if index == 0:
        return tm
    bk = _trajectory_backend(trajectory, bk)
    return TrajectoryMetrics(times=tm.times[index:], snaps=tm.snaps[index:], **_relative_to_start(trajectory.checkpoints[index:], bk))


def _trajectory_backend(trajectory, bk: Backend | None) -> Backend:
    """The backend to measure ``trajectory`` in: its own, or ``bk`` if at least as precise."""
    own = trajectory.backend
    if bk is None:
        return own
    if bk.digits < own.digits:  # digits, not eps: a run's own context may have raised its bits for headroom
        raise ProblemError(f"the run was computed with {own.name}: metrics with {bk.name} would round its layers")
    return bk


def trajectory_metrics(trajectory, u_bar: np.ndarray | None = None, bk: Backend | None = None) -> TrajectoryMetrics:
    """Compute :class:`TrajectoryMetrics` for a :class:`aligncheck.dynamics.flow.Trajectory`, with ū (d,) if given.

    ``bk``: the backend to measure in; by default the trajectory's own (``trajectory.backend``, e.g.
    an Mpmath(50) for checkpoints whose layers are mpf object arrays). A coarser one is an error.
    """
    bk = _trajectory_backend(trajectory, bk)
    cps = trajectory.checkpoints
    snaps = [snapshot(trajectory.Z, trajectory.loss, _in_backend(bk, cp.layers), u_bar, bk) for cp in cps]
    return TrajectoryMetrics(times=np.array([cp.time for cp in cps]), snaps=snaps, **_relative_to_start(cps, bk))
