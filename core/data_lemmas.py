"""The data lemmas of Ji & Telgarsky (2019): the constant α and the sign lemma.

Claims (see shared/claims.md, "Claims: data lemmas"):

  data.alpha_positive  α := min_{ξ ⊥ ū, ‖ξ‖=1} max_{i ∈ SV} ⟨ξ, z_i⟩ > 0   (A2.7, almost all data)
  data.sign_lemma      ⟨w, ū⟩ ≥ 0 and ‖Π⊥w‖ > 1 + ln(n)/α (exp) or 2n/(eα) (logistic)
                       ⟹ ⟨Π⊥w, ∇R(w)⟩ ≥ 0

Computing α (no sampling). Let B (d×k, k = d−1) be an orthonormal basis of ū^⊥ and
p_i = Bᵀz_i (i ∈ SV) the projected support vectors in those coordinates. The KKT
conditions ū/γ = Σ α_i z_i (α ≥ 0) project to Σ α_i p_i = 0, so 0 ∈ Q := conv{p_i}
and α ≥ 0 always. Then α = min_{‖ξ‖=1} h_Q(ξ) (h_Q the support function):

* if the p_i do not span R^k (Assumption 2.7 fails: span(SV) = span(ū) ⊕ span(p_i)),
  a unit ξ orthogonal to every p_i gives α = 0;
* else Q is a full-dimensional polytope with 0 ∈ Q, α = distance from 0 to ∂Q
  = min over facets {x : aᵀx = b} (‖a‖ = 1, Q ⊆ {aᵀx ≤ b}) of b.
  Upper bound: the minimising facet normal ξ* gives max_i ⟨ξ*, p_i⟩ = b_min (measured
  directly from the data, so it is checkable by anyone). Lower bound: if the facets
  returned by qhull (triangulated, option Qt) are supporting (every point on the inner
  side, their own vertices on the hyperplane) and form a closed surface (every ridge
  shared by exactly two facets), their union is all of ∂Q (a closed (k−1)-cycle in the
  sphere ∂Q is the whole sphere), so every unit ξ has h_Q(ξ) ≥ dist(0, ∂Q) ≥ b_min.
* k = 1: α = min(max_i p_i, max_i (−p_i)) directly.
* d = 1: ū^⊥ = {0}; α is a min over an empty set, the claim is vacuous (not applicable).

Sign lemma search: see `sign_lemma_search`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.spatial import ConvexHull, QhullError

from core.losses import Loss, get_loss, risk_and_weights
from core.maxmargin import MaxMargin
from core.verdicts import Status, Verdict

__all__ = [
    "AlphaResult",
    "SignLemmaResult",
    "alpha",
    "alpha_verdict",
    "perp_basis",
    "sign_lemma_quantity",
    "sign_lemma_search",
    "sign_lemma_threshold",
    "sign_lemma_verdict",
]

_EPS = float(np.finfo(np.float64).eps)

# Tolerance on geometric float quantities, relative to the data scale S = max_i ‖p_i‖
# (absolute tolerance HULL_REL_TOL·S). It absorbs (a) the rounding of p_i = Bᵀz_i and of
# ⟨a, p_i⟩ (≈ d·eps·S each) and (b) qhull's own precision: with the default options
# (Qbb Qc Qz, Qt) qhull guarantees its facets up to its "distance roundoff", a few
# hundred eps·S for the small dimensions here. 1e-11 ≈ 45000·eps leaves a wide berth
# yet is far below any α worth reporting (the planted problems give α ≳ 1e-2).
HULL_REL_TOL = 1e-11

# A violation of the sign lemma must be negative beyond the rounding of the sum it
# is computed from: |fl(s) − s| ≤ (n + d + 2)·eps·Σ_i q_i |⟨Π⊥w, z_i⟩| (Higham Thm 3.1
# for the dots and the sum, plus the rounding of q_i themselves, each relative
# O(eps)); SIGN_TOL_FACTOR = 16 on top covers the softmax weights' few-ulp errors and
# the dots. A second term covers the margins' absolute rounding error δ (it moves
# every q_i by a relative e^{2δ} − 1), see sign_lemma_quantity.
SIGN_TOL_FACTOR = 16.0

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


@dataclass(frozen=True, eq=False)
class AlphaResult:
    """α of the support vectors with a certificate.

    alpha: the reported value (the minimising facet distance, ≥ 0; nan when not applicable).
    xi: (d,) unit vector ⊥ ū with max_{i∈SV} ⟨xi, z_i⟩ = upper (the checkable upper bound);
        empty when not applicable.
    positive: α > 0 certified, i.e. lower > 0 (lower bound beyond the tolerance).
    reason: one line.
    lower, upper: certified bounds lower ≤ α ≤ upper (lower already net of tol).
    tol: the absolute tolerance used (HULL_REL_TOL · max‖p_i‖).
    applicable: False only for d = 1 (ū^⊥ = {0}).
    """

    alpha: float
    xi: np.ndarray
    positive: bool
    reason: str
    lower: float = float("nan")
    upper: float = float("nan")
    tol: float = 0.0
    applicable: bool = True


def perp_basis(u_bar: np.ndarray) -> np.ndarray:
    """An orthonormal basis of ū^⊥, shape (d, d−1)."""
    u = np.asarray(u_bar, dtype=np.float64)
    return scipy.linalg.null_space(u[None, :] / np.linalg.norm(u))


def _upper(xi: np.ndarray, Zs: np.ndarray) -> float:
    return float(np.max(Zs @ xi))


def alpha(Z: np.ndarray, mm: MaxMargin) -> AlphaResult:
    """α := min_{ξ ⊥ ū, ‖ξ‖=1} max_{i ∈ mm.support} ⟨ξ, z_i⟩, with a certificate (see the module doc)."""
    Z = np.asarray(Z, dtype=np.float64)
    d = Z.shape[1]
    u = mm.u_bar
    if d == 1:
        return AlphaResult(float("nan"), np.zeros(0), False,
                           "not applicable: d = 1, so ū^⊥ = {0} and α is a min over an empty set",
                           applicable=False)
    Zs = Z[mm.support]
    B = perp_basis(u)
    k = d - 1
    P = Zs @ B  # projected support vectors, coordinates in ū^⊥
    scale = max(float(np.max(np.linalg.norm(P, axis=1))), float(np.max(np.linalg.norm(Zs, axis=1))))
    tol = HULL_REL_TOL * scale

    def unit(c: np.ndarray) -> np.ndarray:
        xi = B @ c
        xi = xi - (xi @ u) * u
        return xi / np.linalg.norm(xi)

    # span check (Assumption 2.7 restricted to ū^⊥)
    _, s, Vt = np.linalg.svd(P, full_matrices=True)
    rank_tol = max(P.shape) * _EPS * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > max(rank_tol, tol)))
    if rank < k:
        c = Vt[-1]
        cands = [unit(c), unit(-c)]
        ups = [_upper(x, Zs) for x in cands]
        j = int(np.argmin(ups))
        return AlphaResult(0.0, cands[j], False,
                           f"α = 0: the projected support vectors span only {rank} of the {k} dimensions of ū^⊥ "
                           f"(support vectors span {rank + 1} < d = {d}: Assumption 2.7 fails); "
                           f"ξ ⊥ all of them gives max ⟨ξ, z_i⟩ = {ups[j]:.3g}",
                           lower=0.0, upper=ups[j], tol=tol)

    if k == 1:
        p = P[:, 0]
        cands = [(float(np.max(p)), 1.0), (float(np.max(-p)), -1.0)]
        b, sgn = min(cands)
        xi = unit(np.array([sgn]))
        up = _upper(xi, Zs)
        lower = b - tol
        a_val = max(b, 0.0)
        if lower > 0:
            return AlphaResult(a_val, xi, True,
                               f"α = {a_val:.6g} > 0 (d = 2: min over ξ = ±e of max ⟨ξ, p_i⟩)",
                               lower=lower, upper=up, tol=tol)
        return AlphaResult(a_val, xi, False,
                           f"α = {a_val:.3g} ≤ tol {tol:.2g}: the projected support vectors lie on one side of 0",
                           lower=max(lower, 0.0), upper=up, tol=tol)

    try:
        hull = ConvexHull(P)
    except QhullError as exc:
        msg = " ".join(str(exc).split())[:200]
        return AlphaResult(float("nan"), np.zeros(d), False, f"α undetermined: qhull failed ({msg})",
                           tol=tol)
    normals = hull.equations[:, :-1]
    offsets = -hull.equations[:, -1]  # facet: ⟨a, x⟩ = b, Q ⊆ {⟨a, x⟩ ≤ b}, ‖a‖ = 1
    j = int(np.argmin(offsets))
    b = float(offsets[j])
    xi = unit(normals[j])
    up = _upper(xi, Zs)

    # certificate checks for the lower bound (see the module doc)
    problems = []
    side = P @ normals.T - offsets[None, :]  # (m, facets) ≤ 0 inside
    if np.max(side) > tol:
        problems.append(f"a point lies {np.max(side):.3g} outside a facet")
    on = np.abs(np.take_along_axis(side.T, hull.simplices, axis=1))
    if np.max(on) > tol:
        problems.append(f"a facet vertex lies {np.max(on):.3g} off its hyperplane")
    nb = hull.neighbors
    if np.any(nb < 0):
        problems.append("a facet without a neighbour (surface not closed)")
    else:
        for f in range(len(nb)):
            for g in nb[f]:
                if f not in nb[g] or len(set(hull.simplices[f]) & set(hull.simplices[g])) != k - 1:
                    problems.append("facet adjacency is not a closed simplicial surface")
                    break
            if problems and problems[-1].startswith("facet adjacency"):
                break
    if problems:
        return AlphaResult(max(b, 0.0), xi, False,
                           f"α ≤ {up:.3g} (upper bound holds) but the hull certificate failed: {'; '.join(problems)}",
                           lower=0.0, upper=up, tol=tol)
    lower = b - tol
    a_val = max(b, 0.0)
    if lower > 0:
        return AlphaResult(a_val, xi, True,
                           f"α = {a_val:.6g} > 0: distance from 0 to the nearest facet of conv(Π⊥ SV) "
                           f"(certified in [{lower:.6g}, {up:.6g}])",
                           lower=lower, upper=up, tol=tol)
    return AlphaResult(a_val, xi, False,
                       f"α = {a_val:.3g} ≤ tol {tol:.2g}: 0 lies on the boundary of conv(Π⊥ SV) "
                       f"(a support vector with zero dual weight, or degenerate data)",
                       lower=max(lower, 0.0), upper=up, tol=tol)


def alpha_verdict(res: AlphaResult) -> Verdict:
    """The data.alpha_positive verdict for an AlphaResult."""
    if not res.applicable:
        status = Status.NOT_APPLICABLE
    elif res.positive:
        status = Status.HOLDS
    elif math.isnan(res.alpha) or res.upper > res.tol:
        status = Status.INCONCLUSIVE  # certificate failed: neither positive nor zero shown
    else:
        status = Status.VIOLATED  # α = 0 within tolerance (expected when A2.7 fails)
    return Verdict("data.alpha_positive", status, None if math.isnan(res.alpha) else res.alpha, 0.0, res.reason)


# ---------------------------------------------------------------------------
# sign lemma


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
                               "not applicable: " + ("d = 1 (Π⊥w = 0)" if d == 1 else "α ≤ 0, no finite threshold"))
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


def sign_lemma_verdict(res: SignLemmaResult) -> Verdict:
    """The data.sign_lemma verdict for a search: violated on a counterexample, else holds (search-based)."""
    if math.isnan(res.min_value):
        status = Status.NOT_APPLICABLE
    elif res.violated:
        status = Status.VIOLATED
    else:
        status = Status.HOLDS
    return Verdict("data.sign_lemma", status, res.min_value, 0.0, res.reason)
