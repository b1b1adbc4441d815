"""The sign lemma of Ji & Telgarsky (2019), searched for counterexamples: if ⟨w, ū⟩ ≥ 0 and
‖Π⊥w‖ > 1 + ln(n)/α (exp) or 2n/(eα) (logistic), then ⟨Π⊥w, ∇R(w)⟩ ≥ 0 (Π⊥: the projection onto
ū^⊥; α from aligncheck.data.alpha). A search is evidence, not a proof: see sign_lemma_search."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize

from aligncheck.data.alpha import perp_basis
from aligncheck.data.maxmargin import MaxMargin
from aligncheck.numerics.losses import Loss, get_loss, risk_and_weights

# A violation of the sign lemma must be negative beyond the rounding of the sum it
# is computed from: |fl(s) − s| ≤ (n + d + 2)·eps·Σ_i q_i |⟨Π⊥w, z_i⟩| (Higham Thm 3.1
# for the dots and the sum, plus the rounding of q_i themselves, each relative
# O(eps)); SIGN_TOL_FACTOR = 16 on top covers the softmax weights' few-ulp errors and
# the dots. A second term covers the margins' absolute rounding error δ (it moves
# every q_i by a relative e^{2δ} − 1), see sign_lemma_quantity.
SIGN_TOL_FACTOR = 16.0

_EPS = float(np.finfo(np.float64).eps)


# The search keeps a = ⟨w, ū⟩ and ‖Π⊥w‖ below MAX_W_SCALE/max‖z_i‖ so that the margins'
# absolute rounding error δ ≈ (d+2)·eps·(a + ‖Π⊥w‖)·max‖z‖ stays ≲ 1e-8 (the softmax
# weights then carry relative error ≲ 1e-8, and a sign read off them is trustworthy).
# Larger a adds nothing: once a·(gap of ⟨ū, z⟩ between SV and non-SV) ≫ 1 the weights
# are already concentrated on the support vectors.
MAX_W_SCALE = 1e6


# The counterexample search's cost bound, in point evaluations (one evaluation of the objective
# is a dozen passes over the n points: 6-19 ns per point measured, d = 5 and 10). Unbounded, the
# search makes 17,000-19,000 evaluations (200 random starts, 8 Nelder–Mead runs of up to
# 300·(d+1) iterations; measured on d = 5), so the budget never binds below n ≈ 5e4 (every
# problem the suite draws has n ≤ 1e4: the same search, bit for bit) and at n = 1e5 it leaves
# 10,000 evaluations, 7-19 s.
SIGN_SEARCH_POINT_BUDGET = 1e9


# The most evaluations an unbounded search was measured to make (d = 5, n = 1e5: 17,097-18,752).
SIGN_SEARCH_NATURAL_EVALS = 19_000


def sign_lemma_threshold(loss_name: str, n: int, alpha: float) -> float:
    """1 + ln(n)/α (exp) or 2n/(eα) (logistic); +inf when α ≤ 0."""
    if not alpha > 0:
        return math.inf
    if loss_name == "exp":
        return 1.0 + math.log(n) / alpha
    if loss_name == "logistic":
        return 2.0 * n / (math.e * alpha)
    raise ValueError(f"unknown loss {loss_name!r}")


def sign_lemma_quantity(
    Z: np.ndarray, u_bar: np.ndarray, loss: Loss, a: float, p: np.ndarray
) -> tuple[float, float, float]:
    """(s, s_normalised, tol) at w = a ū + p (p ⊥ ū), with s = ⟨p, ∇log R(w)⟩ = −Σ q_i ⟨p, z_i⟩.

    w is passed as (a, p) so that Π⊥w = p is never formed by the cancelling
    subtraction w − ⟨w, ū⟩ū. sign(s) = sign(⟨Π⊥w, ∇R(w)⟩) since ∇R = R ∇log R, R > 0.
    s_normalised = s/(‖p‖‖∇log R‖) ∈ [−1, 1]. tol bounds |fl(s) − s| (see SIGN_TOL_FACTOR
    and the margin term below); it grows with a and ‖p‖ because the margins' absolute rounding
    error does.
    """
    n, d = Z.shape
    zu = Z @ u_bar
    s, sn, proj, q = _sign_parts(Z, zu, loss, a, p)
    # absolute rounding error of each margin (Higham Thm 3.1 with room): it perturbs each
    # q_i by a relative factor ≤ e^{2δ} − 1 (numerator and normaliser both move by ≤ δ)
    delta = 2.0 * (d + 2) * _EPS * float(np.max(abs(a) * np.abs(zu) + np.abs(Z) @ np.abs(p)))
    mass = float(q @ np.abs(proj))
    tol = SIGN_TOL_FACTOR * (n + d + 2) * _EPS * mass + 2.0 * math.expm1(2.0 * delta) * mass
    return s, sn, tol


def _sign_parts(Z: np.ndarray, zu: np.ndarray, loss: Loss, a: float, p: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(s, s_normalised, ⟨p, z_i⟩, q) of :func:`sign_lemma_quantity`, with zu = Z ū given (the search
    evaluates this ~20,000 times on the same data: ū's dots and the rounding bound, needed only
    for the final point, are not recomputed each time)."""
    proj = Z @ p
    margins = a * zu + proj
    _, q = risk_and_weights(loss, margins)
    q = np.asarray(q, dtype=np.float64)
    s = -float(q @ proj)
    g = -(q @ Z)
    denom = float(np.linalg.norm(p) * np.linalg.norm(g))
    return s, (s / denom if denom > 0 else 0.0), proj, q


