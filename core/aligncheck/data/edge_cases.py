"""Edge cases of the problem space: small seeded builders, each a pure function of a seed and a few
parameters returning a validated Problem (X n×d float64 with ‖x_i‖ ≤ 1, y (n,) of ±1, the max
margin solved and certified), and the EdgeCase record. The kinds, with what each promises:

- ``sv_span_data``: support vectors span a proper subspace of R^d that is also the span of the
  data (relaxed Assumption 2.7 holds, A2.7 fails);
- ``sv_span_partial``: span(SV) is smaller than span(data) (both forms of A2.7 fail);
- ``collinear``: d ≥ 2, every z_i on one ray through the origin, with different lengths
  (exactly: data rank 1 in float64);
- ``duplicated``: a planted problem with some rows (always a support vector) repeated;
- ``symmetric``: data mirror-symmetric about ū, with 2d − 1 > d support vectors on the margin,
  so the dual coefficients are not unique; every entry a binary fraction, exact in float64;
- ``n_below_d``: fewer points than dimensions;
- ``single_class``: every label y_i = +1;
- ``tiny_margin``: a planted margin γ as small as 1e-6;
- ``large_n``: 10^4 points.

The hypothesis strategies that draw them are in aligncheck.testing.edge_cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aligncheck.data.planted import planted_problem
from aligncheck.data.problem import Problem
from aligncheck.errors import ProblemError

EDGE_KINDS = (
    "sv_span_data",
    "sv_span_partial",
    "collinear",
    "duplicated",
    "symmetric",
    "n_below_d",
    "single_class",
    "tiny_margin",
    "large_n",
)


# "Large n" of issue 3.
LARGE_N = 10_000


# Smallest margin issue 3 asks for.
TINY_GAMMA = 1e-6


# Collinear data live on a dyadic grid so that every z_i is an exact multiple of one vector in
# float64: the direction's entries are multiples of 2^-20 (≤ 21 significant bits) and the lengths
# multiples of 2^-8 in [1/8, 1] (≤ 9 bits), so each product c_i·v_j has ≤ 30 bits and is exact.
_COLLINEAR_DIRECTION_BITS = 20
_COLLINEAR_LENGTH_STEPS = 256  # lengths k/256, k ∈ [32, 256]


# Symmetric data: every entry a binary fraction with few bits, so the mirror images are exact.
_SYMMETRIC_GAMMAS = (0.125, 0.25, 0.375, 0.5)
_SYMMETRIC_STEP = 1.0 / 16  # offsets are multiples of 1/16


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent numpy stream per (seed, purpose), so builders that reuse planted_problem(seed)
    draw their own extra randomness without correlating with it."""
    return np.random.default_rng([seed, stream])


def sv_span_data(seed: int, *, d: int = 3, sv_rank: int = 2, n: int = 8, gamma: float = 0.25) -> Problem:
    """Support vectors span a sv_rank-dimensional subspace (sv_rank < d) that contains all the data.

    A planted problem with sv_rank linearly independent support vectors (unique, positive dual
    coefficients) and data_rank = sv_rank: relaxed A2.7 holds, A2.7 fails.
    """
    if not 1 <= sv_rank < d:
        raise ProblemError(f"sv_span_data needs 1 ≤ sv_rank < d, got sv_rank={sv_rank}, d={d}")
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=sv_rank, sv_rank=sv_rank)
    return Problem.from_arrays(pp.X, pp.y)


def sv_span_partial(seed: int, *, d: int = 3, sv_rank: int = 1, data_rank: int = 3, n: int = 8, gamma: float = 0.25) -> Problem:
    """Support vectors span sv_rank dimensions, the data data_rank > sv_rank (data_rank ≤ d).

    Both A2.7 and its relaxed form fail; the sv_rank support vectors are independent.
    """
    if not 1 <= sv_rank < data_rank <= d:
        raise ProblemError(f"sv_span_partial needs 1 ≤ sv_rank < data_rank ≤ d, got {sv_rank}, {data_rank}, {d}")
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=sv_rank, sv_rank=sv_rank, data_rank=data_rank)
    return Problem.from_arrays(pp.X, pp.y)


