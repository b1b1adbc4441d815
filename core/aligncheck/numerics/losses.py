"""Losses ℓ(m) of the margin m = ⟨w_prod, z_i⟩, evaluated in the log domain.

Only ``log ℓ(m)`` and ``log(−ℓ'(m))`` are ever formed, so nothing overflows or
underflows when margins reach 1e6 and more: the risk enters as
``log R = logsumexp(log ℓ(m_i)) − log n`` (R is a MEAN over the n points) and the
gradient as softmax-like weights (see :func:`risk_and_weights`). Margins are arrays of the
backend ``bk`` (float64 or mpf objects); constants such as log 2 and log n are formed by
``bk.log`` so that they carry the backend's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aligncheck.numerics.backends import (
    EXP_SELECT_MIN_SIZE,
    FLOAT64,
    Backend,
    float64_where_exp_vanishes,
    logsumexp,
    softplus,
)


@dataclass(frozen=True)
class Loss:
    """A margin loss. ``beta``/``G``: Lipschitz constant of ℓ' and bound on |ℓ'| (Assumption 3.x), None where it fails."""

    name: str
    ell_at_zero: float
    satisfies_a11: bool  # Assumption 1.1: ℓ' < 0 continuous, ℓ(−∞) = ∞, ℓ(+∞) = 0
    beta: float | None
    G: float | None

    def log_ell(self, m: np.ndarray, bk: Backend = FLOAT64) -> np.ndarray:
        """log ℓ(m) elementwise."""
        raise NotImplementedError

    def log_neg_dell(self, m: np.ndarray, bk: Backend = FLOAT64) -> np.ndarray:
        """log(−ℓ'(m)) elementwise."""
        raise NotImplementedError

    def log_ddell(self, m: np.ndarray, bk: Backend = FLOAT64) -> np.ndarray:
        """log ℓ''(m) elementwise (ℓ'' > 0 for both losses)."""
        raise NotImplementedError


class Exponential(Loss):
    """ℓ(m) = e^{−m}: log ℓ = log(−ℓ') = −m."""

    def __init__(self) -> None:
        super().__init__("exp", 1.0, True, None, None)  # ℓ' unbounded as m → −∞: A3.x fails

    def log_ell(self, m, bk=FLOAT64):
        return -bk.asarray(m)

    def log_neg_dell(self, m, bk=FLOAT64):
        return -bk.asarray(m)

    def log_ddell(self, m, bk=FLOAT64):
        return -bk.asarray(m)


class Logistic(Loss):
    """ℓ(m) = ln(1 + e^{−m}); ℓ' = −1/(1 + e^{m}), |ℓ'| ≤ 1 and ℓ'' ≤ 1/4 (β = 1/4, G = 1)."""

    def __init__(self) -> None:
        super().__init__("logistic", math.log(2.0), True, 0.25, 1.0)

    def log_ell(self, m, bk=FLOAT64):
        # m > 0: ℓ = log1p(t), t = e^{−m} ≤ 1, and log ℓ = −m + log(log1p(t)/t); the
        #   ratio is in (ln 2, 1] and tends to 1 as t → 0 (t == 0 only after float64 underflow).
        # m ≤ 0: ℓ = −m + log1p(e^{m}) has no overflow however negative m is.
        # Both branches need t = e^{−|m|} (−|m| is −m, or m, exactly). The log is taken only
        # where its argument is not 1: log(1) = 0 exactly, and where m > 0 and t underflowed
        # (every point in the late phase) the ratio is 1 and the entry is −m + 0 = −m. np.where
        # and one index set instead of boolean indexing: the same operations on every entry (the
        # same bits), 2x cheaper at n = 1e5. In float64, where m > −EXP_ZERO_BELOW, t is exactly 0
        # and the entry exactly −m: those are set so and the formula runs on the rest only.
        m = bk.asarray(m)
        return float64_where_exp_vanishes(bk, m, lambda x: self._log_ell(x, bk), np.negative, lambda x: x)

    def _log_ell(self, m, bk):
        pos = np.asarray(m > 0, dtype=bool)  # object arrays (mpf) compare to object booleans
        t = bk.exp(-np.abs(m))
        l1 = bk.log1p(t)
        nz = np.asarray(t != 0, dtype=bool)
        ratio = np.where(nz, l1 / np.where(nz, t, 1), 1)  # the ratio where m > 0 (1 where t = 0)
        arg = np.where(pos, ratio, -m + l1)
        if bk is FLOAT64:
            lg = np.log(arg)  # log(1) is +0.0 exactly: the same bits as skipping those entries, fewer passes
        else:
            todo = np.flatnonzero((arg != 1).astype(bool))
            lg = np.zeros_like(m)
            lg[todo] = bk.log(arg[todo])
        return np.where(pos, -m + lg, lg)

    def log_neg_dell(self, m, bk=FLOAT64):
        return -softplus(bk, m)

    def log_ddell(self, m, bk=FLOAT64):
        # ℓ''(m) = σ(m)σ(−m) = exp(−softplus(m) − softplus(−m))
        m = bk.asarray(m)
        return -softplus(bk, m) - softplus(bk, -m)


class PolyTail(Loss):
    """A loss with a polynomial tail, for the negative control control.poly_tail:
    ℓ(m) = 1/m² for m ≥ 1 and 3 − 2m for m < 1 (C¹ at m = 1: value 1, slope −2).

    It satisfies A1.1 (ℓ' < 0 continuous, ℓ(−∞) = ∞, ℓ(+∞) = 0) but its gradient weights decay
    only polynomially, so the max-margin theorem (exp and logistic only) does not cover it.
    """

    def __init__(self) -> None:
        super().__init__("poly", 3.0, True, None, None)  # ℓ(0) = 3; no A3.x constants: the control uses gradient flow only

    def _split(self, m, bk):
        m = bk.asarray(m)
        tail = (m >= 1).astype(bool)
        return m, tail

    def log_ell(self, m, bk=FLOAT64):
        m, tail = self._split(m, bk)
        out = m * 0
        out[tail] = -2 * bk.log(m[tail])
        out[~tail] = bk.log(3 - 2 * m[~tail])
        return out

    def log_neg_dell(self, m, bk=FLOAT64):
        m, tail = self._split(m, bk)
        out = m * 0 + bk.log(2.0)
        out[tail] = bk.log(2.0) - 3 * bk.log(m[tail])
        return out

    def log_ddell(self, m, bk=FLOAT64):
        m, tail = self._split(m, bk)
        out = m * 0 - np.inf  # ℓ'' = 0 on the linear piece
        out[tail] = bk.log(6.0) - 4 * bk.log(m[tail])
        return out


EXP = Exponential()
LOGISTIC = Logistic()
POLY = PolyTail()
LOSSES: dict[str, Loss] = {"exp": EXP, "logistic": LOGISTIC, "poly": POLY}


def get_loss(name: str) -> Loss:
    """The loss called ``name``: "exp", "logistic" or "poly" (the polynomial-tail control)."""
    from aligncheck.errors import ProblemError

    try:
        return LOSSES[name]
    except KeyError:
        raise ProblemError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}") from None


