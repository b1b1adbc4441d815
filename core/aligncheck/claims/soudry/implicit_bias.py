"""The claims of Soudry, Hoffer, Nacson, Gunasekar & Srebro (2018), "The implicit bias of gradient
descent on separable data" (JMLR 19; ICLR 2018), for a linear predictor (depth 1) trained by GD
with a small constant step on separable data, with the exp or the logistic loss.

Conventions. Their loss is a SUM, L(w) = Σ_i ℓ(⟨w, z_i⟩) = n·R(w), so a GD step η on L is a step
n·η on our mean risk R. ŵ = argmin ‖w‖² s.t. ⟨w, z_i⟩ ≥ 1, so ŵ = ū/γ = Σ_SV α_i z_i (the hard-margin
SVM's dual coefficients α_i, aligncheck.data.maxmargin). Their Theorem 3 (with Lemma 5 and §3):

- the direction: w(t)/‖w(t)‖ → ū;
- the norm: ‖w(t)‖ grows like ‖ŵ‖·log t;
- the offset: w(t) = ŵ log t + ρ(t) with ρ(t) → w̃, where η·exp(−⟨w̃, z_i⟩) = α_i on the support
  vectors (a unique w̃ when they are linearly independent and span R^d);
- the risk: t·L(w(t)) → Σ_SV α_i/η.

Rates. In τ = log t the offset follows dρ/dτ = −ŵ + η Σ_SV e^{−⟨ρ, z_i⟩} z_i + (the other points'
terms, ∝ t^{1−θ}, θ = min_{j ∉ SV} ⟨ŵ, z_j⟩ > 1) + O(1/t) from the discrete steps, so near w̃,
ρ(t) − w̃ ∝ t^-λ with λ = min(1, θ − 1, λ_min(Σ_SV α_i z_i z_iᵀ)) (the linearisation at w̃): t^-1 on
the paper's toy data (measured, tests/test_known_answer.py), but λ_min can be tiny on other data
(measured: a planted problem in R^5 whose offset, 0.85 of ‖w̃‖ away, moved by 1% in 10^6 steps), and
far from w̃ the nonlinear phase is slower still. No finite run can tell such a crawl from a wrong
limit, so every claim here is judged by its trend in t and an end point (``trend_only``, as GD's
limits are in aligncheck.claims.ji_telgarsky), and the verdict states the rate λ expected near
the limit.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from aligncheck.claims import registry
from aligncheck.claims.assumptions import Setup, register_assumption
from aligncheck.claims.check import RunRecord
from aligncheck.claims.verdicts import MIN_LATE_GROWTH, LimitSeries, Status, Verdict
from aligncheck.numerics.backends import FLOAT64, logsumexp
from aligncheck.numerics.magnitudes import format_from_log
from aligncheck.numerics.network import product

PAPER = registry.register_paper(
    "soudry_2018", "Soudry, Hoffer, Nacson, Gunasekar & Srebro, JMLR 2018 (ICLR 2018)",
    "The implicit bias of gradient descent on separable data",
).key
claim = functools.partial(registry.claim, paper=PAPER, methods=("gd",), group="soudry_2018")
THEOREM3 = "Soudry et al. 2018, Theorem 3 (with §3 and Lemma 5)"
NEEDS = ("separable", "exp|logistic", "linear", "soudry_step")
OFFSET_NEEDS = (*NEEDS, "unique_offset")

# End points of the slow claims (1/log t): at t = 2·10^4 steps of the conjecture runs, log t ≈ 10,
# so a direction error ‖Π⊥ρ‖/‖w‖ ≈ 0.1 gives a gap 1 − cos ≈ 5e-3; the norm's relative error
# ρ∥/(‖ŵ‖ log t) is first order in the same quantities.
DIRECTION_THRESHOLD = 1e-2
# The norm's relative error is ⟨ŵ, w̃⟩/(‖ŵ‖² log t) to first order, and w̃ carries log η (⟨w̃, z_i⟩ =
# log(η/α_i)), so the small steps the theorem asks for push it up: measured 0.27 at t = 2·10^4 and
# 0.23 at 10^5 on the paper's data with η = 0.9 of the bound. The end point 0.3 asks for a norm
# within 30% of ‖ŵ‖ log t, and decreasing.
NORM_THRESHOLD = 0.3
# The offset and the risk: a relative error ≤ 1e-2 (measured 9e-4 and 2.6e-3 at t = 2·10^4 on the
# paper's data with the theorem's step; 1e-4 at t = 10^5 with a step ~8x larger).
FAST_THRESHOLD = 1e-2
FLOOR = 1e-14  # differences of O(1) quantities formed from float64 iterates


def _linear(setup: Setup) -> tuple[bool, str]:
    L = len(setup.layers0)
    return L == 1, f"depth L = {L}" + ("" if L == 1 else ": the theorem is about a linear predictor")


def _log_step_bound(setup: Setup) -> float:
    """log of 2/(β·σ_max²(X)) for the sum loss, β = L(w(0)) (ℓ'' ≤ ℓ for both losses, so L is
    L(w(0))-smooth on the sublevel set GD stays in), as a bound on the step η = (step on R)/n.
    Formed in the log domain: L(w(0)) underflows to 0 (and σ_max² overflows) on data of extreme
    scale, where the quotient itself is still a number."""
    Z = setup.Z
    w0 = product(tuple(np.asarray(W, dtype=float) for W in setup.layers0))
    log_L0 = float(logsumexp(FLOAT64, setup.loss.log_ell(Z @ w0)))
    top = float(np.max(np.abs(Z)))  # σ_max(Z) = top·σ_max(Z/top), without overflow
    log_smax = math.log(top) + math.log(float(np.linalg.norm(Z / top, 2)))
    return math.log(2.0) - log_L0 - 2.0 * log_smax


def _small_step(setup: Setup) -> tuple[bool, str]:
    if setup.method != "gd" or setup.step is None:
        return False, "not GD with a constant step"
    eta = setup.step / setup.Z.shape[0]
    log_bound = _log_step_bound(setup)
    ok = (math.log(eta) if eta > 0.0 else -math.inf) < log_bound
    return ok, f"η = {eta:.4g} on the sum loss {'<' if ok else '≥'} 2/(L(w(0))·σ_max²(X)) = {format_from_log(log_bound, '.4g')}"


def _distinct_support(setup: Setup) -> tuple[np.ndarray, np.ndarray]:
    """The distinct z_i of the support vectors (rows) and their summed dual coefficients."""
    mm = setup.max_margin
    groups: dict[tuple, float] = {}
    for i, a in zip(mm.support, mm.alpha):
        groups[tuple(setup.Z[i])] = groups.get(tuple(setup.Z[i]), 0.0) + float(a)
    return np.array(list(groups)), np.array(list(groups.values()))


def _unique_offset(setup: Setup) -> tuple[bool, str]:
    if setup.max_margin is None:
        return False, "no support vectors (not separable)"
    A, a = _distinct_support(setup)
    d = setup.Z.shape[1]
    rank = int(np.linalg.matrix_rank(A))
    ok = len(A) == d and rank == d and bool(np.all(a > 0))
    return ok, f"{len(A)} distinct support vectors z_i of rank {rank} in R^{d}, min summed dual coefficient {float(np.min(a)):.3g}"


register_assumption("linear", "a linear predictor: depth L = 1", _linear)
register_assumption("unique_offset", "the distinct support vectors z_i are d linearly independent vectors with positive dual coefficients (w̃ unique)", _unique_offset)
register_assumption("soudry_step", "GD with a constant step η < 2/(β·σ_max²(X)) on the sum loss, β = L(w(0)) (Soudry et al., Theorem 3)", _small_step)


def _eta(run: RunRecord) -> float:
    """The step on the sum loss."""
    return run.setup.step / run.setup.Z.shape[0]


def _w_hat(run: RunRecord) -> np.ndarray:
    mm = run.setup.max_margin
    return mm.u_bar / mm.gamma


def offset_limit(setup: Setup, eta: float) -> np.ndarray:
    """w̃ from the dual coefficients: η·exp(−⟨w̃, z_i⟩) = α_i on the support vectors, where support
    vectors that coincide as z share one equation with their α summed (k copies of z_i put
    k·e^{−⟨w, z_i⟩} in the loss and share one dual weight). Needs unique_offset (every summed α > 0)."""
    mm = setup.max_margin
    A, a = _distinct_support(setup)
    mult = np.array([int(np.sum(np.all(setup.Z[mm.support] == z, axis=1))) for z in A])
    return np.linalg.lstsq(A, np.log(eta * mult / a), rcond=None)[0]


def risk_limit(setup: Setup, eta: float) -> float:
    """lim t·L(w(t)) = Σ_SV α_i/η."""
    return float(np.sum(setup.max_margin.alpha)) / eta


def _late(run: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """The step indices t ≥ 1 of the checkpoints and the iterates w(t) there."""
    keep = run.metrics.times >= 1
    ws = np.array([product(cp.layers) for cp, k in zip(run.trajectory.checkpoints, keep) if k], dtype=float)
    return run.metrics.times[keep], ws


def local_rate(setup: Setup) -> tuple[float, str]:
    """λ = min(1, θ − 1, λ_min(Σ_SV α_i z_i z_iᵀ)), the rate t^-λ at which the offset converges near
    w̃ (module docstring), and where it comes from."""
    mm = setup.max_margin
    A, a = _distinct_support(setup)
    lam = float(np.linalg.eigvalsh((A.T * a) @ A)[0])
    others = np.setdiff1d(np.arange(setup.Z.shape[0]), mm.support)
    theta = float(np.min(setup.Z[others] @ (mm.u_bar / mm.gamma))) if len(others) else math.inf
    return min(1.0, theta - 1.0, lam), f"t^-λ expected near the limit, λ = min(1, θ − 1 = {theta - 1:.3g}, λ_min(Σ α_i z_i z_iᵀ) = {lam:.3g})"


def _series(run: RunRecord, q: np.ndarray, t: np.ndarray, *, threshold: float, what: str,
            violation_growth: float = MIN_LATE_GROWTH) -> list[LimitSeries]:
    return [LimitSeries(what, q, t, t, 0.0, threshold, FLOOR, "step t", trend_only=True, violation_growth=violation_growth)]


# A gap that did not decrease is evidence against the offset's limit only over a growth of t in
# which the theorem's own rate, t^-λ near w̃, would have halved it: t^-λ falls x2 over a growth of
# 2^(1/λ). Measured (issue 8's campaign, seed 716760295): three planted problems with λ = 0.000287,
# 0.02 and 0.027 (λ_min of Σ α_i z_i z_iᵀ) kept the gap at 0.54-0.95 over a x132 growth of t, and
# were reported violated; t^-λ predicts a fall of 0.2 % to 12 % there, nothing a run can see.
OFFSET_VISIBLE_FALL = 2.0


def _offset_violation_growth(setup: Setup) -> float:
    lam = local_rate(setup)[0]
    if not lam > 0:
        return math.inf
    return max(MIN_LATE_GROWTH, math.exp(min(700.0, math.log(OFFSET_VISIBLE_FALL) / lam)))


def _verdict(run: RunRecord, cid: str, series: list[LimitSeries], *, rate: bool = False) -> Verdict:
    [s] = series
    jd = s.judge()
    reason = jd.reason + (f" ({local_rate(run.setup)[1]})" if rate else "")
    return Verdict(cid, jd.status, jd.value, s.threshold, reason)


def direction_series(run: RunRecord) -> list[LimitSeries]:
    """soudry.direction's series: 1 − ⟨w/‖w‖, ū⟩ against the step t ≥ 1."""
    t, w = _late(run)
    ub = run.setup.max_margin.u_bar
    norms = np.array([FLOAT64.norm(x) for x in w])[:, None]  # no underflow of tiny iterates
    with np.errstate(divide="ignore", invalid="ignore"):  # w(t) = 0: no direction (nan, skipped)
        w_unit = np.where(norms > 0, w / np.where(norms > 0, norms, 1.0), np.nan)
    q = 0.5 * np.sum((w_unit - ub) ** 2, axis=1)  # 1 − ⟨ŵ(t), ū⟩ without cancellation
    return _series(run, q, t, threshold=DIRECTION_THRESHOLD, what="1 - <w/‖w‖, ū>")


