"""Max-margin solver: known answers, degenerate data, the exact fallback, and planted problems."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings

import aligncheck.data.maxmargin as mmod
from aligncheck.errors import ProblemError
from aligncheck.data.maxmargin import Certificate, NotSeparableError, max_margin
from aligncheck.data.problem import Problem, scale_to_unit_ball
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.testing.strategies import planted_problems

SQ2 = np.sqrt(2.0)
KNOWN = 1e-9  # known-answer tolerance of the brief; the solver is exact up to float64 rounding


def check_kkt(Z: np.ndarray, mm) -> None:
    """Independent float re-check of KKT for a MaxMargin on rows Z."""
    w = mm.w_hat
    m = Z @ w
    assert np.all(m >= 1 - 1e-12)  # 1e-12 absorbs float rounding of ⟨ŵ, z⟩ for ‖ŵ‖‖z‖ ≤ ~10
    assert np.all(mm.alpha >= 0)
    assert np.allclose(mm.alpha @ Z[mm.support], w, rtol=0, atol=1e-12 * np.linalg.norm(w))
    assert np.allclose(m[mm.support], 1.0, rtol=0, atol=1e-12)
    assert abs(np.linalg.norm(mm.u_bar) - 1) < 4e-16  # unit up to a couple of ulps
    assert np.isclose(np.min(m), 1.0, rtol=0, atol=1e-12)


def certificate_is_tight(mm) -> None:
    c = mm.certificate
    assert c.ok and c.exact and not c.failures
    for value in (c.primal_residual, c.stationarity_residual, c.complementarity_residual):
        assert value <= 1e-14  # exact polish: the rounded outputs are within a few ulps
    assert c.primal_tol < 1e-11 and c.stationarity_tol < 1e-11  # well-conditioned data


# ---------------------------------------------------------------------------
# known answers


def test_two_orthogonal_points():
    mm = max_margin(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(mm.u_bar, [1 / SQ2, 1 / SQ2], atol=KNOWN)
    assert mm.gamma == pytest.approx(1 / SQ2, rel=KNOWN)
    assert mm.support.tolist() == [0, 1]
    np.testing.assert_allclose(mm.alpha, [1.0, 1.0], atol=KNOWN)
    assert mm.sv_span_full and mm.sv_span_data
    certificate_is_tight(mm)


def soudry_data() -> tuple[np.ndarray, np.ndarray]:
    """Soudry et al. 2018: SVs (0.5,1.5), (1.5,0.5) with y=+1, their negatives with y=−1,
    plus two points well beyond the margin."""
    X = np.array(
        [[0.5, 1.5], [1.5, 0.5], [-0.5, -1.5], [-1.5, -0.5], [1.5, 2.0], [-2.0, -1.0]]
    )
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0])
    return X, y


def test_soudry_known_answer():
    X, y = soudry_data()
    mm = Problem.from_arrays(X, y).max_margin
    np.testing.assert_allclose(mm.u_bar, [1 / SQ2, 1 / SQ2], atol=KNOWN)
    assert mm.gamma == pytest.approx(SQ2, rel=KNOWN)
    np.testing.assert_allclose(mm.w_hat, [0.5, 0.5], atol=KNOWN)
    assert mm.support.tolist() == [0, 1, 2, 3]
    # z_0 = z_2 and z_1 = z_3: α is split between duplicates, 1/4 per distinct SV in total
    a = dict(zip(mm.support.tolist(), mm.alpha))
    assert a[0] + a[2] == pytest.approx(0.25, rel=KNOWN)
    assert a[1] + a[3] == pytest.approx(0.25, rel=KNOWN)
    assert mm.sv_span_full and mm.sv_span_data
    certificate_is_tight(mm)
    check_kkt(y[:, None] * X, mm)


def test_soudry_rescaled_to_unit_ball():
    X, y = soudry_data()
    Xs, factor = scale_to_unit_ball(X)
    assert factor == pytest.approx(2.5, rel=1e-15)  # ‖(1.5, 2)‖ = 2.5, maybe nudged by an ulp
    mm = Problem.from_arrays(Xs, y).max_margin
    np.testing.assert_allclose(mm.u_bar, [1 / SQ2, 1 / SQ2], atol=KNOWN)
    assert mm.gamma == pytest.approx(SQ2 / 2.5, rel=KNOWN)
    assert mm.support.tolist() == [0, 1, 2, 3]
    a = dict(zip(mm.support.tolist(), mm.alpha))
    assert a[0] + a[2] == pytest.approx(0.25 * 2.5**2, rel=KNOWN)  # α scales by factor²


def test_duplicated_points():
    Z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [3.0, 3.0]])
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.w_hat, [1.0, 0.5], atol=KNOWN)
    assert mm.gamma == pytest.approx(1 / np.sqrt(1.25), rel=KNOWN)
    assert mm.support.tolist() == [0, 1, 2, 3]
    a = dict(zip(mm.support.tolist(), mm.alpha))
    assert a[0] + a[1] + a[3] == pytest.approx(1.0, rel=KNOWN)
    assert a[2] == pytest.approx(0.25, rel=KNOWN)
    certificate_is_tight(mm)
    check_kkt(Z, mm)


def test_collinear_data_in_r3():
    a = np.array([1.0, 2.0, 2.0]) / 3.0  # unit in reals; scaling by ±0.5, 2 is exact in float
    X = np.array([0.5 * a, -a, 2.0 * a, -0.5 * a])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    mm = Problem.from_arrays(X, y).max_margin
    np.testing.assert_allclose(mm.u_bar, a / np.linalg.norm(a), atol=KNOWN)
    assert mm.gamma == pytest.approx(0.5, rel=KNOWN)
    assert mm.support.tolist() == [0, 3]
    assert mm.alpha.sum() == pytest.approx(4.0, rel=KNOWN)
    assert (mm.sv_rank, mm.data_rank) == (1, 1)
    assert not mm.sv_span_full and mm.sv_span_data
    certificate_is_tight(mm)


def test_fewer_points_than_dimensions():
    X = np.array([[1.0, 0, 0, 0, 0], [0, -1.0, 0, 0, 0]])
    y = np.array([1.0, -1.0])
    mm = Problem.from_arrays(X, y).max_margin
    np.testing.assert_allclose(mm.u_bar, [1 / SQ2, 1 / SQ2, 0, 0, 0], atol=KNOWN)
    assert mm.gamma == pytest.approx(1 / SQ2, rel=KNOWN)
    assert mm.support.tolist() == [0, 1]
    assert (mm.sv_rank, mm.data_rank) == (2, 2)
    assert not mm.sv_span_full and mm.sv_span_data


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_dimension(sign):
    Z = sign * np.array([[2.0], [3.0], [0.5], [0.5]])
    mm = max_margin(Z)
    assert mm.u_bar.tolist() == [sign]
    assert mm.gamma == pytest.approx(0.5, rel=KNOWN)
    assert mm.support.tolist() == [2, 3]
    assert mm.alpha.sum() == pytest.approx(4.0, rel=KNOWN)
    assert mm.sv_span_full


def test_single_point():
    mm = max_margin(np.array([[3.0, 4.0]]))
    np.testing.assert_allclose(mm.u_bar, [0.6, 0.8], atol=KNOWN)
    assert mm.gamma == pytest.approx(5.0, rel=KNOWN)
    assert mm.support.tolist() == [0]
    assert not mm.sv_span_full and mm.sv_span_data


def test_symmetric_data_with_non_unique_alpha_in_r2():
    # ŵ = (1, 0) = t(1,1) + t(1,−1) + (1 − 2t)(1,0) for every t ∈ [0, 1/2]
    Z = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.0], [2.0, 0.0]])
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.u_bar, [1.0, 0.0], atol=KNOWN)
    assert mm.gamma == pytest.approx(1.0, rel=KNOWN)
    assert mm.support.tolist() == [0, 1, 2]
    check_kkt(Z, mm)
    certificate_is_tight(mm)


def test_more_support_vectors_than_dimensions():
    # four SVs in R^3, α non-unique: a = b, c = e, 2a + 2c = 1
    Z = np.array([[1.0, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [2, 0.5, 0.5]])
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.u_bar, [1.0, 0, 0], atol=KNOWN)
    assert mm.gamma == pytest.approx(1.0, rel=KNOWN)
    assert mm.support.tolist() == [0, 1, 2, 3]
    assert mm.sv_span_full and mm.sv_rank == 3
    check_kkt(Z, mm)


def test_support_spans_less_than_data():
    Z = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 1.0], [1.5, 0.0, -1.0]])
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.u_bar, [1.0, 0.0, 0.0], atol=KNOWN)
    assert mm.support.tolist() == [0]
    assert (mm.sv_rank, mm.data_rank) == (1, 2)
    assert not mm.sv_span_full and not mm.sv_span_data


def test_support_vector_tolerance_is_relative_margin():
    # row 1 misses the margin by 1e-12 (a support vector within SV_TOL = 1e-9, α = 0),
    # row 2 by 1e-6 (not one)
    Z = np.array([[1.0, 0.0], [1.0 + 1e-12, 0.3], [1.0 + 1e-6, -0.3]])
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.u_bar, [1.0, 0.0], atol=KNOWN)
    assert mm.support.tolist() == [0, 1]
    np.testing.assert_allclose(mm.alpha, [1.0, 0.0], atol=KNOWN)
    assert mm.sv_span_full
    strict = max_margin(Z, sv_tol=1e-13)
    assert strict.support.tolist() == [0] and not strict.sv_span_full


def test_many_duplicates_of_the_support_vectors():
    base = np.array([[1.0, 0.5], [0.5, 1.0], [2.0, 2.0]])
    Z = np.repeat(base, [3000, 3000, 10], axis=0)
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.w_hat, [2 / 3, 2 / 3], atol=KNOWN)
    assert len(mm.support) == 6000
    assert mm.alpha.sum() == pytest.approx(2 * (2 / 3) / 1.5, rel=KNOWN)  # Σα = ‖ŵ‖²
    assert np.count_nonzero(mm.alpha) == 2  # a basic solution: one row of each duplicate group
    assert mm.certificate.ok and mm.certificate.stationarity_residual <= 1e-14


def test_scale_invariance_of_direction():
    Z = np.array([[1.0, 0.2], [0.3, 1.0], [2.0, 2.0]])
    a, b = max_margin(Z), max_margin(Z * 1e3)
    np.testing.assert_allclose(a.u_bar, b.u_bar, atol=1e-15)
    assert b.gamma == pytest.approx(1e3 * a.gamma, rel=1e-14)  # rounding of the scaled data
    assert a.support.tolist() == b.support.tolist()


# ---------------------------------------------------------------------------
# non-separable and bad input


def test_xor_is_not_separable_and_names_rows():
    Z = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    with pytest.raises(NotSeparableError, match=r"not linearly separable.*rows \d"):
        max_margin(Z)


def test_origin_row_is_not_separable():
    with pytest.raises(NotSeparableError, match=r"for rows 1; if a hyperplane with an offset"):
        max_margin(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))


def test_large_non_separable_uses_quadprog_verdict():
    Z = np.random.default_rng(0).standard_normal((3000, 20))  # 60000 entries: above the exact cap
    with pytest.raises(NotSeparableError, match="quadprog"):
        max_margin(Z)


def test_not_separable_is_a_problem_error():
    assert issubclass(NotSeparableError, ProblemError)


@pytest.mark.parametrize(
    "Z, fragment",
    [
        (np.zeros(3), "2-D"),
        (np.zeros((0, 2)), "empty"),
        (np.array([[1.0, 0.0], [np.nan, 1.0]]), "row 1"),
        ([["a", "b"]], "numeric"),
        (np.array([[1 + 1j, 0.0]]), "numeric"),
    ],
)
def test_bad_rows_rejected(Z, fragment):
    with pytest.raises(ProblemError, match=fragment):
        max_margin(Z)


# ---------------------------------------------------------------------------
# the exact fallback, forced by lying about quadprog's output

SYMMETRIC_R3 = np.array([[1.0, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [2, 0.5, 0.5], [3, 0, 0]])


def _planted_fixture():
    pp = planted_problem(7, n=40, d=4, gamma=0.3, n_sv=6, sv_rank=4)
    return pp.Z, pp


@pytest.mark.parametrize("lie", ["one_row", "wrong_row", "no_rows", "cold", "infeasible"])
def test_exact_fallback_recovers_from_bad_active_set(monkeypatch, lie):
    real = mmod._quadprog

    def fake(Z):
        w, lag, act = real(Z)
        far = int(np.argmax(Z @ w))  # a row well off the margin
        if lie == "one_row":
            return w, lag, act[:1]
        if lie == "wrong_row":
            lag = lag.copy()
            lag[far] = 1.0
            return w, lag, np.array([far])
        if lie == "no_rows":
            return w, lag, act[:0]
        if lie == "cold":
            return np.zeros_like(w), np.zeros_like(lag), act[:0]
        return None  # claim infeasible: small data get certified exactly instead

    for Z, expect in [(SYMMETRIC_R3, None), _planted_fixture()]:
        ref = real(Z)  # sanity: the real solver is not what is being tested here
        assert ref is not None
        monkeypatch.setattr(mmod, "_quadprog", fake)
        mm = max_margin(Z)
        monkeypatch.setattr(mmod, "_quadprog", real)
        if expect is None:
            np.testing.assert_allclose(mm.u_bar, [1.0, 0, 0], atol=KNOWN)
            assert mm.gamma == pytest.approx(1.0, rel=KNOWN)
            assert mm.support.tolist() == [0, 1, 2, 3]
        else:
            np.testing.assert_allclose(mm.u_bar, expect.u_bar, atol=KNOWN)
            assert mm.gamma == pytest.approx(expect.gamma, rel=KNOWN)
            assert mm.support.tolist() == expect.support.tolist()
        assert mm.certificate.exact
        check_kkt(Z, mm)


def test_feasible_basis_with_negative_multiplier_is_rejected(monkeypatch):
    # Forcing both rows active gives ŵ = (1, −1): margins exactly 1 (feasible) but
    # α = (3, −1). The optimum is ŵ = (1, 0) with z_1 off the margin (⟨ŵ, z_1⟩ = 2).
    Z = np.array([[1.0, 0.0], [2.0, 1.0]])
    real = mmod._quadprog

    def fake(Z):
        w, lag, _ = real(Z)
        return w, np.ones_like(lag), np.array([0, 1])

    monkeypatch.setattr(mmod, "_quadprog", fake)
    mm = max_margin(Z)
    np.testing.assert_allclose(mm.u_bar, [1.0, 0.0], atol=KNOWN)
    assert mm.gamma == pytest.approx(1.0, rel=KNOWN)
    assert mm.support.tolist() == [0]
    np.testing.assert_allclose(mm.alpha, [1.0], atol=KNOWN)


@pytest.mark.parametrize("path", ["balls", "rationals"])
def test_certificate_failure_raises(monkeypatch, path):
    # A wrong rounding of the exact solution (relative 1e-6) is caught by the float re-measurement,
    # whichever check produced it: the balls' fast path, or the rational check behind it.
    import aligncheck.data.ball_kkt as balls_path
    import aligncheck.data.exact as exact_path

    if path == "balls":
        real = balls_path.nearest_float
        monkeypatch.setattr(balls_path, "nearest_float", lambda x: None if real(x) is None else real(x) * (1 + 1e-6))
    else:
        real = exact_path._to_float
        monkeypatch.setattr(mmod, "ball_check", lambda Z, basis: None)
        monkeypatch.setattr(exact_path, "_to_float", lambda q: real(q) * (1 + 1e-6))
    with pytest.raises(ProblemError, match="certificate failed"):
        max_margin(np.array([[1.0, 0.2], [0.3, 1.0]]))


def test_ball_path_gives_the_rational_results_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(3)
    decided = 0
    for n, d in [(40, 3), (200, 10), (300, 30)]:
        for _ in range(4):
            u = rng.standard_normal(d)
            X = rng.standard_normal((n, d))
            X = X[np.abs(X @ u) > 0.05 * np.linalg.norm(u) * np.linalg.norm(X, axis=1)]
            Z = X * np.sign(X @ u)[:, None]
            fast = max_margin(Z)
            with monkeypatch.context() as m:
                m.setattr(mmod, "ball_check", lambda Z, basis: None)
                slow = max_margin(Z)
            for field in ("u_bar", "support", "alpha"):
                assert np.array_equal(getattr(fast, field), getattr(slow, field)), field
            assert fast.gamma == slow.gamma
            decided += mmod.ball_check(Z, fast.support) is not None
    assert decided >= 8  # the fast path decides the common case (measured: all 12)


def test_certificate_failures_are_listed():
    good = dict(
        exact=True, primal_residual=0.0, primal_tol=1e-15, min_alpha=0.0, min_alpha_tol=0.0,
        stationarity_residual=0.0, stationarity_tol=1e-15,
        complementarity_residual=0.0, complementarity_tol=1e-15,
    )
    assert Certificate(**good).ok
    for key, value in [
        ("exact", False),
        ("primal_residual", 1e-3),
        ("min_alpha", -1e-300),
        ("stationarity_residual", 1e-3),
        ("complementarity_residual", float("nan")),
    ]:
        cert = Certificate(**{**good, key: value})
        assert not cert.ok and len(cert.failures) == 1


# ---------------------------------------------------------------------------
# planted problems


@settings(max_examples=60, deadline=None)
@given(planted_problems())
def test_recovers_planted_solution(pp):
    mm = planted_case(pp).max_margin
    np.testing.assert_allclose(mm.u_bar, pp.u_bar, rtol=0, atol=1e-9)
    assert mm.gamma == pytest.approx(pp.gamma, rel=1e-9)
    assert mm.support.tolist() == pp.support.tolist()
    assert (mm.sv_rank, mm.data_rank) == (pp.sv_rank, pp.data_rank)
    assert mm.sv_span_full == pp.sv_span_full and mm.sv_span_data == pp.sv_span_data
    assert mm.certificate.ok


@pytest.mark.parametrize("n_sv, sv_rank", [(60, 50), (30, 20)])
def test_large_planted_problem_is_exact(n_sv, sv_rank):
    pp = planted_problem(3, n=10_000, d=50, gamma=0.05, n_sv=n_sv, sv_rank=sv_rank, data_rank=50)
    mm = max_margin(pp.Z)
    np.testing.assert_allclose(mm.u_bar, pp.u_bar, rtol=0, atol=1e-9)
    assert mm.gamma == pytest.approx(pp.gamma, rel=1e-9)
    assert mm.support.tolist() == pp.support.tolist()
    assert mm.sv_span_full == (sv_rank == 50)


def test_repeated_rows_do_not_hang_quadprog():
    # quadprog 0.1.14 loops forever on these constraints (row 0 repeated); the solver passes each
    # row once. Run in a subprocess so that a regression fails (timeout) instead of hanging.
    code = (
        "import numpy as np\n"
        "from aligncheck.data.maxmargin import max_margin\n"
        "a = [-0.9518956775564114, 0.2627164072359929, 0.001]\n"
        "mm = max_margin(np.array([a, a, [0.001, 0.001, 0.001]]))\n"
        "print(mm.gamma, mm.support.tolist())\n"
    )
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    gamma, support = proc.stdout.split(" ", 1)
    assert float(gamma) == pytest.approx(0.0015845432293636402, rel=1e-12)
    assert support.strip() == "[0, 1, 2]"  # both copies of the repeated row are support vectors
