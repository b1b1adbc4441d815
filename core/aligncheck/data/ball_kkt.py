"""The max-margin certificate's fast path: the KKT conditions of quadprog's active set checked in ball
arithmetic (python-flint arb), with the rational check of aligncheck.data.exact as the fallback.

For an active set B of linearly independent rows, the exact candidate is α_B = (Z_B Z_Bᵀ)⁻¹1,
ŵ = Z_Bᵀα_B. Balls at BITS bits enclose α_B, ŵ and the margins ⟨z_i, ŵ⟩. The candidate is the
exact optimum, and the check succeeds, when the balls decide every condition: Z_B Z_Bᵀ certified
nonsingular (so B is independent), every α_i > 0, every other row's margin > 1 (rows equal to a
row of B have margin exactly 1 and are skipped; rows whose float margin clears 1 by more than a
rigorous rounding bound are accepted in float, as in the rational check), and the float64
outputs (α, ŵ, ‖ŵ‖²) correctly rounded, i.e. both ends of each ball round to the same float. Then
the result is the one the rational check returns, bit for bit. Anything the balls leave
undecided (a ball that contains 0 or 1, a dependent or degenerate active set, an output on a
rounding boundary) returns None, and the caller runs the rational check as before.

Measured (README, Benchmarks): the rational solve and the conversion of Z_B to rationals were
~80 % of max_margin's time at d = 50.
"""

from __future__ import annotations

import numpy as np
from flint import arb, arb_mat

from aligncheck.data.exact import _Exact, _rounding_bound
from aligncheck.numerics.balls import nearest_float, working_precision

# Working precision of the balls: the entries of Z_B Z_Bᵀ are exact to ~106 bits, and α carries
# ~log2(cond) bits of loss; 128 leaves ~100 bits to decide signs and roundings at cond ≤ 1e8.
BITS = 128


def ball_check(Z: np.ndarray, basis: np.ndarray) -> _Exact | None:
    """The exact KKT check of ``basis`` (row indices of Z, n×d) decided in balls, or None when the
    balls do not decide it (see the module docstring)."""
    n, d = Z.shape
    k = len(basis)
    if k == 0 or k > d:
        return None
    with working_precision(BITS):
        ZB = arb_mat(Z[basis].tolist())  # float → arb is exact
        G = ZB * ZB.transpose()
        try:
            a = G.solve(arb_mat(k, 1, [1] * k), nonstop=True)
        except ZeroDivisionError:
            return None
        alpha = [a[i, 0] for i in range(k)]
        if not all(v.is_finite() and v > 0 for v in alpha):  # undecided, singular (NaN) or negative
            return None
        w = ZB.transpose() * a
        w_b = [w[i, 0] for i in range(d)]
        w_f = [nearest_float(v) for v in w_b]
        alpha_f = [nearest_float(v) for v in alpha]
        wsq_f = nearest_float(sum((v * v for v in w_b), arb(0)))
        if any(v is None for v in (*w_f, *alpha_f, wsq_f)):
            return None
        w_f = np.array(w_f)
        margins = Z @ w_f
        near = np.flatnonzero(margins - 1.0 <= _rounding_bound(Z, w_f))
        rows = np.unique(Z[near], axis=0)
        basis_rows = {tuple(r) for r in Z[basis].tolist()}
        others = [r for r in rows.tolist() if tuple(r) not in basis_rows]  # a copy of a basis row: margin exactly 1
        if others:
            m = arb_mat(others) * w
            if not all(m[i, 0] > 1 for i in range(len(others))):  # on the margin, below it, or undecided
                return None
    return _Exact(True, "", np.asarray(basis, dtype=np.intp), [], [], w_f, margins, np.zeros(0, dtype=np.intp),
                  alpha_f=np.array(alpha_f), wsq_f=float(wsq_f))