def collinear(seed: int, *, n: int = 6, d: int = 2) -> Problem:
    """All z_i on one ray: z_i = c_i v with distinct lengths c_i ∈ [1/8, 1], ‖v‖ ≤ 1, random labels.

    Exactly rank 1 in float64 (dyadic entries, see above). The max-margin direction is v/‖v‖, the
    margin min_i c_i ‖v‖, and the shortest point is the only support vector (lengths are distinct).
    Needs d ≥ 2 (for d = 1 every data set is collinear) and n ≤ 225 (distinct lengths on the grid).
    """
    if d < 2:
        raise ProblemError(f"collinear data need d ≥ 2, got {d}")
    if not 1 <= n <= _COLLINEAR_LENGTH_STEPS - 31:
        raise ProblemError(f"collinear needs 1 ≤ n ≤ {_COLLINEAR_LENGTH_STEPS - 31}, got {n}")
    rng = _rng(seed, 0)
    scale = 2.0**_COLLINEAR_DIRECTION_BITS
    while True:
        g = rng.standard_normal(d)
        v = np.trunc(g / np.linalg.norm(g) * scale) / scale  # toward 0: ‖v‖ ≤ 1
        if np.any(v):
            break
    lengths = rng.choice(np.arange(32, _COLLINEAR_LENGTH_STEPS + 1), size=n, replace=False) / _COLLINEAR_LENGTH_STEPS
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    X = y[:, None] * (lengths[:, None] * v[None, :])
    return Problem.from_arrays(X, y)


def duplicated(seed: int, *, n: int = 8, d: int = 3, gamma: float = 0.25, copies: int = 3) -> Problem:
    """A planted problem (d independent support vectors spanning R^d) with ``copies`` extra rows that
    repeat existing ones exactly; the first repeats a support vector, so the support set has more
    points than its rank and the dual coefficients are not unique. Rows are shuffled."""
    if copies < 1:
        raise ProblemError(f"duplicated needs copies ≥ 1, got {copies}")
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=d, sv_rank=d)
    rng = _rng(seed, 1)
    repeat = np.concatenate([[rng.choice(pp.support)], rng.integers(0, n, size=copies - 1)])
    rows = rng.permutation(np.concatenate([np.arange(n), repeat]))
    return Problem.from_arrays(pp.X[rows], pp.y[rows])


def symmetric(seed: int, *, d: int = 2, n_pairs: int = 2) -> Problem:
    """Data mirror-symmetric about ū, with non-unique dual coefficients (d ≥ 2).

    In canonical coordinates ū = e_1 and γ = g ∈ {1/8, 1/4, 3/8, 1/2}. Support vectors: g·e_1
    and the pairs g·e_1 ± a_j·e_j (j = 2..d), 2d − 1 > d points on the margin; ``n_pairs`` further
    pairs m·e_1 ± b·e_j with m ≥ g + 1/16. Every entry is a multiple of 1/16, so the reflection
    z ↦ (z_1, −z_2, …, −z_d) maps the set {z_i} onto itself exactly, and ‖x_i‖ ≤ 1 exactly.
    The dual coefficients are any α ≥ 0 with Σα = 1/g² balancing each pair, e.g. all weight on
    g·e_1 or split evenly on a pair: not unique. A random signed permutation of the coordinates
    (exact in float64) and random labels finish it.
    """
    if d < 2:
        raise ProblemError(f"symmetric data need d ≥ 2, got {d}")
    if n_pairs < 0:
        raise ProblemError(f"symmetric needs n_pairs ≥ 0, got {n_pairs}")
    rng = _rng(seed, 2)
    s = _SYMMETRIC_STEP
    g = float(rng.choice(_SYMMETRIC_GAMMAS))
    rows = [np.eye(d)[0] * g]
    for j in range(1, d):
        # a_j ∈ {1/16, …} with g² + a_j² ≤ 1
        a = s * rng.integers(1, int(np.floor(np.sqrt(1.0 - g * g) / s)) + 1)
        for sign in (1.0, -1.0):
            z = np.zeros(d)
            z[0], z[j] = g, sign * a
            rows.append(z)
    for _ in range(n_pairs):
        m = s * rng.integers(int(g / s) + 1, int(1.0 / s) + 1)  # g + 1/16 ≤ m ≤ 1
        j = int(rng.integers(1, d))
        b = s * rng.integers(0, int(np.floor(np.sqrt(max(1.0 - m * m, 0.0)) / s)) + 1)
        for sign in (1.0, -1.0):
            z = np.zeros(d)
            z[0], z[j] = m, sign * b
            rows.append(z)
    Z = np.array(rows)
    perm = rng.permutation(d)
    signs = rng.choice(np.array([-1.0, 1.0]), size=d)
    Z = Z[:, perm] * signs  # the signed permutation: exact
    Z = Z[rng.permutation(len(Z))]
    y = rng.choice(np.array([-1.0, 1.0]), size=len(Z))
    return Problem.from_arrays(y[:, None] * Z, y)


