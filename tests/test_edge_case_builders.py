"""The edge-case builders keep their promises (aligncheck.data.edge_cases), and the report counts edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aligncheck.data.edge_cases import EDGE_KINDS, LARGE_N, TINY_GAMMA, EdgeCase, build_edge_case, collinear, duplicated, single_class, symmetric, tiny_margin
from aligncheck.testing.edge_cases import EDGE_DEPTHS, edge_cases, edge_run_cases, edge_run_specs, network_tags
from aligncheck.errors import ProblemError
from aligncheck.numerics.network import INITS
from aligncheck.harness.report import Recorder
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status, Verdict

# float64 rounding of planted constructions: a few ulps of O(1) quantities (as tests/test_strategies.py).
TIGHT = 1e-13


def check_promise(edge: EdgeCase) -> None:
    """What every edge case promises, then what its kind promises."""
    p, mm = edge.problem, edge.problem.max_margin
    params = dict(edge.params)
    assert mm is not None and mm.certificate.ok  # separable, max margin certified
    assert p.max_norm <= 1.0  # the paper's ‖x_i‖ ≤ 1, exactly in float64
    assert set(np.unique(p.y)) <= {-1.0, 1.0}
    n_support = len(mm.support)
    if edge.kind == "sv_span_data":
        assert mm.sv_rank < p.d and mm.sv_rank == mm.data_rank
        assert not mm.sv_span_full and mm.sv_span_data
    elif edge.kind == "sv_span_partial":
        assert mm.sv_rank < mm.data_rank <= p.d
        assert not mm.sv_span_full and not mm.sv_span_data
    elif edge.kind == "collinear":
        assert p.d >= 2 and mm.data_rank == 1
        # Exactly on one ray: every 2x2 minor z_i[a]·z_j[b] − z_i[b]·z_j[a] is 0 in float64 (both
        # products are roundings of the same real number), and every z_i points along ū.
        Z = p.Z
        minors = Z[:, None, :, None] * Z[None, :, None, :] - Z[:, None, None, :] * Z[None, :, :, None]
        assert not np.any(minors)
        lengths = np.linalg.norm(Z, axis=1)
        assert len(np.unique(lengths)) == p.n  # different lengths
        # ū = v/‖v‖ up to rounding of the normalisation, so ⟨ū, z_i⟩ = ‖z_i‖ to a few ulps.
        np.testing.assert_allclose(Z @ mm.u_bar, lengths, rtol=TIGHT, atol=0)
        assert n_support == 1 and mm.support[0] == np.argmin(lengths)
    elif edge.kind == "duplicated":
        rows = np.unique(np.column_stack([p.X, p.y]), axis=0)
        assert len(rows) < p.n  # some rows repeated
        assert n_support > mm.sv_rank  # a repeated support vector: dual coefficients not unique
    elif edge.kind == "symmetric":
        assert p.d >= 2 and n_support == 2 * p.d - 1 > mm.sv_rank == p.d
        # ū is a signed coordinate axis, exactly; the reflection about it (negating every other
        # coordinate) maps the multiset {z_i} onto itself exactly.
        axis = int(np.argmax(np.abs(mm.u_bar)))
        assert abs(mm.u_bar[axis]) == 1.0 and np.count_nonzero(mm.u_bar) == 1
        Z = p.Z
        mirrored = -Z
        mirrored[:, axis] = Z[:, axis]
        assert sorted(map(tuple, Z)) == sorted(map(tuple, mirrored))
    elif edge.kind == "n_below_d":
        assert p.n < p.d and not mm.sv_span_full
    elif edge.kind == "single_class":
        assert np.all(p.y == 1.0)
    elif edge.kind == "tiny_margin":
        # The solved γ differs from the planted one by the rounding of the O(1) data entries,
        # ~sqrt(d)·eps/γ relative (3e-10 at γ = 1e-6); 1e-8 leaves 30x to spare.
        gamma = params.get("gamma", TINY_GAMMA)  # the builder's default is the smallest margin
        assert gamma >= TINY_GAMMA and abs(mm.gamma - gamma) <= 1e-8 * gamma
    elif edge.kind == "large_n":
        assert p.n == params.get("n", LARGE_N) == LARGE_N
    else:
        raise AssertionError(f"unknown kind {edge.kind}")


@pytest.mark.parametrize("kind", EDGE_KINDS)
def test_each_builder_keeps_its_promise_at_its_defaults(kind):
    check_promise(build_edge_case(kind, 0))


@settings(max_examples=60)
@given(edge_cases())
def test_drawn_edge_cases_keep_their_promise(edge):
    check_promise(edge)


@pytest.mark.parametrize("kind", EDGE_KINDS)
def test_every_kind_is_drawn_and_rebuilds_from_its_record(kind):
    @settings(max_examples=3)
    @given(edge_cases(kind))
    def check(edge):
        assert edge.kind == kind
        again = build_edge_case(edge.kind, edge.seed, **dict(edge.params))  # a pure function of them
        assert np.array_equal(again.problem.X, edge.problem.X) and np.array_equal(again.problem.y, edge.problem.y)
        assert edge.label.split("-")[0] == kind

    check()


def test_tiny_margin_reaches_1e_minus_6():
    p = tiny_margin(3, gamma=1e-6)
    # Same tolerance and reason as in check_promise.
    assert abs(p.max_margin.gamma - 1e-6) <= 1e-8 * 1e-6
    assert p.max_margin.sv_span_full and len(p.max_margin.support) == p.d


def test_large_n_has_ten_thousand_rows():
    edge = build_edge_case("large_n", 5)
    assert edge.problem.X.shape == (10_000, 3) and LARGE_N == 10_000


def test_collinear_has_data_rank_one_in_higher_dimension():
    p = collinear(4, n=9, d=4)
    assert np.linalg.matrix_rank(p.Z) == 1 and p.d == 4 and p.max_margin.sv_rank == 1


def test_symmetric_duals_are_not_unique():
    p = symmetric(11, d=3, n_pairs=3)
    mm = p.max_margin
    Zs = p.Z[mm.support]
    # Two different non-negative dual vectors both give ŵ = ū/γ: the reported (basic) one and
    # equal weights 1/((2d − 1)γ²) on every support vector (the mirror pairs cancel).
    uniform = np.full(len(mm.support), 1.0 / (len(mm.support) * mm.gamma**2))
    # Entries are multiples of 1/16 and 1/γ² ≤ 64: the sums are near-exact, rounding ~eps·‖ŵ‖.
    np.testing.assert_allclose(uniform @ Zs, mm.w_hat, rtol=0, atol=TIGHT * np.linalg.norm(mm.w_hat))
    np.testing.assert_allclose(mm.alpha @ Zs, mm.w_hat, rtol=0, atol=TIGHT * np.linalg.norm(mm.w_hat))
    assert not np.allclose(uniform, mm.alpha)
    assert len(mm.support) > mm.sv_rank


def test_duplicated_keeps_the_planted_solution():
    pp = planted_problem(8, n=8, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    p = duplicated(8, n=8, d=3, gamma=0.3, copies=2)
    assert p.n == 10
    # Repeating rows changes neither ū nor γ: equal to the planted ones up to float64 rounding
    # of the construction (TIGHT, absolute on O(1) quantities).
    np.testing.assert_allclose(p.max_margin.u_bar, pp.u_bar, rtol=0, atol=TIGHT)
    assert abs(p.max_margin.gamma - pp.gamma) <= TIGHT


def test_single_class_keeps_the_planted_geometry():
    pp = planted_problem(2, n=7, d=2, gamma=0.4, n_sv=2, sv_rank=2)
    p = single_class(2, n=7, d=2, gamma=0.4)
    assert np.all(p.y == 1.0) and np.array_equal(p.X, pp.Z)


@pytest.mark.parametrize(
    "kind, params",
    [
        ("collinear", {"d": 1}),
        ("symmetric", {"d": 1}),
        ("sv_span_data", {"d": 3, "sv_rank": 3}),
        ("sv_span_partial", {"d": 3, "sv_rank": 2, "data_rank": 2}),
        ("n_below_d", {"n": 4, "d": 4, "n_sv": 2}),
        ("duplicated", {"copies": 0}),
        ("tiny_margin", {"gamma": 1e-7}),
        ("no_such_kind", {}),
    ],
)
def test_builders_refuse_parameters_outside_their_kind(kind, params):
    with pytest.raises(ProblemError):
        build_edge_case(kind, 0, **params)


@settings(max_examples=40)
@given(st.integers(1, 6).flatmap(lambda d: st.tuples(st.just(d), edge_run_specs(d))))
def test_edge_run_specs_are_network_edge_cases(d_spec):
    d, spec = d_spec
    assert spec.depth in EDGE_DEPTHS and spec.method == "gf" and spec.init in INITS
    widths = spec.hidden_widths(d)  # validates the length
    assert len(widths) == spec.depth - 1
    if spec.depth == 1:
        assert widths == ()
    else:
        assert all(1 <= w <= 3 for w in widths)
    tags = network_tags(spec)
    assert f"depth {spec.depth}" in tags and f"init {spec.init}" in tags
    assert ("width-1 bottleneck" in tags) == (1 in widths)


def test_edge_run_specs_reach_bottlenecks_and_every_init():
    seen = set()

    @settings(max_examples=60)
    @given(edge_run_specs(3))
    def collect(spec):
        seen.update(network_tags(spec))

    collect()
    assert {"depth 1", "depth 8", "width-1 bottleneck", *(f"init {i}" for i in INITS)} <= seen


def test_edge_run_specs_honour_fixed_choices():
    @settings(max_examples=10)
    @given(edge_run_specs(2, depth=8, bottleneck=True, init="w1zero", loss="logistic"))
    def check(spec):
        assert spec.depth == 8 and spec.widths.count(1) >= 1 and spec.init == "w1zero" and spec.loss == "logistic"

    check()


@settings(max_examples=10)
@given(edge_run_cases("symmetric"))
def test_edge_run_cases_fit_the_problem(case):
    edge, spec = case
    assert edge.kind == "symmetric" and len(spec.hidden_widths(edge.problem.d)) == spec.depth - 1


def test_recorder_counts_examples_and_verdicts_per_edge_case():
    rec = Recorder()
    holds = Verdict("gf.risk_monotone", Status.HOLDS, 0.0, 0.0, "")
    unclear = Verdict("gf.risk_to_zero", Status.INCONCLUSIVE, 1.0, 1e-100, "")
    rec.record([holds, unclear], seed=1, init_seed=2, replay="", case="collinear-d2-n6", edge_cases=("collinear", "depth 8", "collinear"))
    rec.record([holds], seed=3, init_seed=4, replay="", edge_cases=("collinear",))
    rec.record([holds], seed=5, init_seed=6, replay="")  # a planted example: no edge case
    out = rec.as_json()
    assert set(out) == {"papers", "claims", "conjectures", "controls", "assumption_patterns", "edge_cases", "rates", "rate_findings", "plots"}
    assert out["edge_cases"]["collinear"] == {"examples": 2, "holds": 2, "violated": 0, "inconclusive": 1, "not_applicable": 0}
    assert out["edge_cases"]["depth 8"]["examples"] == 1


def test_recorder_names_the_case_of_a_violation():
    rec = Recorder()
    bad = Verdict("gf.rank_one", Status.VIOLATED, 0.5, 1e-3, "rose")
    rec.record([bad], seed=7, init_seed=8, replay="aligncheck check x.npz", case="symmetric-d2-n_pairs2")
    (claim,) = rec.as_json()["claims"]
    assert claim["violations"] == [{"case": "symmetric-d2-n_pairs2", "seed": 7, "init_seed": 8, "replay": "aligncheck check x.npz", "reason": "rose"}]
