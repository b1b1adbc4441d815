"""Numeric backends: the small interface that losses, network, dynamics and metrics are written against.

Arrays are numpy arrays in every backend: float64 arrays for :class:`Float64`, object
arrays of ``mpmath.mpf`` for the arbitrary-precision backend (a later issue), so the
arithmetic operators, ``@``, slicing and reductions are numpy's in both. Only the
elementwise transcendental functions, the SVD and the unit roundoff differ; formulas
call them through a backend object and never through ``np.exp`` directly.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """What a numeric backend provides. ``a`` is an ndarray (float64 or object)."""

    name: str
    eps: float  # unit roundoff: the relative error of one rounded operation

    def asarray(self, a) -> np.ndarray: ...
    def exp(self, a: np.ndarray) -> np.ndarray: ...
    def log(self, a: np.ndarray) -> np.ndarray: ...
    def log1p(self, a: np.ndarray) -> np.ndarray: ...
    def svd(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def to_float(self, a) -> np.ndarray: ...


class Float64:
    """IEEE double precision through numpy (unit roundoff 2**-53 ≈ 1.1e-16)."""

    name = "float64"
    eps = float(np.finfo(np.float64).eps) / 2

    def asarray(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def exp(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a)

    def log(self, a: np.ndarray) -> np.ndarray:
        return np.log(a)

    def log1p(self, a: np.ndarray) -> np.ndarray:
        return np.log1p(a)

    def svd(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full SVD ``a = U diag(s) Vt`` with s descending (LAPACK gesdd)."""
        return np.linalg.svd(a, full_matrices=False)

    def to_float(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)


FLOAT64 = Float64()


def logsumexp(bk: Backend, a: np.ndarray) -> object:
    """log Σ exp(a_i) without overflow or underflow (shift by the max)."""
    a = bk.asarray(a)
    top = a.max()
    return top + bk.log(np.atleast_1d(bk.exp(a - top).sum()))[0]


def softplus(bk: Backend, a: np.ndarray) -> np.ndarray:
    """log(1 + exp(a)) elementwise, exact to rounding for every a: max(a,0) + log1p(exp(-|a|))."""
    a = bk.asarray(a)
    pos = (a > 0).astype(bool)
    out = a * 0
    out[pos] = a[pos] + bk.log1p(bk.exp(-a[pos]))
    out[~pos] = bk.log1p(bk.exp(a[~pos]))
    return out