@dataclass(frozen=True, eq=False)
class SignLemmaResult:
    """Outcome of the counterexample search.

    min_value: the smallest normalised ⟨Π⊥w, ∇log R⟩/(‖Π⊥w‖‖∇log R‖) found (∈ [−1, 1]).
    violated: some w in the region had ⟨Π⊥w, ∇R⟩ < −tol (tol: rounding bound of that w).
    min_value is nan where nothing was searched: ``applicable`` False where the lemma says
    nothing, True where the region could not be searched (the threshold beyond the trustworthy
    range, or no searched point inside it).
    w: (d,) the minimiser found (= a·ū + perp).  raw: unnormalised ⟨Π⊥w, ∇log R⟩ at w; tol its rounding bound.
    threshold: the ‖Π⊥w‖ bound used.  evaluations: objective evaluations.  reason: one line.
    """

    min_value: float
    violated: bool
    w: np.ndarray
    raw: float
    tol: float
    threshold: float
    evaluations: int
    reason: str
    a: float = math.nan  # ⟨w, ū⟩ of the minimiser
    perp: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Π⊥w, formed without cancellation
    budget_cut: bool = False  # the search stopped at its point-evaluation budget (see its reason)
    applicable: bool = True  # False where the lemma says nothing (d = 1, or no finite threshold)


