"""Hypothesis strategies for aligncheck: planted separable problems (aligncheck.data.planted), run
shapes (depths, widths, initialisations, seeds), for the conjectures and for users' own."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from aligncheck.data.planted import (
    SV_SPANS,
    PlantedProblem,
    SvSpan,
    planted_case,
    planted_problem,
)
from aligncheck.data.problem import Problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.errors import ProblemError
from aligncheck.numerics.network import INITS

__all__ = [
    "depths",
    "gammas",
    "init_seeds",
    "inits",
    "planted_cases",
    "run_cases",
    "planted_problems",
    "planted_shapes",
    "generic_planted_problems",
    "seeds",
    "sv_spans",
    "widths",
]


# ---------------------------------------------------------------------------
# strategies


def _as_strategy(value: object) -> SearchStrategy:
    return value if isinstance(value, SearchStrategy) else st.just(value)


def seeds() -> SearchStrategy[int]:
    """Seeds for numpy's default_rng: integers in [0, 2**32 − 1]."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def init_seeds() -> SearchStrategy[int]:
    """Seeds for the random initialisation of a network."""
    return seeds()


def inits() -> SearchStrategy[str]:
    """One of the initialisation schemes: "gaussian", "balanced", "w1zero"."""
    return st.sampled_from(INITS)


def depths(min_value: int = 1, max_value: int = 6) -> SearchStrategy[int]:
    """Network depth L (number of layers)."""
    return st.integers(min_value=min_value, max_value=max_value)


def widths(d: int, depth: int, *, max_width: int = 8) -> SearchStrategy[list[int]]:
    """Hidden widths d_1..d_{L−1}: a list of length depth − 1 with entries in 1..max_width.

    Width 1 (a bottleneck) is allowed; the input dimension d is drawn often so
    square layers are common (when d ≤ max_width).
    """
    if depth < 1:
        raise ProblemError(f"depth must be ≥ 1, got {depth}")
    width = st.integers(min_value=1, max_value=max_width)
    if 1 <= d <= max_width:
        width = st.one_of(st.just(d), width)
    return st.lists(width, min_size=depth - 1, max_size=depth - 1)


def gammas(min_value: float = 0.01, max_value: float = 0.9) -> SearchStrategy[float]:
    """Planted margins γ ∈ [min_value, max_value] (planted_problem needs γ ≤ 0.9)."""
    return st.floats(min_value=min_value, max_value=max_value)


def sv_spans() -> SearchStrategy[str]:
    """How the support vectors span: "full" (R^d, Assumption 2.7), "data" (span(SV) =
    span(data) < R^d), "partial" (span(SV) < span(data))."""
    return st.sampled_from(SV_SPANS)


@st.composite
def planted_shapes(
    draw,
    n: int | SearchStrategy[int] | None = None,
    d: int | SearchStrategy[int] | None = None,
    sv_span: SvSpan | SearchStrategy[str] | None = None,
) -> dict[str, int]:
    """Consistent (n, d, n_sv, sv_rank, data_rank) for planted_problem.

    d defaults to 1..6; n defaults to the minimum the span needs plus 0..8;
    sv_span defaults to any span feasible for d ("partial" and "data" need d ≥ 2).
    An explicit n or sv_span that the drawn d cannot satisfy is rejected (assume).
    """
    dd = draw(_as_strategy(d) if d is not None else st.integers(min_value=1, max_value=6))
    if sv_span is None:
        kind = draw(sv_spans()) if dd >= 2 else "full"
    else:
        kind = draw(_as_strategy(sv_span))
    assume(kind == "full" or dd >= 2)
    sv_rank = dd if kind == "full" else draw(st.integers(min_value=1, max_value=dd - 1))
    data_rank = draw(st.integers(sv_rank + 1, dd)) if kind == "partial" else sv_rank
    extra = data_rank - sv_rank
    n_sv = draw(st.integers(min_value=sv_rank, max_value=sv_rank + 3))
    if n is None:
        nn = n_sv + draw(st.integers(min_value=extra, max_value=extra + 8))
    else:
        nn = draw(_as_strategy(n))
        n_sv = min(n_sv, nn - extra)
        assume(n_sv >= sv_rank)
    return {"n": nn, "d": dd, "n_sv": n_sv, "sv_rank": sv_rank, "data_rank": data_rank}


