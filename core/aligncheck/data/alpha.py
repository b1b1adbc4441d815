"""The constant α of Ji & Telgarsky (2019), computed and certified (the sign lemma that uses it is
in aligncheck.data.sign_lemma).

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

The sign lemma's search: aligncheck.data.sign_lemma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.spatial import ConvexHull, QhullError

from aligncheck.data.maxmargin import MaxMargin

__all__ = ["AlphaResult", "alpha", "perp_basis"]

_EPS = float(np.finfo(np.float64).eps)

# Tolerance on geometric float quantities, relative to the data scale S = max_i ‖p_i‖
# (absolute tolerance HULL_REL_TOL·S). It absorbs (a) the rounding of p_i = Bᵀz_i and of
# ⟨a, p_i⟩ (≈ d·eps·S each) and (b) qhull's own precision: with the default options
# (Qbb Qc Qz, Qt) qhull guarantees its facets up to its "distance roundoff", a few
# hundred eps·S for the small dimensions here. 1e-11 ≈ 45000·eps leaves a wide berth
# yet is far below any α worth reporting (the planted problems give α ≳ 1e-2).
HULL_REL_TOL = 1e-11


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


# ---------------------------------------------------------------------------
# sign lemma