def n_below_d(seed: int, *, n: int = 3, d: int = 5, n_sv: int = 2, gamma: float = 0.25) -> Problem:
    """Fewer points than dimensions (n < d): n_sv independent support vectors, and the data in
    general position spanning n dimensions (so span(SV) < span(data) when n_sv < n)."""
    if not 1 <= n_sv <= n < d:
        raise ProblemError(f"n_below_d needs 1 ≤ n_sv ≤ n < d, got n_sv={n_sv}, n={n}, d={d}")
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=n_sv, sv_rank=n_sv, data_rank=n)
    return Problem.from_arrays(pp.X, pp.y)


def single_class(seed: int, *, n: int = 8, d: int = 3, gamma: float = 0.25) -> Problem:
    """Every label +1: the planted problem's z_i taken as the points (x_i = z_i, y_i = +1)."""
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=d, sv_rank=d)
    return Problem.from_arrays(pp.Z, np.ones(n))


def tiny_margin(seed: int, *, gamma: float = TINY_GAMMA, n: int = 8, d: int = 3) -> Problem:
    """A planted problem with margin ``gamma`` (down to 1e-6) and d independent support vectors
    spanning R^d. The solved γ matches the planted one to ~eps·‖z‖/γ (float64 rounding of O(1)
    entries, relative to γ): ~1e-10 at γ = 1e-6."""
    if not TINY_GAMMA <= gamma <= 0.9:
        raise ProblemError(f"tiny_margin needs {TINY_GAMMA:g} ≤ gamma ≤ 0.9, got {gamma}")
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=d, sv_rank=d)
    return Problem.from_arrays(pp.X, pp.y)


def large_n(seed: int, *, n: int = LARGE_N, d: int = 3, gamma: float = 0.25) -> Problem:
    """A planted problem with n points (default 10^4) and d independent support vectors spanning R^d."""
    pp = planted_problem(seed, n=n, d=d, gamma=gamma, n_sv=d, sv_rank=d)
    return Problem.from_arrays(pp.X, pp.y)


BUILDERS: dict[str, Callable[..., Problem]] = {
    "sv_span_data": sv_span_data,
    "sv_span_partial": sv_span_partial,
    "collinear": collinear,
    "duplicated": duplicated,
    "symmetric": symmetric,
    "n_below_d": n_below_d,
    "single_class": single_class,
    "tiny_margin": tiny_margin,
    "large_n": large_n,
}


@dataclass(frozen=True, eq=False)
class EdgeCase:
    """One edge-case problem: its kind (one of EDGE_KINDS), the seed and parameters it was built
    from (sorted by name; ``build_edge_case(kind, seed, **dict(params))`` rebuilds it), and the Problem."""

    kind: str
    seed: int
    params: tuple[tuple[str, object], ...]
    problem: Problem

    @property
    def label(self) -> str:
        """kind and parameters (floats in full, so distinct parameters give distinct labels), for
        file names: e.g. ``tiny_margin-d3-gamma1e-06-n8`` (the seed is not part of it)."""
        return "-".join([self.kind, *(f"{k}{v!r}" for k, v in self.params)])

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"build_edge_case({self.kind!r}, {self.seed}{', ' if args else ''}{args})"


def build_edge_case(kind: str, seed: int, **params) -> EdgeCase:
    """The EdgeCase of ``kind`` built by its builder from ``seed`` and ``params``."""
    if kind not in BUILDERS:
        raise ProblemError(f"unknown edge case {kind!r}: choose one of {', '.join(EDGE_KINDS)}")
    return EdgeCase(kind, seed, tuple(sorted(params.items())), BUILDERS[kind](seed, **params))
