"""python-flint's arb numbers as fast floating point for the high-precision backend
(aligncheck.numerics.backends.Mpmath with the arb kernels): exact conversions from and to mpmath's
mpf, and the dense solve of the late phase's Newton systems. Midpoints are what is used: the balls'
radii (rigorous error bounds) are not enclosures of anything reported here. Every function runs at
python-flint's process-wide precision: callers set it (Mpmath.arb_precision)."""

from __future__ import annotations

import flint
import mpmath
import numpy as np

from aligncheck.errors import ProblemError


def to_arb(x) -> flint.arb:
    """An mpf (or a Python number) as an exact arb (zero radius): its sign, mantissa and exponent."""
    if not isinstance(x, mpmath.mpf):
        return flint.arb(x)
    sign, man, exp, _ = x._mpf_
    if not man:
        if exp:  # mpmath's special values (inf, nan) have man = 0 and a non-zero exp code
            raise ProblemError(f"a non-finite entry {x} in a linear system")
        return flint.arb(0)
    return flint.arb(flint.arf((flint.fmpz(-int(man) if sign else int(man)), flint.fmpz(int(exp)))))


def from_arb(ctx: mpmath.ctx_mp.MPContext, x: flint.arb) -> mpmath.mpf:
    """The midpoint of an arb as an mpf of ``ctx`` (rounded to its precision)."""
    return ctx.mpf(tuple(int(v) for v in x.mid().man_exp()))


def arb_solve(ctx: mpmath.ctx_mp.MPContext, A: flint.arb_mat, b: np.ndarray) -> np.ndarray | None:
    """x with A x = b (b an object vector of mpf) by arb_mat_approx_solve (LU on the midpoints, a
    floating-point solve at the working precision), as mpf of ``ctx``; None where A is numerically
    singular (flint raises, or the solution is not finite)."""
    try:
        xm = A.solve(flint.arb_mat([[to_arb(v)] for v in np.asarray(b)]), algorithm="approx")
    except ZeroDivisionError:
        return None
    mids = [xm[i, 0] for i in range(len(b))]
    if not all(m.mid().is_finite() for m in mids):
        return None
    return np.array([from_arb(ctx, m) for m in mids], dtype=object)
