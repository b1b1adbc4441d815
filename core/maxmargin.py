"""The hard-margin (max-margin) direction of separable data, with an exact certificate.

Conventions. Rows are z_i = y_i x_i (n×d float64). The max-margin direction is
ū = argmax_{‖u‖=1} min_i ⟨u, z_i⟩ with margin γ = min_i ⟨ū, z_i⟩ > 0, and

    ŵ = argmin ½‖w‖²  s.t.  Z w ≥ 1,      ŵ = ū/γ,   ‖ŵ‖ = 1/γ.

KKT: ŵ = Σ_i α_i z_i with α ≥ 0, Z ŵ ≥ 1, and α_i > 0 only where ⟨ŵ, z_i⟩ = 1.

Method. quadprog's dual active-set solver (Goldfarb–Idnani) gives a float
solution and its active set. That active set B is then *polished exactly* in
rationals with python-flint: α_B = (Z_B Z_Bᵀ)⁻¹ 1 and ŵ = Z_Bᵀ α_B are computed
exactly from the float64 entries of Z (every float64 is a rational), and the KKT
conditions are verified exactly: α_B ≥ 0, and ⟨ŵ, z_i⟩ ≥ 1 for every row (rows
whose float margin clears 1 by more than a rigorous rounding bound are accepted
in float, the rest are checked in rationals). If the guess fails (a negative
multiplier, a dependent or wrong active set) the exact fallback is Wolfe's
minimum-norm-point algorithm in rationals, since the max-margin problem is the
minimum-norm point of conv{z_i}: p* = ŵ/‖ŵ‖², γ = ‖p*‖. It runs on a small pool of
candidate rows, and the pool grows by any row that the exact check finds
violated, so the result is exact KKT for the float data whatever quadprog did.

Support vectors are reported with a relative tolerance (`SV_TOL`): data that
were built with exact support vectors in real arithmetic (planted problems, the
Soudry et al. fixture) hold them only to rounding in float64, and the exact
optimum of the rounded data would make some of them miss the margin by 1e-16.
"""

from __future__ import annotations

from dataclasses import dataclass

import flint
import numpy as np
import quadprog

from core.errors import ProblemError

__all__ = [
    "Certificate",
    "MaxMargin",
    "NotSeparableError",
    "SV_TOL",
    "max_margin",
]

_EPS = float(np.finfo(np.float64).eps)

# A row is a support vector when its relative margin ⟨ŵ, z_i⟩ − 1 = ⟨ū, z_i⟩/γ − 1 is
# at most SV_TOL. Absorbs the float64 rounding of data whose support vectors are
# exact only in real arithmetic (a relative error of order eps·max‖z‖/γ ≈ 1e-16/γ),
# while every planted non-support point sits ≥ 0.05/γ above the margin.
SV_TOL = 1e-9

# Rows whose float margin under quadprog's solution is within POOL_TOL (relative) of
# 1 seed the exact fallback's candidate pool. Absorbs quadprog's own error
# (≈1e-15 relative on well-conditioned data) with a wide berth; a pool that is too
# small is repaired by the exact global check, so this only affects speed.
_POOL_TOL = 1e-6

# When quadprog reports infeasibility, data with at most this many entries are
# certified non-separable exactly (0 ∈ conv{z_i}, by Wolfe in rationals over all
# rows); larger data rely on quadprog's verdict. A cost bound, not a tolerance:
# the exact run took 0.2 s at 400×20 and 3.8 s at 800×50 on random data.
_EXACT_INFEASIBILITY_ENTRIES = 20_000


class NotSeparableError(ProblemError):
    """No w has ⟨w, z_i⟩ > 0 for every row (a ProblemError, so callers may catch either)."""


