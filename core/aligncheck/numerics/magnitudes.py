"""Float64 numbers near the ends of float64's range: norms without overflow or underflow in the
squares (:func:`robust_norm`, :func:`log_norm`), and numbers that exist only as their log, as text
(:func:`format_from_log`)."""

from __future__ import annotations

import math

import numpy as np

# Within these bounds a 2-norm is taken as numpy takes it (sqrt of the sum of squares), bit for
# bit: the squares neither overflow (≤ 1e280, room for sums over 1e28 entries) nor lose digits to
# subnormal rounding (an absolute 5e-324 per square is < 1e-40 of a norm² ≥ 1e-280 even over 1e6
# entries). Outside them the norm is taken of the array divided by its largest |entry|.
_PLAIN_NORM_RANGE = (1e-140, 1e140)
# math.exp(x) is a finite, normal float64 for x in this range (e^709.78 = 1.8e308, e^-708.4 = 2.2e-308).
_EXP_RANGE = (-708.0, 709.0)
# Past this |log10 x|, the fractional part of log10 x (hence the mantissa of x) has fewer than
# 6 correct digits (its error is ~ ln(10)·eps·|log10 x| ≈ 2.6e-16·|log10 x| relative, 2.6e-7 at
# 1e9): the number is then shown as exp(log x).
_MANTISSA_LOG10_LIMIT = 1e9


def robust_norm(a: np.ndarray) -> float:
    """The 2-norm (Frobenius for a matrix) of a float64 array, without overflow or underflow in
    the squares: ``np.linalg.norm(a)`` where that is exact to rounding (the same bits), otherwise
    ``m·‖a/m‖`` with m = max |a_i|. Non-finite entries give inf or nan, as numpy's norm does."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return 0.0
    x = a.ravel(order="K")
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(x)))
    if _PLAIN_NORM_RANGE[0] <= top <= _PLAIN_NORM_RANGE[1] / math.sqrt(x.size):
        # No square overflows (no errstate: a third of the cost on small arrays); sqrt(x·x) over
        # the raveled array is what np.linalg.norm computes, the same bits.
        return math.sqrt(x.dot(x))
    with np.errstate(over="ignore", under="ignore"):
        n = float(np.linalg.norm(a))
    if _PLAIN_NORM_RANGE[0] <= n <= _PLAIN_NORM_RANGE[1]:
        return n
    if top == 0.0 or not math.isfinite(top):
        return top
    with np.errstate(under="ignore"):
        return top * float(np.linalg.norm(a / top))


def log_norm(a: np.ndarray) -> float:
    """log ‖a‖ (2-norm of all entries) of a float64 array, exact to rounding however large or
    tiny the entries: −inf for a = 0, inf if an entry is infinite, nan if one is nan."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        n = float(np.linalg.norm(a))
    if _PLAIN_NORM_RANGE[0] <= n <= _PLAIN_NORM_RANGE[1]:
        return math.log(n)
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(a))) if a.size else 0.0
    if top == 0.0:
        return -math.inf
    if not math.isfinite(top):
        return top  # inf, or nan
    with np.errstate(under="ignore"):
        return math.log(top) + math.log(float(np.linalg.norm(a / top)))


def format_from_log(log_x: float, spec: str = ".6g") -> str:
    """x = e^log_x as text, also where x itself is beyond float64's range: ``format(x, spec)``
    while e^log_x is a normal float64, else mantissa·10^exponent ("3.16228e+52134") from log_x,
    or "exp(1.2e+149)" once the mantissa has no correct digits left."""
    log_x = float(log_x)
    if math.isnan(log_x):
        return "nan"
    if log_x == -math.inf:
        return format(0.0, spec)
    if log_x == math.inf:
        return "inf"
    if _EXP_RANGE[0] <= log_x <= _EXP_RANGE[1]:
        return format(math.exp(log_x), spec)
    log10 = log_x / math.log(10.0)
    if abs(log10) >= _MANTISSA_LOG10_LIMIT:
        return f"exp({log_x:{spec}})"
    exponent = math.floor(log10)
    mantissa = 10.0 ** (log10 - exponent)  # in [1, 10); rounding may give 10.0
    if mantissa >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:{spec}}e{exponent:+d}"
