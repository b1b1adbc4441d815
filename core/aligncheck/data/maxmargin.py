"""The hard-margin (max-margin) direction of separable data, with an exact certificate.

Conventions. Rows are z_i = y_i x_i (n×d float64). The max-margin direction is
ū = argmax_{‖u‖=1} min_i ⟨u, z_i⟩ with margin γ = min_i ⟨ū, z_i⟩ > 0, and

    ŵ = argmin ½‖w‖²  s.t.  Z w ≥ 1,      ŵ = ū/γ,   ‖ŵ‖ = 1/γ.

KKT: ŵ = Σ_i α_i z_i with α ≥ 0, Z ŵ ≥ 1, and α_i > 0 only where ⟨ŵ, z_i⟩ = 1.

Method. quadprog's dual active-set solver (Goldfarb–Idnani) gives a float
solution and its active set. That active set B is first checked in ball arithmetic
(aligncheck.data.ball_kkt: when the balls decide every KKT condition and every
rounding, the result is the exact one, bit for bit); otherwise it is *polished exactly* in
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

import numpy as np
import quadprog

from aligncheck.data.ball_kkt import ball_check
from aligncheck.data.exact import (
    _Exact,
    _exact_check,
    _exact_fallback,
    _independent_rows,
)
from aligncheck.errors import NotSeparableError, ProblemError

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
                "quadprog found the constraints ⟨w, z_i⟩ ≥ 1 inconsistent"
            )
        # certify exactly: Wolfe either finds 0 in conv{z_i} (raises) or a positive margin
        everything = np.arange(n, dtype=np.intp)
        res = _exact_fallback(Z, everything, np.zeros(0, np.intp), np.zeros(0))
    else:
        w_qp, lag, act = qp
        order = act[np.argsort(-lag[act], kind="stable")]
        res = ball_check(Z, order) or _exact_check(Z, _independent_rows(Z, order))
        if not res.ok:
            pool = np.flatnonzero(Z @ w_qp - 1.0 <= _POOL_TOL)
            res = _exact_fallback(Z, pool, order, lag[order])
    return _assemble(Z, res, sv_tol)


def _assemble(Z: np.ndarray, res: _Exact, sv_tol: float) -> MaxMargin:
    """Round the exact solution to float64, classify support vectors, and certify the rounded output."""
    n, d = Z.shape
    gamma = 1.0 / np.sqrt(res.wsq_f)  # ‖ŵ‖² correctly rounded
    u_bar = res.w_f / np.linalg.norm(res.w_f)
    support = np.union1d(np.flatnonzero(res.margins - 1.0 <= sv_tol), res.basis).astype(np.intp)
    alpha = np.zeros(len(support))
    alpha[np.searchsorted(support, res.basis)] = res.alpha_f

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
