"""Exact rational arithmetic (python-flint fmpq_mat) behind the max-margin certificate of
aligncheck.data.maxmargin: every float64 is an exact rational, so the KKT conditions of a
candidate active set are checked exactly, and a degenerate active set is resolved by an exact
minimum-norm point computation (Wolfe's method in rationals)."""

from __future__ import annotations

from dataclasses import dataclass

import flint
import numpy as np

from aligncheck.errors import NotSeparableError
from aligncheck.errors import ProblemError

_EPS = float(np.finfo(np.float64).eps)


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
    alpha_f: np.ndarray | None = None  # α and ‖ŵ‖², correctly rounded to float64
    wsq_f: float | None = None

    def __post_init__(self) -> None:
        if self.alpha_f is None and self.ok:
            self.alpha_f = np.array([_to_float(v) for v in self.alpha])
            self.wsq_f = _to_float(sum((v * v for v in self.w), flint.fmpq(0)))


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
    near = np.flatnonzero(margins - 1.0 <= _rounding_bound(Z, w_f))
    rows, inverse = np.unique(Z[near], axis=0, return_inverse=True)
    exact_m = _qmat(rows) * wq
    bad = [r for r in range(rows.shape[0]) if exact_m[r, 0] < 1]
    if bad:
        viol = near[np.isin(inverse.ravel(), bad)]
        return fail("primal infeasible", viol)
    return _Exact(True, "", basis, alpha, w, w_f, margins, empty)


def _rounding_bound(Z: np.ndarray, w_f: np.ndarray) -> np.ndarray:
    """A rigorous bound on |fl(⟨z_i, w_f⟩) − ⟨z_i, ŵ⟩| per row, for w_f the rounding of ŵ: rounding
    ŵ to w_f (u·|z|ᵀ|ŵ|) plus a float dot product in any summation order, FMA or not
    (γ_d·|z|ᵀ|w_f|, Higham Thm 3.1), u = eps/2. (d + 2)·u·|z|ᵀ|w_f| covers both; the factor 4
    on top covers the rounding in computing the bound itself."""
    return 2.0 * (Z.shape[1] + 2) * _EPS * (np.abs(Z) @ np.abs(w_f))


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
                f"0 is a convex combination of z_i = y_i x_i for rows {shown}"
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