@claim("soudry.direction", statement="w(t)/‖w(t)‖ → ū", source=THEOREM3, kind="limit", needs=NEEDS, series=direction_series)
def direction(run: RunRecord) -> Verdict:
    return _verdict(run, "soudry.direction", direction_series(run))


def norm_growth_series(run: RunRecord) -> list[LimitSeries]:
    """soudry.norm_growth's series: |‖w‖/log t − ‖ŵ‖|/‖ŵ‖ against the step t ≥ 2."""
    t, w = _late(run)
    keep = t >= 2  # log 1 = 0
    nh = float(np.linalg.norm(_w_hat(run)))
    q = np.abs(np.linalg.norm(w[keep], axis=1) / np.log(t[keep]) - nh) / nh
    return _series(run, q, t[keep], threshold=NORM_THRESHOLD, what="|‖w‖/log t − ‖ŵ‖|/‖ŵ‖")


@claim("soudry.norm_growth", statement="‖w(t)‖/log t → ‖ŵ‖ = 1/γ", source=THEOREM3, kind="limit", needs=NEEDS, series=norm_growth_series)
def norm_growth(run: RunRecord) -> Verdict:
    return _verdict(run, "soudry.norm_growth", norm_growth_series(run))


def offset_series(run: RunRecord) -> list[LimitSeries]:
    """soudry.offset's series: ‖w − ŵ log t − w̃‖/(1 + ‖w̃‖) against the step t ≥ 1."""
    t, w = _late(run)
    w_tilde = offset_limit(run.setup, _eta(run))
    q = np.linalg.norm(w - np.outer(np.log(t), _w_hat(run)) - w_tilde, axis=1) / (1.0 + np.linalg.norm(w_tilde))
    return _series(run, q, t, threshold=FAST_THRESHOLD, what="‖w − ŵ log t − w̃‖/(1 + ‖w̃‖)",
                   violation_growth=_offset_violation_growth(run.setup))


