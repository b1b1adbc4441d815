"""Planted max-margin problems: a seeded generator of separable data whose max-margin solution
(ū, γ, support vectors, dual weights) is known by construction, so tests need no solver to know
the answer (see planted_problem for the construction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aligncheck.data.problem import Problem
from aligncheck.errors import ProblemError

# Non-support points have ⟨ū, z_j⟩ ≥ γ + NON_SV_GAP, a relative margin gap of at
# least 0.05/γ > 0.05: far above the 1e-9 support-vector tolerance and the ~1e-16
# rounding of the data, so no solver can mistake them for support vectors.
NON_SV_GAP = 0.05


# Support-vector offsets have ‖v_i‖ ≤ _SV_RADIUS·sqrt(1 − γ²), and non-support
# offsets ‖v_j‖ ≤ _SV_RADIUS·sqrt(1 − m_j²), so every ‖x_i‖² ≤ 0.81 + 0.19·γ² < 1 with
# room to spare for rounding.
_SV_RADIUS = 0.9


# A random spanning set is redrawn when its smallest singular value is below this
# fraction of the largest: keeps the declared span well conditioned, so a numerical
# rank (tolerance ~1e-12 relative) sees exactly the declared dimension.
_MIN_CONDITION = 1e-3


# Redraws allowed for a well-conditioned spanning set; Gaussian draws with at
# least one spare point essentially never need more than a few.
_MAX_DRAWS = 1000


SV_SPANS = ("full", "data", "partial")


SvSpan = Literal["full", "data", "partial"]


@dataclass(frozen=True, eq=False)
class PlantedProblem:
    """A planted problem: data (X n×d, y (n,) of ±1, ‖x_i‖ ≤ 1) and its known max-margin solution.

    u_bar (d,) and gamma are the max-margin direction and margin; support holds
    the sorted indices of the support vectors; alpha (len(support),) > 0 are the
    dual weights with u_bar/gamma = Σ alpha[j] z_{support[j]}. sv_rank and
    data_rank are the dimensions of span(support vectors) and span(data).
    All of this holds exactly for the real-number construction; X itself is its
    float64 rounding, so the solution of X agrees to about 1e-16/γ.
    """

    seed: int
    n: int
    d: int
    gamma: float
    n_sv: int
    sv_rank: int
    data_rank: int
    X: np.ndarray
    y: np.ndarray
    u_bar: np.ndarray
    support: np.ndarray
    alpha: np.ndarray

    @property
    def Z(self) -> np.ndarray:
        """z_i = y_i x_i, shape (n, d)."""
        return self.y[:, None] * self.X

    @property
    def sv_span_full(self) -> bool:
        """Assumption 2.7: the support vectors span R^d."""
        return self.sv_rank == self.d

    @property
    def sv_span_data(self) -> bool:
        """Relaxed Assumption 2.7: span of the support vectors = span of the data."""
        return self.sv_rank == self.data_rank


def _well_conditioned(A: np.ndarray) -> bool:
    if A.shape[1] == 0:
        return True
    s = np.linalg.svd(A, compute_uv=False)
    return s.size >= A.shape[1] and s[-1] > _MIN_CONDITION * s[0]


def planted_problem(
    seed: int,
    *,
    n: int,
    d: int,
    gamma: float,
    n_sv: int,
    sv_rank: int,
    data_rank: int | None = None,
) -> PlantedProblem:
    """A pure function of its arguments: a separable problem with known max-margin solution.

    Construction (numpy Generator seeded with `seed`):
      1. A Haar-random orthonormal basis q_1..q_d; ū = q_1. E = span(q_2..q_{sv_rank})
         holds the support-vector offsets, F = span(q_{sv_rank+1}..q_{data_rank})
         the extra directions only non-support points use.
      2. Support vectors z_i = γū + v_i (i < n_sv), v_i ∈ E: draw weights
         a_i ∈ [0.5, 1.5] and Gaussian coefficients g_i, and centre them,
         c_i = g_i − Σ_k a_k g_k / Σ_k a_k, so Σ a_i v_i = 0 exactly (in reals) and the
         v_i span E (n_sv ≥ sv_rank points, centred, span sv_rank − 1 dimensions).
         Scaled so that max ‖v_i‖ = 0.9·sqrt(1 − γ²).
      3. Non-support points z_j = m_j ū + v_j with
         m_j ∈ [γ + 0.05, γ + 0.05 + 0.8(1 − γ − 0.05)]
         and v_j ∈ E ⊕ F of norm ≤ 0.9·sqrt(1 − m_j²); their F-coordinates span F.
      4. Labels y_i = ±1 at random, x_i = y_i z_i, rows shuffled.
    KKT holds exactly: ⟨ū/γ, z_i⟩ = 1 on support vectors and ≥ 1 + 0.05/γ elsewhere,
    and ū/γ = Σ α_i z_i with α_i = a_i/(γ² Σ a) > 0. So ū is the max-margin
    direction, γ the margin, span(SV) = span(ū) ⊕ E has dimension sv_rank and
    span(data) has dimension data_rank (default: sv_rank). Every ‖x_i‖ < 1.

    Requires 1 ≤ sv_rank ≤ data_rank ≤ d, sv_rank ≤ n_sv ≤ n,
    n − n_sv ≥ data_rank − sv_rank, and 0 < γ ≤ 0.9; else ProblemError.
    """
    data_rank = sv_rank if data_rank is None else data_rank
    if not 1 <= sv_rank <= data_rank <= d:
        raise ProblemError(f"need 1 ≤ sv_rank ≤ data_rank ≤ d, got {sv_rank}, {data_rank}, {d}")
    if not sv_rank <= n_sv <= n:
        raise ProblemError(f"need sv_rank ≤ n_sv ≤ n, got {sv_rank}, {n_sv}, {n}")
    if n - n_sv < data_rank - sv_rank:
        raise ProblemError(
            f"{n - n_sv} non-support points cannot span {data_rank - sv_rank} extra dimensions"
        )
    if not 0.0 < gamma <= 0.9:
        raise ProblemError(f"need 0 < gamma ≤ 0.9, got {gamma}")
    rng = np.random.default_rng(seed)

    # 1. basis
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))  # Haar-distributed
    u_bar = Q[:, 0]
    E = Q[:, 1:sv_rank]
    F = Q[:, sv_rank:data_rank]

    # 2. support vectors
    k = sv_rank - 1
    a = rng.uniform(0.5, 1.5, size=n_sv)
    for _ in range(_MAX_DRAWS):
        G = rng.standard_normal((n_sv, k))
        C = G - (a @ G) / a.sum()
        if _well_conditioned(C):
            break
    else:
        raise ProblemError(f"no well-conditioned support-vector offsets in {_MAX_DRAWS} draws")
    if k:
        C *= _SV_RADIUS * np.sqrt(1.0 - gamma**2) / np.max(np.linalg.norm(C, axis=1))
    Z_sv = gamma * u_bar + C @ E.T

    # 3. non-support points
    n_other = n - n_sv
    m = gamma + NON_SV_GAP + (1.0 - gamma - NON_SV_GAP) * rng.uniform(0.0, 0.8, size=n_other)
    ef = np.hstack([E, F])
    for _ in range(_MAX_DRAWS):
        H = rng.standard_normal((n_other, ef.shape[1]))
        if _well_conditioned(H[:, k:]):
            break
    else:
        raise ProblemError(f"no well-conditioned non-support offsets in {_MAX_DRAWS} draws")
    if ef.shape[1]:
        H /= np.maximum(np.linalg.norm(H, axis=1, keepdims=True), np.finfo(float).tiny)
        H *= (_SV_RADIUS * np.sqrt(1.0 - m**2) * rng.uniform(0.2, 1.0, size=n_other))[:, None]
    Z_other = m[:, None] * u_bar + H @ ef.T

    # 4. labels and order
    Z = np.vstack([Z_sv, Z_other])
    perm = rng.permutation(n)
    Z = Z[perm]
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    X = y[:, None] * Z
    where = np.argsort(perm)  # where[i] = new position of old row i
    sv_pos = where[:n_sv]
    order = np.argsort(sv_pos)
    alpha = a / (gamma**2 * a.sum())
    for arr in (X, y, u_bar):
        arr.flags.writeable = False
    return PlantedProblem(
        seed=seed,
        n=n,
        d=d,
        gamma=float(gamma),
        n_sv=n_sv,
        sv_rank=sv_rank,
        data_rank=data_rank,
        X=X,
        y=y,
        u_bar=u_bar,
        support=sv_pos[order],
        alpha=alpha[order],
    )


def planted_case(problem: PlantedProblem) -> Problem:
    """The validated Problem (with its solved max margin) for a planted problem."""
    return Problem.from_arrays(problem.X, problem.y)