def _planted_from(seed: int, gamma: float, shape: dict[str, int]) -> PlantedProblem:
    return planted_problem(seed, gamma=gamma, **shape)


def planted_problems(
    *,
    n: int | SearchStrategy[int] | None = None,
    d: int | SearchStrategy[int] | None = None,
    gamma: float | SearchStrategy[float] | None = None,
    sv_span: SvSpan | SearchStrategy[str] | None = None,
) -> SearchStrategy[PlantedProblem]:
    """Planted problems (see planted_problem) with drawn shape, margin and seed.

    Each argument may be a value or a strategy; None means the default range
    (see planted_shapes; gamma: gammas()).
    """
    return st.builds(
        _planted_from,
        seeds(),
        gammas() if gamma is None else _as_strategy(gamma),
        planted_shapes(n=n, d=d, sv_span=sv_span),
    )


def planted_cases(**kwargs) -> SearchStrategy[Problem]:
    """planted_problems(**kwargs) converted to Problems (the max margin is solved)."""
    return planted_problems(**kwargs).map(planted_case)


def generic_planted_problems(*, d: int | SearchStrategy[int] | None = None, max_others: int = 8) -> SearchStrategy[PlantedProblem]:
    """Planted problems in the 'almost all data' position of the max-margin theorems: exactly d
    linearly independent support vectors spanning R^d (Assumption 2.7), so the dual coefficients
    are unique and all > 0, and 0..max_others non-support points. (planted_problems may put more
    than d points on the margin, a measure-zero configuration the theorems exclude.)"""

    @st.composite
    def build(draw):
        dd = draw(_as_strategy(d) if d is not None else st.integers(min_value=1, max_value=6))
        n = dd + draw(st.integers(min_value=0, max_value=max_others))
        return planted_problem(draw(seeds()), n=n, d=dd, gamma=draw(gammas()), n_sv=dd, sv_rank=dd)

    return build()


@st.composite
def run_cases(
    draw,
    *,
    method: str = "gf",
    min_depth: int = 1,
    max_depth: int = 6,
    sv_span=None,
    generic: bool = False,
    min_d: int = 1,
    paper_step: bool = False,
    gd_steps: int | None = None,
    loss: str | None = None,
    gd_step: float | None = None,
    init_scale: float = 1.0,
    max_others: int = 8,
):
    """(PlantedProblem, RunSpec): depth min_depth..max_depth, any init, both losses (or ``loss``).

    ``generic``: problems in the max-margin theorems' 'almost all data' position (d independent
    support vectors spanning R^d). For GD: with ``paper_step`` the paper's step rule and the
    logistic loss (default 2000 steps); with ``gd_step`` that constant step; otherwise a short
    constant-step run (200 steps, η ∈ {0.01, 0.1, 0.5}). ``gd_steps`` overrides the step count.
    ``init_scale``: the initialisation scale (small starts keep Lemma 2's D small).
    ``max_others``: at most this many non-support points in generic problems.
    """
    d = st.integers(min_value=min_d, max_value=6)
    planted = draw(generic_planted_problems(d=d, max_others=max_others) if generic else planted_problems(d=d, sv_span=sv_span))
    depth = draw(depths(min_depth, max_depth))
    if paper_step:  # the paper's step rule (A3.5): logistic loss only
        extra = {"gd_step": None, "gd_steps": gd_steps or 2000}
        loss = "logistic"
    elif method == "gd":
        step = gd_step if gd_step is not None else draw(st.sampled_from([0.01, 0.1, 0.5]))
        extra = {"gd_step": step, "gd_steps": gd_steps or 200}
    else:
        extra = {}
    spec = RunSpec(
        depth=depth,
        loss=loss or draw(st.sampled_from(["exp", "logistic"])),
        init=draw(inits()),
        seed=draw(init_seeds()),
        init_scale=init_scale,
        widths=tuple(draw(widths(planted.d, depth))),
        method=method,
        **extra,
    )
    return planted, spec
