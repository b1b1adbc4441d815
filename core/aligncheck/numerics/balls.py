"""Ball arithmetic (python-flint arb) for the certificates of aligncheck.numerics.certify: exact
conversion of float64 and mpf values to balls, a precision context, endpoints rounded outward to
floats, and enclosures of Gram matrices, spectral norms and the top eigenpair (a Rayleigh
quotient with Temple's bound; the proofs are in aligncheck.numerics.certify's docstring)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import flint
import mpmath
import numpy as np
from flint import arb, arb_mat

from aligncheck.errors import ProblemError

MIN_PREC = 64  # below float64's 53 bits plus headroom the enclosures would be wider than float64


def to_arb(value: object) -> arb:
    """The exact arb of a finite binary rational: Python/numpy float or int, mpmath mpf, or an exact arb.

    Floats go through ``as_integer_ratio`` (the denominator is a power of two), mpf through its
    (sign, mantissa, exponent); neither rounds at any precision. Raises ProblemError for NaN,
    infinities and other types.
    """
    if isinstance(value, arb):
        if not value.is_exact():
            raise ProblemError(f"expected an exact number, got the ball {value}")
        return value
    if isinstance(value, (bool, np.bool_)):
        raise ProblemError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, (int, np.integer)):
        return arb((int(value), 0))
    if isinstance(value, (float, np.floating)):
        try:
            num, den = value.as_integer_ratio()
        except (OverflowError, ValueError):
            raise ProblemError(f"non-finite entry {value!r}") from None
        return arb((num, 1 - den.bit_length()))  # den = 2^(bit_length − 1)
    mpf_ = getattr(value, "_mpf_", None)
    if mpf_ is not None:
        sign, man, exp, _ = mpf_
        if man == 0 and exp != 0:  # mpmath's encoding of ±inf and nan
            raise ProblemError(f"non-finite entry {value!r}")
        return arb((-int(man) if sign else int(man), int(exp)))
    raise ProblemError(f"cannot convert {type(value).__name__} {value!r} exactly to a ball")


def ball_matrix(W: np.ndarray) -> arb_mat:
    A = np.asarray(W)
    if A.ndim != 2:
        raise ProblemError(f"expected a 2-D array, got shape {A.shape}")
    return arb_mat([[to_arb(v) for v in row] for row in A.tolist()])


@contextmanager
def working_precision(bits: int) -> Iterator[None]:
    """flint.ctx.prec = ``bits`` inside the block; the previous value is restored on every exit."""
    saved = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = saved


def check_prec(prec: int, max_raises: int) -> None:
    if isinstance(prec, bool) or int(prec) != prec or prec < MIN_PREC:
        raise ProblemError(f"precision must be an integer number of bits ≥ {MIN_PREC}, got {prec}")
    if isinstance(max_raises, bool) or int(max_raises) != max_raises or max_raises < 0:
        raise ProblemError(f"max_raises must be a non-negative integer, got {max_raises}")


POS_INF = arb.pos_inf()


NEG_INF = arb.neg_inf()


def lower_end(x: arb) -> arb:
    """The exact lower end of a ball (−∞ for NaN)."""
    return x.lower() if not x.is_nan() else NEG_INF


def upper_end(x: arb) -> arb:
    """The exact upper end of a ball (+∞ for NaN)."""
    return x.upper() if not x.is_nan() else POS_INF


def ball_min(a: arb, b: arb) -> arb:
    return a if a <= b else b  # exact endpoints: the comparison is decided


def ball_max(a: arb, b: arb) -> arb:
    return a if a >= b else b


def float_down(x: arb) -> float:
    """The largest float ≤ the exact arb x (−inf for NaN)."""
    if x.is_nan():
        return -math.inf
    f = float(x)
    if math.isinf(f):  # beyond the float range: the largest float below a finite x
        return float(np.finfo(float).max) if f > 0 and x.is_finite() else f
    while arb(f) > x:
        f = math.nextafter(f, -math.inf)
    return f


def float_up(x: arb) -> float:
    """The smallest float ≥ the exact arb x (+inf for NaN)."""
    return -float_down(-x) + 0.0 if not x.is_nan() else math.inf  # + 0.0: no −0.0


def nearest_float(x: arb) -> float | None:
    """The float64 nearest to every point of the ball x (round to nearest, ties to even), or None
    when its two ends round to different floats (or x is not finite): then the ball does not
    decide the correctly rounded value of the number it encloses."""
    if not x.is_finite():
        return None
    lo, hi = (_rounded(e) for e in (x.lower(), x.upper()))
    return lo if lo == hi else None


def _rounded(e: arb) -> float | None:
    """The correctly rounded float of an exact arb (Python's int/int division rounds correctly)."""
    man, exp = (int(v) for v in e.man_exp())
    try:
        return float(man << exp) if exp >= 0 else man / (1 << -exp)
    except OverflowError:
        return None


def ball_dot(x: arb_mat, y: arb_mat) -> arb:
    return (x.transpose() * y)[0, 0]


def frob_upper(M: arb_mat) -> arb:
    """An exact upper bound on ‖M‖_F (≥ every |eigenvalue| of a symmetric M)."""
    s = sum((M[i, j] * M[i, j] for i in range(M.nrows()) for j in range(M.ncols())), arb(0))
    return upper_end(ball_max(upper_end(s), arb(0)).sqrt())


def to_mpf(ctx: mpmath.MPContext, x: arb) -> object:
    man, exp = x.mid().man_exp()
    return ctx.mpf((int(man), int(exp)))


def approx_eigvecs(M: arb_mat, prec: int, *, by_abs: bool = False) -> list[arb_mat]:
    """Approximate eigenvectors (exact n×1 columns) of the midpoint of symmetric M, by decreasing
    eigenvalue (by decreasing |eigenvalue| if ``by_abs``): float64's (LAPACK's eigh), refined to
    ``prec`` bits by Ogita and Aishima's iteration (:func:`_refine_eigvecs`, matrix products in arb).
    Only their use is rigorous (top_eigen's residual bounds hold for any vectors); mpmath's eigsy
    at ``prec`` bits gave the same certificates at O(n³) Python operations: 20 s at n = 64."""
    n = M.nrows()
    A = M.mid()
    A = (A + A.transpose()) * arb(0.5)
    E, Q = np.linalg.eigh(np.array([[float(A[i, j]) for j in range(n)] for i in range(n)]))
    X = arb_mat(Q.tolist())
    correct = 45  # bits of float64's eigenvectors, with margin; each refinement doubles them (well separated)
    while correct < prec:
        X = _refine_eigvecs(A, X)
        correct *= 2
    order = sorted(range(n), key=lambda i: -(abs(E[i]) if by_abs else E[i]))
    return [arb_mat([[X[r, i]] for r in range(n)]) for i in order]


def _refine_eigvecs(A: arb_mat, X: arb_mat) -> arb_mat:
    """One step of Ogita & Aishima's refinement of approximate eigenvectors X of a symmetric A
    (Japan J. Indust. Appl. Math. 35, 2018, Algorithm 1): quadratic convergence for simple
    eigenvalues; vectors of clustered ones stay as accurate as they were. Midpoints only."""
    n = A.nrows()
    R = -(X.transpose() * X)
    for i in range(n):
        R[i, i] += 1
    S = X.transpose() * A * X
    lam = [S[i, i] / (1 - R[i, i]) for i in range(n)]
    off = sum((S[i, j] * S[i, j] for i in range(n) for j in range(n) if i != j), arb(0)).sqrt()
    delta = 2 * (off + frob_upper(A) * frob_upper(R))
    E = arb_mat(n, n)
    for i in range(n):
        for j in range(n):
            gap = lam[j] - lam[i]
            E[i, j] = (S[i, j] + lam[j] * R[i, j]) / gap if abs(gap) > delta else R[i, j] / 2
    return (X + X * E).mid()


@dataclass(frozen=True)
class TopEigen:
    """λ_1 ∈ [lo, hi] (exact ends); ``sin``: an exact bound on sin∠(x, v_1) for the approximate
    eigenvector ``x``, or None when λ_1 is not certified simple."""

    lo: arb
    hi: arb
    sin: arb | None
    x: arb_mat | None


def top_eigen(B: arb_mat, vecs: Sequence[arb_mat]) -> TopEigen:
    """Enclose λ_1 of the symmetric matrix enclosed by B, from approximate eigenvectors ``vecs``
    (top first; only as many are used as the separation of λ_1 needs). Bounds 1–4 of the module."""
    n = B.nrows()
    tr = B.trace()
    lo, hi = lower_end(tr / n), frob_upper(B)
    if not vecs:
        return TopEigen(lo, hi, None, None)
    x = vecs[0]
    xx = ball_dot(x, x)
    if not xx > 0:
        return TopEigen(lo, hi, None, None)
    Bx = B * x
    mu = ball_dot(x, Bx) / xx
    r = Bx - x * mu
    eps2 = upper_end(ball_dot(r, r) / xx)
    lo = ball_max(lo, lower_end(mu))
    P = arb_mat(n, n)
    for i in range(n):
        P[i, i] = arb(1)
    P = P - (x * x.transpose()) / xx
    C = P * B * P
    a = frob_upper(C)
    if not mu > a and len(vecs) > 1:
        a = ball_min(a, top_eigen(C, vecs[1:]).hi)
    if not mu > a:
        return TopEigen(lo, hi, None, x)
    gap = mu - a
    hi = ball_min(hi, upper_end(mu + eps2 / gap))
    sin = upper_end(ball_max(eps2, arb(0)).sqrt() / gap)
    return TopEigen(lo, hi, sin, x)


def gram(W: arb_mat, side: str) -> arb_mat:
    """WWᵀ ("left", top eigenvector u) or WᵀW ("right", top eigenvector v)."""
    return W * W.transpose() if side == "left" else W.transpose() * W


def spectral_sq(W: arb_mat, prec: int, side: str | None = None) -> TopEigen:
    """‖W‖_2² = λ_1 of a Gram matrix of W (the smaller one unless ``side`` is given); ≥ 0."""
    if side is None:
        side = "left" if W.nrows() <= W.ncols() else "right"
    G = gram(W, side)
    top = top_eigen(G, approx_eigvecs(G, prec))
    return replace(top, lo=ball_max(top.lo, arb(0)))  # a Gram matrix is PSD


def frob_sq(W: arb_mat) -> arb:
    return sum((W[i, j] * W[i, j] for i in range(W.nrows()) for j in range(W.ncols())), arb(0))
