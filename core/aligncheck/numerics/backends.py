"""Numeric backends: the small interface that losses, network, dynamics and metrics are written against.

Arrays are numpy arrays in every backend: float64 arrays for :class:`Float64`, object
arrays of ``mpmath.mpf`` for the arbitrary-precision :class:`Mpmath` backend, so the
arithmetic operators, ``@``, slicing and reductions are numpy's in both. Only the
elementwise functions (exp, log, log1p, sqrt), the norms, the SVD and the unit roundoff
differ; formulas call them through a backend object and never through ``np.exp``,
``math.log`` or ``np.linalg.norm`` directly (a float64 constant such as math.log(n) in an
mpmath formula would cap it at float64's 16 digits).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Protocol

import flint
import mpmath
import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.numerics.arb import arb_solve, from_arb, to_arb
from aligncheck.numerics.magnitudes import robust_norm


class Backend(Protocol):
    """What a numeric backend provides. ``a`` is an ndarray (float64 or object) or a scalar of the
    backend's type; elementwise functions return an array for an array and a scalar for a scalar."""

    name: str
    eps: float  # unit roundoff: the relative error of one rounded operation
    digits: int  # the decimal digits every result keeps (what the backend promises, whatever its headroom)

    def asarray(self, a) -> np.ndarray: ...
    def exp(self, a): ...
    def log(self, a): ...  # also of a Python number (a constant such as log n), rounded once
    def log1p(self, a): ...
    def sqrt(self, a): ...
    def norm(self, a: np.ndarray, ord: int | None = None): ...  # None: 2-norm / Frobenius; 2: spectral
    def svd(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def to_float(self, a) -> np.ndarray: ...


# np.exp(x) == 0.0 exactly for every float64 x < EXP_ZERO_BELOW. Proof: e^x < e^-745.14 <
# 2^-1075 (= half the smallest subnormal, 2^-1074 ≈ 4.9e-324) for x < -1075·ln 2 = -745.1332, so
# the correctly rounded result is +0.0; at -750 the exact value e^-750 ≈ 5.1e-326 is 1/48 of
# that half-way point, so even an exp whose error were 47x the exact value would round to 0.
# numpy's own cutoff is -745.1332195 (measured: np.exp(-745.1332195) = 0, np.exp(-745.133219) =
# 4.9e-324); tests/test_large_n.py pins the fact and that np.exp of a subset of an array gives the
# same bits as the subset of np.exp of the array (it is elementwise, lane by lane).
# Why it matters: lanes that underflow take numpy's slow path (measured on this machine, 1e5
# entries: 1.1 ms when they underflow, 0.065 ms when none does), and in the late phase almost
# every point's softmax weight underflows.
EXP_ZERO_BELOW = -750.0
# Below this size the selection costs more than it saves (a few µs); the bits are the same either way.
EXP_SELECT_MIN_SIZE = 1024


class Float64:
    """IEEE double precision through numpy (unit roundoff 2**-53 ≈ 1.1e-16)."""

    name = "float64"
    eps = float(np.finfo(np.float64).eps) / 2
    digits = 15  # decimal digits every float64 carries: floor(53·log10 2)

    def asarray(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def exp(self, a):
        """Elementwise exp, bit for bit ``np.exp(a)``; on large arrays only the entries that do not
        underflow to 0 are computed (see EXP_ZERO_BELOW: the others are exactly 0.0 anyway)."""
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            return np.exp(a)
        return float64_where_exp_vanishes(self, a, np.exp, np.zeros_like, np.negative)

    def log(self, a):
        """Elementwise log; of a Python number (a constant such as log n) through math.log, the
        bits the float64 formulas have always used: numpy's vectorised log differs from libm's by
        an ulp on some inputs (measured: 111 of the integers 1..2e6 on an AVX-512 machine)."""
        return math.log(a) if type(a) in (int, float) else np.log(a)

    def log1p(self, a):
        return np.log1p(a)

    def sqrt(self, a):
        """Elementwise square root (IEEE: correctly rounded, the same bits as math.sqrt)."""
        return np.sqrt(a)

    def norm(self, a: np.ndarray, ord: int | None = None) -> np.float64:
        """``np.linalg.norm(a, ord)``: ord None the 2-norm of a vector or the Frobenius norm of a
        matrix, ord 2 the spectral norm of a matrix. The first two through :func:`robust_norm`
        (the same bits where numpy's squares neither overflow nor underflow): the norms of the
        balancedness matrices W_kᵀW_k square squares, which overflow once ‖W_k‖_F ≳ 1e77."""
        if ord is None or (ord == 2 and np.ndim(a) == 1):
            return np.float64(robust_norm(a))
        return np.linalg.norm(a, ord)

    def svd(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full SVD ``a = U diag(s) Vt`` with s descending (LAPACK gesdd)."""
        return np.linalg.svd(a, full_matrices=False)

    def to_float(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)


FLOAT64 = Float64()

# Fewer digits than float64 would make the "high-precision" backend the less precise one.
MIN_DIGITS = 16
# Where the high-precision backend computes the late phase's dense linear algebra (the Hessian and
# the flow's Jacobian, and the Newton solves): in python-flint's arb (C; the default) or in mpmath
# (pure Python over mpf: the reference).
KERNELS = ("flint", "mpmath")
# Bits kept beyond what the requested digits and the largest magnitude need (rounding in
# reductions over n points and in the SVD's iterations).
GUARD_BITS = 32


class Mpmath:
    """Arbitrary precision through mpmath (with gmpy2 when installed), in a private context.

    ``digits``: the relative precision wanted in every result. The context starts at
    digits·log2(10) + GUARD_BITS bits; :meth:`ensure_headroom` raises it so that quantities of
    size up to ``magnitude`` keep ``digits`` significant digits in their differences (margins of
    size 1e20 need 20 more digits for O(1) gaps between them to carry ``digits`` digits).
    The context is private: nothing here touches mpmath's global mp.prec.
    """

    def __init__(self, digits: int, kernels: str = "flint") -> None:
        integral = isinstance(digits, numbers.Integral) or (isinstance(digits, float) and digits.is_integer())
        if isinstance(digits, bool) or not integral or digits < MIN_DIGITS:
            raise ProblemError(f"precision must be an integer number of digits ≥ {MIN_DIGITS}, got {digits!r}")
        if kernels not in KERNELS:
            raise ProblemError(f"unknown kernels {kernels!r}: choose one of {', '.join(KERNELS)}")
        self.digits = int(digits)
        self.kernels = kernels
        self.ctx = mpmath.MPContext()
        self.ctx.prec = math.ceil(self.digits * math.log2(10)) + GUARD_BITS
        self._exp = np.frompyfunc(self.ctx.exp, 1, 1)
        self._log = np.frompyfunc(self.ctx.log, 1, 1)
        self._log1p = np.frompyfunc(self.ctx.log1p, 1, 1)
        self._sqrt = np.frompyfunc(self.ctx.sqrt, 1, 1)
        self._mpf = np.frompyfunc(self.ctx.mpf, 1, 1)
        self._float = np.frompyfunc(float, 1, 1)
        self._to_arb = np.frompyfunc(to_arb, 1, 1)
        self._from_arb = np.frompyfunc(lambda x: from_arb(self.ctx, x), 1, 1)

    @property
    def name(self) -> str:
        return f"mpmath-{self.digits}"

    @property
    def prec(self) -> int:
        """Working precision in bits (mantissa)."""
        return int(self.ctx.prec)

    @property
    def eps(self) -> float:
        """Unit roundoff 2^-prec (a float: representable for every precision below 1074 bits)."""
        return math.ldexp(1.0, -self.prec)

    def ensure_headroom(self, magnitude: float) -> int:
        """Raise (never lower) the precision so that values up to ``magnitude`` keep ``digits``
        digits in their differences; returns the precision in bits."""
        extra = max(0, math.ceil(math.log2(max(float(magnitude), 1.0))))
        need = math.ceil(self.digits * math.log2(10)) + GUARD_BITS + extra
        if need > self.ctx.prec:
            self.ctx.prec = need
        return self.prec

    def asarray(self, a) -> np.ndarray:
        """An object array of this context's mpf (float64 entries convert exactly)."""
        a = np.asarray(a, dtype=object)
        return self._mpf(a).astype(object) if a.ndim else np.asarray(self.ctx.mpf(a.item()), dtype=object)

    # The elementwise functions are numpy ufuncs over the context's functions: an object array
    # for an array, a bare mpf for a scalar (a Python number included: log(n) at this precision).
    def exp(self, a):
        return self._exp(a)

    def log(self, a):
        return self._log(a)

    def log1p(self, a):
        return self._log1p(a)

    def sqrt(self, a):
        return self._sqrt(a)

    def norm(self, a: np.ndarray, ord: int | None = None):
        """An mpf: ord None the 2-norm of a vector or the Frobenius norm of a matrix (a dot product
        with one final rounding, ``fdot``), ord 2 the spectral norm of a matrix (largest singular value)."""
        a = np.asarray(a, dtype=object)
        if ord is None or (ord == 2 and a.ndim == 1):
            v = a.ravel().tolist()
            return self.ctx.sqrt(self.ctx.fdot(v, v))
        if ord == 2 and a.ndim == 2:
            return max(self.ctx.svd_r(self.ctx.matrix(self.asarray(a).tolist()), compute_uv=False))
        raise ValueError(f"norm: ord must be None or 2 (vectors and matrices), got {ord!r} for a {a.ndim}-D array")

    def svd(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``a = U diag(s) Vt`` (mpmath's svd_r at this precision), s descending."""
        a = self.asarray(a)
        r, c = a.shape
        U, S, V = self.ctx.svd_r(self.ctx.matrix(a.tolist()), full_matrices=False)
        k = min(r, c)
        s = np.array([S[i] for i in range(k)], dtype=object)
        Un = np.array([[U[i, j] for j in range(k)] for i in range(r)], dtype=object).reshape(r, k)
        Vn = np.array([[V[i, j] for j in range(c)] for i in range(k)], dtype=object).reshape(k, c)
        order = sorted(range(k), key=lambda i: -s[i])
        return Un[:, order], s[order], Vn[order, :]

    @property
    def arb_kernels(self) -> bool:
        """True when the dense linear algebra of the late phase runs in python-flint's arb."""
        return self.kernels == "flint"

    @contextlib.contextmanager
    def arb_precision(self) -> Iterator[None]:
        """python-flint's working precision (process-wide state) set to this backend's for the
        block, and restored after: arb operations inside round to ``prec`` bits."""
        old = flint.ctx.prec
        flint.ctx.prec = self.prec
        try:
            yield
        finally:
            flint.ctx.prec = old

    def to_arb(self, a) -> np.ndarray:
        """An object array (or a scalar) of exact arb copies of mpf (or Python number) entries."""
        return self._to_arb(a) if isinstance(a, np.ndarray) else to_arb(a)

    def from_arb(self, a) -> np.ndarray:
        """mpf values of arb entries: their midpoints, rounded to this context's precision. Their
        radii (the rigorous error of the ball arithmetic) are dropped: arb serves as fast
        floating-point arithmetic here, as accurate as mpmath's at the same precision."""
        return self._from_arb(a).astype(object) if isinstance(a, np.ndarray) else from_arb(self.ctx, a)

    def solve_columns(self, A: np.ndarray, B: np.ndarray) -> np.ndarray | None:
        """X with A X = B (A (N, N), B (N, k)), or None where A is numerically singular. With the arb
        kernels A, B and X are object arrays of arb (call inside :meth:`arb_precision`; one
        approximate LU for all columns), else of this backend's mpf (mpmath's lu_solve column by
        column, the reference)."""
        if self.arb_kernels:
            with self.arb_precision():
                try:
                    X = flint.arb_mat(A.tolist()).solve(flint.arb_mat(B.tolist()), algorithm="approx")
                except ZeroDivisionError:
                    return None
                X = np.array(X.tolist(), dtype=object)
                if not all(x.mid().is_finite() for x in X.ravel()):
                    return None
                return X
        cols = [self.solve(A, B[:, j]) for j in range(B.shape[1])]
        return None if any(c is None for c in cols) else np.column_stack(cols)

    def solve(self, A: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        """x with A x = b (A square, b a vector; object arrays of mpf) at the working precision, or
        None where A is numerically singular: with the arb kernels by python-flint
        (aligncheck.numerics.arb.arb_solve), else by mpmath's lu_solve (the reference). They agree
        to the precision (tests/test_backend_mpmath.py); flint's is 10x (P = 12) to 50x (P = 80)
        faster, measured, conversions included: the late phase's Newton systems were 86% of its time."""
        if self.arb_kernels:
            with self.arb_precision():
                return arb_solve(self.ctx, flint.arb_mat(self.to_arb(np.asarray(A)).tolist()), b)
        try:
            x = self.ctx.lu_solve(self.ctx.matrix(np.asarray(A).tolist()), self.ctx.matrix(np.asarray(b).tolist()))
        except ZeroDivisionError:
            return None
        return np.array([x[i] for i in range(len(b))], dtype=object)

    def to_float(self, a) -> np.ndarray:
        """float64 values (nearest; beyond the float64 range ±inf or 0, by design: no warning)."""
        a = np.asarray(a, dtype=object)
        with np.errstate(over="ignore", under="ignore"):  # mpf → float sets the FPU overflow flag
            return np.asarray(self._float(a), dtype=np.float64) if a.ndim else np.float64(float(a.item()))


def mpmath_backend(digits: int) -> Mpmath:
    """A fresh :class:`Mpmath` backend (its own context) with ``digits`` significant digits."""
    return Mpmath(digits)


def backend_named(name: str) -> Backend:
    """The backend a :class:`aligncheck.dynamics.flow.Trajectory` names: "float64" or "mpmath-<digits>"
    (a fresh context at its starting precision)."""
    if name == FLOAT64.name:
        return FLOAT64
    prefix, _, digits = name.partition("-")
    if prefix == "mpmath" and digits.isdigit():
        return Mpmath(int(digits))
    raise ProblemError(f"unknown backend {name!r}: expected 'float64' or 'mpmath-<digits>'")


def logsumexp(bk: Backend, a: np.ndarray) -> object:
    """log Σ exp(a_i) without overflow or underflow (shift by the max)."""
    if bk is FLOAT64 and type(a) is np.ndarray and a.dtype == np.float64 and a.size < EXP_SELECT_MIN_SIZE:
        # The float64 path below without its dispatch: the same ufuncs on the same arrays (the
        # same bits), minus the dispatch: a few µs per call on the small arrays searches evaluate
        # 10^5 times (numpy's own calls, ~10 µs at n = 10 on this machine, are the rest).
        top = a.max()
        return top + np.log(np.exp(a - top).sum(keepdims=True))[0]  # keepdims: the (1,) array atleast_1d makes
    a = bk.asarray(a)
    top = a.max()
    return top + bk.log(np.atleast_1d(bk.exp(a - top).sum()))[0]


def softplus(bk: Backend, a: np.ndarray) -> np.ndarray:
    """log(1 + exp(a)) elementwise, exact to rounding for every a: max(a,0) + log1p(exp(-|a|)).

    Each entry is a + log1p(exp(-a)) where a > 0 and log1p(exp(a)) elsewhere (-|a| is a, or -a,
    exactly), selected with np.where rather than boolean indexing (5x cheaper at n = 1e5, the
    same operations on every entry, so the same bits). In float64, where |a| > −EXP_ZERO_BELOW
    the exp is exactly 0 and the entry exactly a + log1p(0) = a or log1p(0) = +0.0: those
    entries are set so, and the formula runs on the others only."""
    a = bk.asarray(a)
    return float64_where_exp_vanishes(bk, a, lambda x: _softplus(bk, x), lambda x: np.where(x > 0, x, 0.0), lambda x: np.abs(x))


def _softplus(bk: Backend, a: np.ndarray) -> np.ndarray:
    pos = np.asarray(a > 0, dtype=bool)  # object arrays (mpf) compare to object booleans
    tail = bk.log1p(bk.exp(-np.abs(a)))
    return np.where(pos, a + tail, tail)


def float64_where_exp_vanishes(
    bk: Backend,
    a: np.ndarray,
    formula: Callable[[np.ndarray], np.ndarray],
    value: Callable[[np.ndarray], np.ndarray],
    size: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``formula(a)`` elementwise, where ``value(a)`` is what the formula gives, bit for bit, on the
    entries with size(a) > −EXP_ZERO_BELOW (there the exp inside it is exactly 0). In float64 on
    large arrays those entries are set to ``value`` and the formula runs on the rest only;
    otherwise (mpmath's exp never underflows) it is ``formula(a)``."""
    if not isinstance(bk, Float64) or a.size < EXP_SELECT_MIN_SIZE:
        return formula(a)
    rest = np.flatnonzero(~(size(a) > -EXP_ZERO_BELOW))  # ~(>) keeps NaN with the formula
    if rest.size == a.size:
        return formula(a)
    out = np.array(value(a), dtype=np.float64)
    out.reshape(-1)[rest] = formula(a.reshape(-1)[rest])
    return out