def sign_lemma_search(
    Z: np.ndarray,
    mm: MaxMargin,
    loss: Loss | str,
    alpha: float,
    *,
    seed: int,
    tries: int = 200,
    threshold: float | None = None,
    local: int = 8,
    point_budget: float = SIGN_SEARCH_POINT_BUDGET,
) -> SignLemmaResult:
    """Search for w with ⟨w, ū⟩ ≥ 0, ‖Π⊥w‖ > threshold and ⟨Π⊥w, ∇R(w)⟩ < 0.

    threshold defaults to sign_lemma_threshold(loss, n, alpha); pass 0 to drop the
    norm condition (negative control). Region parametrisation: w = a ū + r ξ, a ≥ 0,
    ξ a unit vector of ū^⊥, r > threshold. Stage 1: `tries` random points (ξ uniform
    on the sphere of ū^⊥; r = threshold·(1 + E) + (spread) and a ∈ {0, log-uniform}).
    Stage 2: Nelder–Mead from the `local` best of them on the unconstrained
    parameters (log a, log(r − threshold), ξ unnormalised), minimising the normalised
    quantity. Not a proof of absence: a search that finds nothing is evidence only.
    Cost: at most ``point_budget`` point evaluations (evaluations × n, see
    SIGN_SEARCH_POINT_BUDGET); a search cut by it says so, and how far it got, in its reason.
    """
    loss = get_loss(loss) if isinstance(loss, str) else loss
    Z = np.asarray(Z, dtype=np.float64)
    n, d = Z.shape
    u = mm.u_bar
    T = sign_lemma_threshold(loss.name, n, alpha) if threshold is None else float(threshold)
    if d == 1 or not math.isfinite(T):
        return SignLemmaResult(math.nan, False, np.zeros(d), math.nan, 0.0, T, 0,
                               "not applicable: " + ("d = 1 (Π⊥w = 0)" if d == 1 else "α ≤ 0, no finite threshold"), applicable=False)
    B = perp_basis(u)
    k = d - 1
    rng = np.random.default_rng(seed)
    zmax = float(np.max(np.linalg.norm(Z, axis=1)))
    cap = MAX_W_SCALE / zmax
    if not T < cap:
        return SignLemmaResult(math.nan, False, np.zeros(d), math.nan, 0.0, T, 0,
                               f"inconclusive: threshold {T:.3g} beyond the trustworthy range {cap:.3g}")
    base = max(T, 1.0)
    zu = Z @ u
    max_evals = max(1, int(point_budget // n))
    evals = 0
    run_best: list = [math.inf, None]  # the best (value, θ) of the current Nelder–Mead run

    def build(theta: np.ndarray) -> tuple[float, np.ndarray] | None:
        la, lr, c = theta[0], theta[1], theta[2:]
        nc = np.linalg.norm(c)
        if not nc > 0:
            return None
        a = math.exp(min(la, 700.0)) if la > -700 else 0.0
        # r − T ≥ 1e-9·base keeps ‖Π⊥w‖ strictly above T after rounding (the region is open)
        r = T + base * math.exp(min(max(lr, -20.7), 700.0))
        if a > cap or r > cap:
            return None
        return a, r * (B @ (c / nc))

    def objective(theta: np.ndarray) -> float:
        nonlocal evals
        ap = build(theta)
        if ap is None:
            return 2.0  # outside the searched region: worse than any value in [−1, 1]
        if evals >= max_evals:
            raise _BudgetSpent
        evals += 1
        _, sn, _, _ = _sign_parts(Z, zu, loss, *ap)
        value = sn if math.isfinite(sn) else 2.0
        if value < run_best[0]:
            run_best[:] = [value, np.array(theta)]
        return value

    starts = []
    cut = ""
    try:
        for t in range(tries):
            c = rng.standard_normal(k)
            # a = 0 exactly for a third of the starts, else log-uniform over [1e-3, 10·base]
            la = -800.0 if t % 3 == 0 else rng.uniform(math.log(1e-3), math.log(10 * base))
            lr = rng.uniform(math.log(1e-6), math.log(4.0))
            theta = np.concatenate([[la, lr], c])
            starts.append((objective(theta), theta))
    except _BudgetSpent:
        cut = f"{len(starts)} of {tries} random starts, no local search"
    starts.sort(key=lambda p: p[0])
    best_val, best_theta = starts[0]
    done = 0
    for _, theta in starts[:local] if not cut else []:
        theta = theta.copy()
        if theta[0] < -700:
            theta[0] = math.log(1e-6)  # Nelder–Mead needs a finite coordinate; a ≈ 0
        run_best[:] = [math.inf, None]
        try:
            res = scipy.optimize.minimize(objective, theta, method="Nelder-Mead",
                                          options={"maxiter": 300 * (k + 2), "xatol": 1e-9, "fatol": 1e-12})
        except _BudgetSpent:  # the run's best point so far stands in for its result
            if run_best[0] < best_val:
                best_val, best_theta = run_best
            cut = f"all {tries} random starts, {done} of {min(local, len(starts))} local searches completed"
            break
        done += 1
        if res.fun < best_val:
            best_val, best_theta = float(res.fun), res.x
    if build(best_theta) is None:  # no start (and no search) fell inside the region, e.g. data so large that cap < 1e-3
        return SignLemmaResult(math.nan, False, np.zeros(d), math.nan, 0.0, T, evals,
                               f"inconclusive: no searched point inside the region (‖w‖ ≤ {cap:.3g}, ‖Π⊥w‖ > {T:.3g}): the data are too large for the search's scales")
    a, p = build(best_theta)
    s, sn, tol = sign_lemma_quantity(Z, u, loss, a, p)
    w = a * u + p
    p_norm = float(np.linalg.norm(p))
    violated = bool(a >= 0 and p_norm > T and s < -tol)
    if violated:
        reason = (f"counterexample: ⟨w,ū⟩ = {a:.6g} ≥ 0, ‖Π⊥w‖ = {p_norm:.6g} > {T:.6g}, "
                  f"⟨Π⊥w, ∇log R⟩ = {s:.3g} < −{tol:.2g} (normalised {sn:.3g})")
    else:
        searched = f"{evals} evaluations" if not cut else (
            f"{evals} evaluations over n = {n} points ({evals * n:.3g} point evaluations: the search's "
            f"budget of {point_budget:.3g}, spent on {cut})")
        reason = (f"no counterexample in {searched}: min normalised ⟨Π⊥w, ∇R⟩ = {sn:.3g} "
                  f"over ‖Π⊥w‖ > {T:.6g}, ⟨w,ū⟩ ∈ [0, {cap:.2g}] (search evidence, not a proof)")
    return SignLemmaResult(float(sn), violated, w, float(s), float(tol), T, evals, reason,
                           a=float(a), perp=p, budget_cut=bool(cut))


class _BudgetSpent(Exception):
    """The sign-lemma search used its point-evaluation budget (internal)."""
