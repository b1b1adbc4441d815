"""Edge cases the strategies must reach (issue 3): small seeded builders and hypothesis strategies.

Every builder is a pure function of a seed and a few parameters and returns a validated
:class:`aligncheck.data.problem.Problem` (X n×d float64 with ‖x_i‖ ≤ 1, y (n,) of ±1, z_i = y_i x_i, the
max margin solved and certified). The kinds, with what each promises:

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

:func:`edge_cases` draws an :class:`EdgeCase` (kind, seed, parameters, Problem);
:func:`edge_run_specs` draws the network edge cases for it (depth 1 or 8, width-1 bottlenecks,
every initialisation); :func:`edge_run_cases` draws both.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from aligncheck.data.edge_cases import EDGE_KINDS, LARGE_N, EdgeCase, build_edge_case
from aligncheck.dynamics.spec import RunSpec
from aligncheck.errors import ProblemError
from aligncheck.testing.strategies import init_seeds, inits, seeds

__all__ = ["EDGE_DEPTHS", "edge_case_params", "edge_cases", "edge_run_cases", "edge_run_specs", "network_tags"]


# The network edge cases of issue 3: a linear predictor (L = 1) and a deep network (L = 8).
EDGE_DEPTHS = (1, 8)


# Hidden widths of the deep edge networks are at most this: the point is the depth and the
# bottleneck, and small layers keep an 8-layer gradient-flow run within its evaluation budget.
_EDGE_MAX_WIDTH = 3


# ---------------------------------------------------------------- builders


# ---------------------------------------------------------------- strategies


def _as_strategy(value: object) -> SearchStrategy:
    return value if isinstance(value, SearchStrategy) else st.just(value)


@st.composite
def _span_data_params(draw) -> dict:
    d = draw(st.integers(2, 4))
    sv_rank = draw(st.integers(1, d - 1))
    return {"d": d, "sv_rank": sv_rank, "n": sv_rank + draw(st.integers(0, 6)), "gamma": draw(st.floats(0.05, 0.9))}


@st.composite
def _span_partial_params(draw) -> dict:
    d = draw(st.integers(2, 4))
    data_rank = draw(st.integers(2, d))
    sv_rank = draw(st.integers(1, data_rank - 1))
    n = data_rank + draw(st.integers(0, 6))  # n − n_sv ≥ data_rank − sv_rank non-support points
    return {"d": d, "sv_rank": sv_rank, "data_rank": data_rank, "n": n, "gamma": draw(st.floats(0.05, 0.9))}


@st.composite
def _n_below_d_params(draw) -> dict:
    d = draw(st.integers(2, 6))
    n = draw(st.integers(1, d - 1))
    return {"n": n, "d": d, "n_sv": draw(st.integers(1, n)), "gamma": draw(st.floats(0.05, 0.9))}


@st.composite
def _with_n(draw, base: SearchStrategy[dict]) -> dict:
    """``base`` (which draws d) plus n = d + 0..6: room for d support vectors and a few more points."""
    p = draw(base)
    return {"n": p["d"] + draw(st.integers(0, 6)), **p}


# γ = 10^e with e ∈ [−6, −3]: drawn on a log scale, so γ = 1e-6 is as likely as γ = 1e-3.
_tiny_gammas = st.floats(-6.0, -3.0).map(lambda e: float(10.0**e))


def edge_case_params(kind: str) -> SearchStrategy[dict]:
    """The builder parameters drawn for ``kind`` (small d, so a deep network stays cheap)."""
    strategies: dict[str, SearchStrategy[dict]] = {
        "sv_span_data": _span_data_params(),
        "sv_span_partial": _span_partial_params(),
        "collinear": st.fixed_dictionaries({"n": st.integers(1, 12), "d": st.integers(2, 4)}),
        "duplicated": _with_n(st.fixed_dictionaries({"d": st.integers(1, 4), "gamma": st.floats(0.05, 0.9), "copies": st.integers(1, 4)})),
        "symmetric": st.fixed_dictionaries({"d": st.integers(2, 4), "n_pairs": st.integers(0, 4)}),
        "n_below_d": _n_below_d_params(),
        "single_class": _with_n(st.fixed_dictionaries({"d": st.integers(1, 4), "gamma": st.floats(0.05, 0.9)})),
        "tiny_margin": _with_n(st.fixed_dictionaries({"d": st.integers(1, 3), "gamma": _tiny_gammas})),
        "large_n": st.fixed_dictionaries({"n": st.just(LARGE_N), "d": st.integers(1, 3), "gamma": st.floats(0.05, 0.9)}),
    }
    if kind not in strategies:
        raise ProblemError(f"unknown edge case {kind!r}: choose one of {', '.join(EDGE_KINDS)}")
    return strategies[kind]


def edge_cases(kind: str | Sequence[str] | SearchStrategy[str] | None = None) -> SearchStrategy[EdgeCase]:
    """EdgeCases of the given kind(s) (default: any of EDGE_KINDS), with drawn seed and parameters."""
    if kind is None:
        kinds = st.sampled_from(EDGE_KINDS)
    elif isinstance(kind, (str, SearchStrategy)):
        kinds = _as_strategy(kind)
    else:
        kinds = st.sampled_from(tuple(kind))

    @st.composite
    def build(draw) -> EdgeCase:
        k = draw(kinds)
        params = draw(edge_case_params(k))
        return build_edge_case(k, draw(seeds()), **params)

    return build()


@st.composite
def edge_run_specs(
    draw,
    d: int,
    *,
    depth: int | SearchStrategy[int] | None = None,
    bottleneck: bool | SearchStrategy[bool] | None = None,
    init: str | SearchStrategy[str] | None = None,
    loss: str | SearchStrategy[str] | None = None,
) -> RunSpec:
    """Gradient-flow RunSpecs for input dimension d on the network edge cases.

    depth: default 1 or 8 (EDGE_DEPTHS). bottleneck (depth ≥ 2 only): one hidden layer of width
    exactly 1, the others 1..3; without one the hidden widths are 2..3; default drawn. init:
    default any of gaussian/balanced/w1zero. loss: default exp or logistic.
    """
    L = draw(st.sampled_from(EDGE_DEPTHS) if depth is None else _as_strategy(depth))
    if bottleneck is True and L < 2:
        raise ProblemError("a width-1 bottleneck needs depth ≥ 2")
    neck = L >= 2 and draw(st.booleans() if bottleneck is None else _as_strategy(bottleneck))
    hidden = draw(st.lists(st.integers(2 if not neck else 1, _EDGE_MAX_WIDTH), min_size=L - 1, max_size=L - 1))
    if neck:
        hidden[draw(st.integers(0, L - 2))] = 1
    return RunSpec(
        depth=L,
        loss=draw(st.sampled_from(["exp", "logistic"]) if loss is None else _as_strategy(loss)),
        init=draw(inits() if init is None else _as_strategy(init)),
        seed=draw(init_seeds()),
        widths=tuple(hidden),
        method="gf",
    )


def network_tags(spec: RunSpec) -> tuple[str, ...]:
    """The network edge cases a run spec reaches: "depth 1", "depth 8", "width-1 bottleneck", "init X"."""
    tags = [f"depth {spec.depth}"] if spec.depth in EDGE_DEPTHS else []
    if spec.widths is not None and 1 in spec.widths:
        tags.append("width-1 bottleneck")
    tags.append(f"init {spec.init}")
    return tuple(tags)


@st.composite
def edge_run_cases(draw, kind: str | Sequence[str] | SearchStrategy[str] | None = None) -> tuple[EdgeCase, RunSpec]:
    """(EdgeCase, RunSpec): an edge-case problem and a run on an edge-case network."""
    case = draw(edge_cases(kind))
    return case, draw(edge_run_specs(case.problem.d))