@dataclass(frozen=True)
class Certificate:
    """Float64 KKT residuals of the reported (ū, γ, α) and the exact-check verdict.

    `exact` is True when the KKT conditions were verified exactly in rationals for
    the float64 data. The float residuals re-measure the *rounded* outputs:
      primal_residual        max_i (1 − ⟨ŵ, z_i⟩)_+            (ŵ = ū/γ)
      min_alpha              min α_i over the support set        (must be ≥ −min_alpha_tol)
      stationarity_residual  ‖ŵ − Σ α_i z_i‖ / ‖ŵ‖
      complementarity_residual  max over α_i > 0 of |⟨ŵ, z_i⟩ − 1|
    Each *_tol is a rounding-error allowance, 4·(k + d + 2)·eps·max‖z_i‖/γ for the
    residuals (k = number of support vectors: the terms summed in Σ α_i z_i and
    ⟨ŵ, z_i⟩, each carrying relative error eps·max‖z‖·‖ŵ‖, with a factor 4 to spare),
    and 0 for min_alpha (α are roundings of exact non-negative rationals).
    """

    exact: bool
    primal_residual: float
    primal_tol: float
    min_alpha: float
    min_alpha_tol: float
    stationarity_residual: float
    stationarity_tol: float
    complementarity_residual: float
    complementarity_tol: float

    @property
    def failures(self) -> list[str]:
        """One short phrase per failed check (empty when the certificate holds)."""
        out = []
        if not self.exact:
            out.append("exact KKT check failed")
        if not self.primal_residual <= self.primal_tol:
            out.append(f"primal residual {self.primal_residual:.3g} > {self.primal_tol:.3g}")
        if not self.min_alpha >= -self.min_alpha_tol:
            out.append(f"min alpha {self.min_alpha:.3g} < {-self.min_alpha_tol:.3g}")
        if not self.stationarity_residual <= self.stationarity_tol:
            out.append(
                f"stationarity residual {self.stationarity_residual:.3g} > {self.stationarity_tol:.3g}"
            )
        if not self.complementarity_residual <= self.complementarity_tol:
            out.append(
                f"complementarity residual {self.complementarity_residual:.3g}"
                f" > {self.complementarity_tol:.3g}"
            )
        return out

    @property
    def ok(self) -> bool:
        """True when the exact check passed and every float residual is within its tolerance."""
        return not self.failures


@dataclass(frozen=True, eq=False)
class MaxMargin:
    """The max-margin solution of rows z_i (n×d).

    u_bar: (d,) unit max-margin direction ū.  gamma: margin γ = min_i ⟨ū, z_i⟩ > 0
    (in the units of z; it scales with the data).  support: sorted row indices with
    ⟨ū, z_i⟩/γ − 1 ≤ SV_TOL.  alpha: (len(support),) dual coefficients ≥ 0 with
    ŵ = ū/γ = Σ alpha[j] z_{support[j]}; when α is not unique (duplicated or
    dependent support vectors) this is a basic solution: positive only on a
    linearly independent subset, zero on the rest.  sv_rank, data_rank: numerical
    ranks of Z[support] and Z (SVD, numpy's default tolerance
    max(rows, d)·eps·σ_max).  sv_span_full: Assumption 2.7 (support vectors span
    R^d).  sv_span_data: its relaxed form (span of support vectors = span of data).
    """

    u_bar: np.ndarray
    gamma: float
    support: np.ndarray
    alpha: np.ndarray
    sv_span_full: bool
    sv_span_data: bool
    certificate: Certificate
    sv_rank: int
    data_rank: int

    @property
    def w_hat(self) -> np.ndarray:
        """ŵ = ū/γ, the minimum-norm w with Z w ≥ 1, shape (d,)."""
        return self.u_bar / self.gamma


# ---------------------------------------------------------------------------
# exact helpers


def _q(v: float) -> flint.fmpq:
    """The exact rational value of a float64."""
    return flint.fmpq(*v.as_integer_ratio())


def _qmat(a: np.ndarray) -> flint.fmpq_mat:
    """Exact rational copy of a 2-D float64 array."""
    r, c = a.shape
    return flint.fmpq_mat(r, c, [_q(v) for v in a.ravel().tolist()])


def _to_float(q: flint.fmpq) -> float:
    """Correctly rounded float64 of a rational (Python's int/int division rounds correctly)."""
    return int(q.p) / int(q.q)