def risk_and_weights(loss: Loss, margins: np.ndarray, bk: Backend = FLOAT64) -> tuple[object, np.ndarray]:
    """(log R, q) for margins m (n,) of backend ``bk``, where R = (1/n) Σ ℓ(m_i) and q_i = −ℓ'(m_i) / Σ_j ℓ(m_j).

    Then ∇_w log R = −Σ_i q_i z_i and ∇_w R = R ∇_w log R. For the exp loss q is
    softmax(−m); every q_i is formed as exp(log(−ℓ'_i) − logsumexp(log ℓ)), never as a ratio
    of underflowed numbers.
    """
    lse, q = log_sum_and_weights(loss, margins, bk)
    return lse - bk.log(len(margins)), q


def log_sum_and_weights(loss: Loss, margins: np.ndarray, bk: Backend = FLOAT64) -> tuple[object, np.ndarray]:
    """(log Σ_j ℓ(m_j), q) with q as in :func:`risk_and_weights` (which is this, minus log n)."""
    if loss is EXP and bk is FLOAT64 and type(margins) is np.ndarray and margins.dtype == np.float64 and margins.size < EXP_SELECT_MIN_SIZE:
        # log ℓ = log(−ℓ') = −m: the lines below without their dispatch, the same ufuncs on the same
        # arrays (the same bits), minus a few µs of dispatch per call on small arrays (searches
        # evaluate this 10^5 times; measured 11 µs against ~15 µs at n = 10 on this machine, noisy).
        neg = -margins
        lse = logsumexp(bk, neg)
        return lse, np.exp(neg - lse)
    lse = logsumexp(bk, loss.log_ell(margins, bk))
    return lse, bk.exp(loss.log_neg_dell(margins, bk) - lse)