@claim("soudry.offset", statement="w(t) − ŵ log t → w̃ with η·exp(−<w̃, z_i>) = α_i on the support vectors", source=THEOREM3, kind="limit", needs=OFFSET_NEEDS,
       series=offset_series)
def offset(run: RunRecord) -> Verdict:
    return _verdict(run, "soudry.offset", offset_series(run), rate=True)


def risk_rate_series(run: RunRecord) -> list[LimitSeries]:
    """soudry.risk_rate's series: |t·L(w(t))·η/Σα − 1| against the step t ≥ 1 ([] where t·L is nowhere defined)."""
    keep = run.metrics.times >= 1
    t = run.metrics.times[keep]
    limit = risk_limit(run.setup, _eta(run))
    n = run.setup.Z.shape[0]
    tl = t * n * np.exp(run.metrics.stack("log_risk")[keep])
    q = np.abs(tl - limit) / limit
    return _series(run, q, t, threshold=FAST_THRESHOLD, what="|t·L(w(t))·η/Σα − 1|") if np.any(np.isfinite(q)) else []


@claim("soudry.risk_rate", statement="t·L(w(t)) → Σ_SV α_i/η (L the sum loss)", source=THEOREM3, kind="limit", needs=NEEDS, series=risk_rate_series)
def risk_rate(run: RunRecord) -> Verdict:
    series = risk_rate_series(run)
    if not series:
        return Verdict("soudry.risk_rate", Status.INCONCLUSIVE, None, FAST_THRESHOLD, "t·L(w(t)) not defined on the run")
    return _verdict(run, "soudry.risk_rate", series, rate=True)