def _independent_rows(Z: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The rows of Z[order] kept by a greedy exact scan: each is kept if it is not in
    the span of the rows kept before it. Returns the kept indices (into Z), in order."""
    if len(order) == 0:
        return order
    R, rank = _qmat(Z[order].T).rref()
    pivots = []
    for r in range(rank):
        for c in range(R.ncols()):
            if R[r, c] != 0:
                pivots.append(c)
                break
    return order[np.asarray(pivots, dtype=np.intp)]


@dataclass
class _Exact:
    """An exact KKT check of a candidate basis B (internal)."""

    ok: bool
    reason: str
    basis: np.ndarray
    alpha: list  # fmpq, one per basis row
    w: list  # fmpq, length d
    w_f: np.ndarray
    margins: np.ndarray
    violators: np.ndarray


def _exact_check(Z: np.ndarray, basis: np.ndarray) -> _Exact:
    """Solve Z_B Z_Bᵀ α = 1 exactly, set ŵ = Z_Bᵀ α, and verify α ≥ 0 and Z ŵ ≥ 1 exactly.

    Rows whose float margin exceeds 1 by more than a rigorous bound on the float
    error are accepted without rational arithmetic; the rest (the near-active rows,
    deduplicated) are checked exactly.
    """
    n, d = Z.shape
    empty = np.zeros(0, dtype=np.intp)

    def fail(reason: str, violators: np.ndarray = empty) -> _Exact:
        return _Exact(False, reason, basis, [], [], np.zeros(d), np.zeros(n), violators)

    k = len(basis)
    if k == 0:
        return fail("empty active set")
    ZB = _qmat(Z[basis])
    try:
        a = (ZB * ZB.transpose()).solve(flint.fmpq_mat(k, 1, [1] * k))
    except ZeroDivisionError:
        return fail("dependent active set")
    alpha = [a[i, 0] for i in range(k)]
    if any(v < 0 for v in alpha):
        return fail("negative multiplier")
    wq = ZB.transpose() * a
    w = [wq[i, 0] for i in range(d)]
    w_f = np.array([_to_float(v) for v in w])
    margins = Z @ w_f
    # Rigorous bound on |fl(⟨z_i, w_f⟩) − ⟨z_i, ŵ⟩|: rounding ŵ to w_f (u·|z|ᵀ|ŵ|) plus a
    # float dot product in any summation order, FMA or not (γ_d·|z|ᵀ|w_f|, Higham
    # Thm 3.1), u = eps/2. (d + 2)·u·|z|ᵀ|w_f| covers both; the factor 4 on top
    # covers the rounding in computing the bound itself.
    bound = 2.0 * (d + 2) * _EPS * (np.abs(Z) @ np.abs(w_f))
    near = np.flatnonzero(margins - 1.0 <= bound)
    rows, inverse = np.unique(Z[near], axis=0, return_inverse=True)
    exact_m = _qmat(rows) * wq
    bad = [r for r in range(rows.shape[0]) if exact_m[r, 0] < 1]
    if bad:
        viol = near[np.isin(inverse.ravel(), bad)]
        return fail("primal infeasible", viol)
    return _Exact(True, "", basis, alpha, w, w_f, margins, empty)


class _OriginInHull(Exception):
    """Wolfe found p* = 0: args[0] is a corral (pool indices) whose hull holds the origin."""


def _affine_min_norm(PC: flint.fmpq_mat) -> list:
    """Weights μ (Σμ = 1) of the minimum-norm point of the affine hull of the rows of PC, exactly.

    With G = PC PCᵀ: μ = G⁻¹1 / 1ᵀG⁻¹1 when the rows are linearly independent; the
    bordered system [[G, 1], [1ᵀ, 0]] otherwise (rows affinely independent with 0
    in their affine hull, which happens only for non-separable data).
    """
    k = PC.nrows()
    G = PC * PC.transpose()
    if k <= PC.ncols():  # more rows than columns are dependent: skip the doomed solve
        try:
            s = G.solve(flint.fmpq_mat(k, 1, [1] * k)).entries()
            total = sum(s, flint.fmpq(0))
            return [v / total for v in s]
        except ZeroDivisionError:
            pass
    g = G.entries()
    border = []
    for r in range(k):
        border += g[r * k : (r + 1) * k] + [1]
    border += [1] * k + [0]
    try:
        mu = flint.fmpq_mat(k + 1, k + 1, border).solve(flint.fmpq_mat(k + 1, 1, [0] * k + [1]))
    except ZeroDivisionError:
        raise ProblemError("max-margin solver: affinely dependent corral (internal error)") from None
    return mu.entries()[:k]


def _wolfe(Zp: np.ndarray, start: list[int] | None, start_weights: list | None) -> list[int]:
    """Wolfe's minimum-norm-point algorithm on conv(rows of Zp), in exact rationals.

    Returns the final corral (indices into Zp): affinely independent rows whose
    convex hull holds the minimum-norm point p* with positive weights. A warm
    start (linearly independent rows, positive rational weights summing to 1)
    begins with a minor cycle. Raises _OriginInHull (with the corral) if p* = 0 exactly.
    Finite in exact arithmetic (Wolfe 1976); each major cycle strictly lowers ‖p‖.
    """
    m, d = Zp.shape
    P = _qmat(Zp)
    flat = P.entries()
    rows = [flat[i * d : (i + 1) * d] for i in range(m)]  # exact rows, converted once

    def corral_matrix(C: list[int]) -> flint.fmpq_mat:
        return flint.fmpq_mat(len(C), d, [q for i in C for q in rows[i]])

    if start:
        C, lam = list(start), list(start_weights)
        minor_first = True
    else:
        C, lam = [int(np.argmin(np.einsum("ij,ij->i", Zp, Zp)))], [flint.fmpq(1)]
        minor_first = False
    max_major = 10 * (m + d) + 100  # generous: a guard against a bug, not a limit of the method
    for _ in range(max_major):
        if not minor_first:
            x = corral_matrix(C).transpose() * flint.fmpq_mat(len(C), 1, lam)
            xx = (x.transpose() * x)[0, 0]
            if xx == 0:
                raise _OriginInHull(C)
            g = (P * x).entries()
            j = min(range(m), key=g.__getitem__)
            if g[j] >= xx:
                return C
            if j in C:
                raise ProblemError(
                    "max-margin solver: Wolfe step revisited a corral point (internal error)"
                )
            C.append(j)
            lam.append(flint.fmpq(0))
        minor_first = False
        while True:  # minor cycle: move toward the affine minimiser of the corral
            mu = _affine_min_norm(corral_matrix(C))
            k = len(C)
            if all(v > 0 for v in mu):
                lam = mu
                break
            theta = min(lam[i] / (lam[i] - mu[i]) for i in range(k) if mu[i] <= 0)
            if theta == 0:
                raise ProblemError("max-margin solver: Wolfe minor cycle stalled (internal error)")
            lam = [lam[i] + theta * (mu[i] - lam[i]) for i in range(k)]
            keep = [i for i in range(k) if lam[i] != 0]
            C = [C[i] for i in keep]
            lam = [lam[i] for i in keep]
    raise ProblemError("max-margin solver: Wolfe iteration limit reached (internal error)")


def _exact_fallback(
    Z: np.ndarray, pool: np.ndarray, warm: np.ndarray, warm_weights: np.ndarray
) -> _Exact:
    """Exact max-margin by Wolfe on a pool of rows, growing the pool until the global check passes."""
    n = Z.shape[0]
    pool = np.unique(np.concatenate([pool, warm])).astype(np.intp)
    # warm start: quadprog's active rows with positive multipliers, kept independent
    keep = warm_weights > 0
    warm, warm_weights = warm[keep], warm_weights[keep]
    indep = _independent_rows(Z, warm)
    weights = dict(zip(warm.tolist(), warm_weights.tolist()))
    for _ in range(n + 1):
        pos = {int(i): p for p, i in enumerate(pool)}
        start = [pos[int(i)] for i in indep if int(i) in pos]
        if start:
            raw = [_q(weights[int(pool[p])]) for p in start]
            total = sum(raw, flint.fmpq(0))
            lam = [v / total for v in raw]
        else:
            lam = None
        try:
            corral = _wolfe(Z[pool], start or None, lam)
        except _OriginInHull as hit:
            rows = sorted(int(pool[i]) for i in hit.args[0])
            shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
            raise NotSeparableError(
                f"data are not linearly separable: 0 is a convex combination of rows {shown}"
            ) from None
        res = _exact_check(Z, np.sort(pool[corral]))
        if res.ok:
            return res
        if res.violators.size == 0:
            raise ProblemError(f"max-margin solver: exact check of Wolfe's corral failed ({res.reason})")
        indep = pool[corral]  # warm start from the previous corral (independent: γ > 0)
        weights = {int(i): 1.0 for i in indep}
        pool = np.union1d(pool, res.violators)
    raise ProblemError("max-margin solver: candidate pool stopped growing (internal error)")


def _quadprog(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """quadprog on min ½‖w‖² s.t. Zw ≥ 1.

    Returns (w, multipliers (n,), active rows, 0-based), or None if infeasible.
    """
    n, d = Z.shape
    # Exactly repeated rows repeat a constraint, and quadprog 0.1.14 can loop forever on them
    # (found: rows a, a, c with a = (-0.95, 0.26, 0.001), c = (0.001, 0.001, 0.001)). Each row is
    # passed once, in its first position; a repeat gets multiplier 0. Without repeats the call
    # is the one it always was.
    first = np.sort(np.unique(Z, axis=0, return_index=True)[1])
    try:
        w, _, _, _, lag_u, iact = quadprog.solve_qp(
            np.eye(d), np.zeros(d), np.ascontiguousarray(Z[first].T), np.ones(len(first))
        )
    except ValueError as exc:
        if "inconsistent" in str(exc):
            return None
        raise ProblemError(f"max-margin solver: quadprog failed: {' '.join(str(exc).split())}") from None
    act = np.asarray(iact, dtype=np.intp)
    act = first[act[act > 0] - 1]  # quadprog's active set is 1-based, 0-padded
    lag = np.zeros(n)
    lag[first] = lag_u
    return np.asarray(w, dtype=np.float64), lag, act


def _validate_rows(Z: np.ndarray) -> np.ndarray:
    """Z as an n×d float64 array of finite values, or ProblemError."""
    try:
        raw = np.asarray(Z)
    except (TypeError, ValueError):  # ragged nested sequences
        raise ProblemError("Z is not a numeric array") from None
    if raw.dtype.kind not in "iuf":  # bool, complex, str, object are not data
        raise ProblemError(f"Z is not a numeric array (dtype {raw.dtype})")
    Z = raw.astype(np.float64)
    if Z.ndim != 2:
        raise ProblemError(f"Z must be 2-D (n×d), got shape {Z.shape}")
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        raise ProblemError(f"Z is empty (shape {Z.shape})")
    bad = np.flatnonzero(~np.isfinite(Z).all(axis=1))
    if bad.size:
        raise ProblemError(f"Z row {bad[0]} contains a non-finite value")
    return Z


def max_margin(Z: np.ndarray, *, sv_tol: float = SV_TOL) -> MaxMargin:
    """The max-margin direction of rows Z (n×d, z_i = y_i x_i), with an exact KKT certificate.

    Any scale of Z is accepted (γ is in the units of z). sv_tol: relative margin
    slack for reporting a row as a support vector (see SV_TOL). Raises
    NotSeparableError (a ProblemError) when no w has Zw > 0, and ProblemError if
    the certificate fails.
    """
    Z = _validate_rows(Z)
    n, d = Z.shape
    qp = _quadprog(Z)
    if qp is None:
        if n * d > _EXACT_INFEASIBILITY_ENTRIES:
            raise NotSeparableError(
                "data are not linearly separable (quadprog: constraints are inconsistent)"
            )
        # certify exactly: Wolfe either finds 0 in conv{z_i} (raises) or a positive margin
        everything = np.arange(n, dtype=np.intp)
        res = _exact_fallback(Z, everything, np.zeros(0, np.intp), np.zeros(0))
    else:
        w_qp, lag, act = qp
        order = act[np.argsort(-lag[act], kind="stable")]
        res = _exact_check(Z, _independent_rows(Z, order))
        if not res.ok:
            pool = np.flatnonzero(Z @ w_qp - 1.0 <= _POOL_TOL)
            res = _exact_fallback(Z, pool, order, lag[order])
    return _assemble(Z, res, sv_tol)


def _assemble(Z: np.ndarray, res: _Exact, sv_tol: float) -> MaxMargin:
    """Round the exact solution to float64, classify support vectors, and certify the rounded output."""
    n, d = Z.shape
    wsq = sum((v * v for v in res.w), flint.fmpq(0))  # ‖ŵ‖² exactly
    gamma = 1.0 / np.sqrt(_to_float(wsq))
    u_bar = res.w_f / np.linalg.norm(res.w_f)
    support = np.union1d(np.flatnonzero(res.margins - 1.0 <= sv_tol), res.basis).astype(np.intp)
    alpha = np.zeros(len(support))
    alpha[np.searchsorted(support, res.basis)] = [_to_float(v) for v in res.alpha]

    sv_rank = int(np.linalg.matrix_rank(Z[support]))
    data_rank = int(np.linalg.matrix_rank(Z))

    # float re-measurement of the rounded outputs
    w_hat = u_bar / gamma
    m = Z @ w_hat
    scale = float(np.max(np.linalg.norm(Z, axis=1))) / gamma  # max‖z‖·‖ŵ‖ ≥ 1
    tol = float(4.0 * (len(support) + d + 2) * _EPS * scale)  # rounding allowance, see Certificate
    stat = float(np.linalg.norm(w_hat - alpha @ Z[support]) / np.linalg.norm(w_hat))
    pos = support[alpha > 0]
    cert = Certificate(
        exact=res.ok,
        primal_residual=float(np.max(np.maximum(1.0 - m, 0.0))),
        primal_tol=tol,
        min_alpha=float(alpha.min()),
        min_alpha_tol=0.0,
        stationarity_residual=stat,
        stationarity_tol=tol,
        complementarity_residual=float(np.max(np.abs(m[pos] - 1.0))) if pos.size else 0.0,
        complementarity_tol=tol,
    )
    if not cert.ok:
        raise ProblemError(f"max-margin certificate failed: {'; '.join(cert.failures)}")
    return MaxMargin(
        u_bar=u_bar,
        gamma=float(gamma),
        support=support,
        alpha=alpha,
        sv_span_full=sv_rank == d,
        sv_span_data=sv_rank == data_rank,
        certificate=cert,
        sv_rank=sv_rank,
        data_rank=data_rank,
    )
