"""scipy's BDF with a Newton matrix of the form identity minus low rank, solved by Woodbury's formula.

BDF solves, at each step, systems with the Newton matrix M = I − cJ (c = h/α, J ≈ ∂F/∂θ). With
J given as U Vᵀ (U, V of shape (N, r), r ≪ N), M⁻¹b = b + cU (I_r − c VᵀU)⁻¹ Vᵀb: O(N·r) per
solve and O(r³) per factorisation, instead of O(N²) memory and O(N³) for a dense LU. The Jacobian
may be approximate (BDF's Newton iteration only needs it to converge: its error control is on the
step's local error, not on the Jacobian); scipy then retries with a fresh Jacobian, and halves the
step if that does not converge either (scipy.integrate._ivp.bdf.BDF._step_impl).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.integrate import BDF
from scipy.linalg import lu_factor, lu_solve
from scipy.sparse import csc_matrix


@dataclass(frozen=True)
class LowRank:
    """J = U Vᵀ, U and V of shape (N, r); ``S`` = VᵀU (r, r), formed once per Jacobian."""

    U: np.ndarray
    V: np.ndarray

    @cached_property
    def S(self) -> np.ndarray:
        return self.V.T @ self.U

    def __rmul__(self, c: float) -> _Scaled:  # BDF forms c * J
        return _Scaled(float(c), self)


@dataclass(frozen=True)
class _Scaled:
    c: float
    J: LowRank


class _Identity:
    """BDF's ``self.I``: ``I − c * J`` becomes the pair (c, J) that :func:`_factor` factorises."""

    def __sub__(self, scaled: _Scaled) -> _Scaled:
        return scaled


@dataclass(frozen=True)
class _Woodbury:
    c: float
    U: np.ndarray
    V: np.ndarray
    lu: tuple


def _factor(scaled: _Scaled) -> _Woodbury:
    """The factorisation of M = I − cUVᵀ: the LU of the capacitance matrix I_r − cVᵀU (scipy warns
    LinAlgWarning where it is exactly singular, as for a dense M)."""
    J = scaled.J
    r = J.U.shape[1]
    return _Woodbury(scaled.c, J.U, J.V, lu_factor(np.eye(r) - scaled.c * J.S))


def _solve(W: _Woodbury, b: np.ndarray) -> np.ndarray:
    """M⁻¹b = b + cU (I_r − cVᵀU)⁻¹ Vᵀb."""
    return b + W.c * (W.U @ lu_solve(W.lu, W.V.T @ b))


class LowRankBDF(BDF):
    """:class:`scipy.integrate.BDF` whose ``jac(t, y)`` returns a :class:`LowRank` J = U Vᵀ; the
    Newton systems are solved by Woodbury's formula. Nothing of size N×N is formed (scipy's
    constructor, which allocates a dense identity for a dense Jacobian, is given an empty sparse
    placeholder, then the low-rank pieces replace its LU routines)."""

    def __init__(self, fun: Callable, t0: float, y0: np.ndarray, t_bound: float, *, jac: Callable[[float, np.ndarray], LowRank], **options) -> None:
        self._low_rank_jac = jac
        super().__init__(fun, t0, y0, t_bound, jac=jac, **options)
        self.J = self._first_jac
        self.I = _Identity()
        self.lu = self._counted_factor
        self.solve_lu = _solve

    def _validate_jac(self, jac, sparsity):
        def wrapped(t, y):
            self.njev += 1
            return self._low_rank_jac(t, y)

        self._first_jac = wrapped(self.t, self.y)
        n = len(self.y)
        return wrapped, csc_matrix((n, n))  # placeholder: keeps scipy from forming an N×N identity

    def _counted_factor(self, scaled: _Scaled) -> _Woodbury:
        self.nlu += 1
        return _factor(scaled)
