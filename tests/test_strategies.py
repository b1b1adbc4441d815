"""Planted problems and the small hypothesis strategies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from aligncheck.errors import ProblemError
from aligncheck.data.planted import NON_SV_GAP, PlantedProblem, planted_case, planted_problem
from aligncheck.testing.strategies import INITS, depths, init_seeds, inits, planted_cases, planted_problems, widths

TIGHT = 1e-13  # float64 rounding of the planted construction (a few ulps of O(1) quantities)


def numerical_rank(A: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(A))  # numpy default tol: max(shape)·eps·σ_max


def check_planted(pp: PlantedProblem) -> None:
    X, y, Z, u, g = pp.X, pp.y, pp.Z, pp.u_bar, pp.gamma
    assert X.shape == (pp.n, pp.d) and y.shape == (pp.n,)
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0)
    assert set(np.unique(y)) <= {-1.0, 1.0}
    assert abs(np.linalg.norm(u) - 1.0) < TIGHT
    sv = pp.support
    assert len(sv) == pp.n_sv and np.all(np.diff(sv) > 0)
    other = np.setdiff1d(np.arange(pp.n), sv)
    margins = Z @ u
    np.testing.assert_allclose(margins[sv], g, rtol=0, atol=TIGHT)
    assert np.all(margins[other] >= g + NON_SV_GAP - TIGHT)
    # KKT: ū/γ = Σ α_i z_i with α > 0
    assert np.all(pp.alpha > 0)
    np.testing.assert_allclose(pp.alpha @ Z[sv], u / g, rtol=0, atol=TIGHT / g**2)
    # declared spans
    assert numerical_rank(Z[sv]) == pp.sv_rank
    assert numerical_rank(Z) == pp.data_rank
    assert pp.sv_span_full == (pp.sv_rank == pp.d)
    assert pp.sv_span_data == (pp.sv_rank == pp.data_rank)


@settings(max_examples=80, deadline=None)
@given(planted_problems())
def test_planted_problems_satisfy_their_contract(pp):
    check_planted(pp)


@pytest.mark.parametrize("kind", ["full", "data", "partial"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_requested_span_is_delivered(kind, data):
    pp = data.draw(planted_problems(sv_span=kind, d=st.integers(2, 7)))
    check_planted(pp)
    if kind == "full":
        assert pp.sv_rank == pp.d and pp.sv_span_full
    elif kind == "data":
        assert pp.sv_rank == pp.data_rank < pp.d
    else:
        assert pp.sv_rank < pp.data_rank
        assert not pp.sv_span_data


@settings(max_examples=20, deadline=None)
@given(planted_problems(n=30, d=3, gamma=0.2))
def test_fixed_parameters_are_respected(pp):
    assert (pp.n, pp.d, pp.gamma) == (30, 3, 0.2)
    check_planted(pp)


def test_planted_problem_is_a_pure_function_of_its_arguments():
    kw = dict(n=20, d=4, gamma=0.3, n_sv=5, sv_rank=3, data_rank=4)
    a, b, c = planted_problem(11, **kw), planted_problem(11, **kw), planted_problem(12, **kw)
    for field in ("X", "y", "u_bar", "support", "alpha"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X, c.X)
    check_planted(a)


def test_degenerate_planted_shapes():
    # all support vectors equal (sv_rank 1), collinear data, more SVs than d
    check_planted(planted_problem(1, n=6, d=3, gamma=0.5, n_sv=3, sv_rank=1))
    check_planted(planted_problem(2, n=6, d=1, gamma=0.9, n_sv=2, sv_rank=1))
    check_planted(planted_problem(3, n=9, d=2, gamma=0.05, n_sv=7, sv_rank=2))
    check_planted(planted_problem(4, n=3, d=6, gamma=0.4, n_sv=2, sv_rank=2))


@pytest.mark.parametrize(
    "kw, fragment",
    [
        (dict(n=5, d=3, gamma=0.5, n_sv=2, sv_rank=4), "sv_rank"),
        (dict(n=5, d=3, gamma=0.5, n_sv=1, sv_rank=2), "n_sv"),
        (dict(n=5, d=3, gamma=0.5, n_sv=6, sv_rank=2), "n_sv"),
        (dict(n=3, d=4, gamma=0.5, n_sv=2, sv_rank=1, data_rank=3), "extra dimensions"),
        (dict(n=5, d=3, gamma=0.95, n_sv=2, sv_rank=2), "gamma"),
        (dict(n=5, d=3, gamma=0.0, n_sv=2, sv_rank=2), "gamma"),
        (dict(n=5, d=3, gamma=0.5, n_sv=2, sv_rank=2, data_rank=1), "data_rank"),
    ],
)
def test_planted_problem_rejects_impossible_parameters(kw, fragment):
    with pytest.raises(ProblemError, match=fragment):
        planted_problem(0, **kw)


def test_planted_case_is_a_solved_problem():
    pp = planted_problem(5, n=12, d=3, gamma=0.25, n_sv=4, sv_rank=3)
    prob = planted_case(pp)
    np.testing.assert_array_equal(prob.X, pp.X)
    assert prob.max_margin.support.tolist() == pp.support.tolist()


@settings(max_examples=10, deadline=None)
@given(planted_cases(d=2))
def test_planted_cases_strategy(problem):
    assert problem.d == 2 and problem.max_margin.certificate.ok


# ---------------------------------------------------------------------------
# network-shape strategies


@settings(max_examples=100)
@given(data=st.data())
def test_depths_and_widths(data):
    d = data.draw(st.integers(1, 12))
    L = data.draw(depths())
    assert 1 <= L <= 6
    w = data.draw(widths(d, L))
    assert len(w) == L - 1
    assert all(1 <= k <= 8 for k in w)


def test_widths_reach_bottleneck_and_square_layers():
    assert 1 in find(widths(5, 4), lambda w: 1 in w)
    assert find(widths(5, 3), lambda w: w == [5, 5]) == [5, 5]
    assert find(depths(2, 3), lambda L: L == 3) == 3


def test_depth_one_has_no_hidden_widths():
    assert find(widths(4, 1), lambda w: True) == []
    with pytest.raises(ProblemError):
        widths(4, 0)


def test_inits_and_seeds():
    for name in INITS:
        assert find(inits(), lambda s, name=name: s == name) == name
    assert find(init_seeds(), lambda s: s > 2**31) <= 2**32 - 1
