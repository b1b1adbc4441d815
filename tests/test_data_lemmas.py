"""Data lemmas: α (exact-enough, certified) and the sign-lemma counterexample search."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from aligncheck.claims.ji_telgarsky.data import alpha_verdict, sign_lemma_verdict
from aligncheck.data.sign_lemma import sign_lemma_quantity, sign_lemma_search, sign_lemma_threshold
from aligncheck.data.alpha import alpha, perp_basis
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.data.maxmargin import max_margin
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status


def planted(d: int, seed: int, sv_rank: int | None = None, n_extra: int = 5):
    sv_rank = d if sv_rank is None else sv_rank
    pp = planted_problem(seed, n=d + 1 + n_extra, d=d, gamma=0.3, n_sv=d + 1, sv_rank=sv_rank)
    Z = np.array(pp.Z)
    return Z, max_margin(Z)


def check_certificate(Z, mm, res):
    """Independent re-check of an AlphaResult's upper-bound certificate."""
    d = Z.shape[1]
    assert res.xi.shape == (d,)
    assert abs(np.linalg.norm(res.xi) - 1) < 1e-14
    assert abs(res.xi @ mm.u_bar) < 1e-14
    up = float(np.max(Z[mm.support] @ res.xi))
    assert up == pytest.approx(res.upper, abs=1e-14)
    assert res.lower <= res.alpha <= res.upper + res.tol
    assert res.upper - res.lower <= 3 * res.tol  # bounds are tight: facet distance = support value


def sampled_alpha(Z, mm, xis_coords):
    """Test oracle: min over sampled unit ξ ∈ ū^⊥ of max_SV ⟨ξ, z_i⟩ (an upper bound on α)."""
    B = perp_basis(mm.u_bar)
    P = Z[mm.support] @ B
    xis = xis_coords / np.linalg.norm(xis_coords, axis=1, keepdims=True)
    return float(np.min(np.max(xis @ P.T, axis=1))), float(np.max(np.linalg.norm(P, axis=1)))


# ---------------------------------------------------------------------------
# α: known answers


def test_alpha_known_answer_d2():
    # SVs (0.5, 0.3), (0.5, −0.6): ū = e1, γ = 0.5, projections {0.3, −0.6} → α = 0.3
    Z = np.array([[0.5, 0.3], [0.5, -0.6], [0.9, 0.1]])
    mm = max_margin(Z)
    res = alpha(Z, mm)
    assert res.positive and res.alpha == pytest.approx(0.3, abs=1e-15)
    check_certificate(Z, mm, res)
    assert alpha_verdict(res).status is Status.HOLDS


@pytest.mark.parametrize("m, expect", [(3, 0.5), (4, 1 / math.sqrt(2)), (6, math.sqrt(3) / 2)])
def test_alpha_known_answer_regular_polygon(m, expect):
    # SVs γ e1 + ρ(cos θ_j, sin θ_j) on a regular m-gon: α = inradius = ρ cos(π/m)
    rho, gamma = 0.6, 0.4
    th = 2 * np.pi * np.arange(m) / m + 0.3
    Z = np.column_stack([np.full(m, gamma), rho * np.cos(th), rho * np.sin(th)])
    Z = np.vstack([Z, [0.9, 0.1, 0.0]])
    mm = max_margin(Z)
    assert len(mm.support) == m
    res = alpha(Z, mm)
    assert res.positive
    assert res.alpha == pytest.approx(rho * expect, abs=1e-12)
    check_certificate(Z, mm, res)


# ---------------------------------------------------------------------------
# α on planted problems


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_positive_on_planted_full_span(d, seed):
    Z, mm = planted(d, seed)
    assert mm.sv_span_full
    res = alpha(Z, mm)
    assert res.applicable and res.positive, res.reason
    assert res.alpha > 1e-3
    check_certificate(Z, mm, res)


@pytest.mark.parametrize("seed", range(4))
def test_alpha_matches_dense_sampling_d2_d3(seed):
    # d = 2: ū^⊥ is a line, ξ = ±e samples the whole unit sphere: equality.
    Z, mm = planted(2, seed)
    res = alpha(Z, mm)
    est, _ = sampled_alpha(Z, mm, np.array([[1.0], [-1.0]]))
    assert est == pytest.approx(res.alpha, abs=1e-14)
    # d = 3: N angles on the circle; h is S-Lipschitz (S = max‖p_i‖), every unit ξ is
    # within chord π/N of a sample, so α ≤ sampled ≤ α + S·π/N.
    Z, mm = planted(3, seed)
    res = alpha(Z, mm)
    N = 20000
    th = 2 * np.pi * np.arange(N) / N
    est, S = sampled_alpha(Z, mm, np.column_stack([np.cos(th), np.sin(th)]))
    assert res.alpha - res.tol <= est <= res.alpha + S * np.pi / N + res.tol
    # the oracle converges: a coarse grid is further off than a fine one (or equal)
    est_coarse, _ = sampled_alpha(Z, mm, np.column_stack([np.cos(th[::100]), np.sin(th[::100])]))
    assert est_coarse >= est - 1e-15


def test_alpha_is_below_random_sampling_d4():
    Z, mm = planted(4, 7)
    res = alpha(Z, mm)
    xs = np.random.default_rng(0).standard_normal((200_000, 3))
    est, S = sampled_alpha(Z, mm, xs)
    assert res.alpha - res.tol <= est <= res.alpha + 0.05 * S


# ---------------------------------------------------------------------------
# α: degenerate data


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_alpha_zero_when_sv_do_not_span(d):
    Z, mm = planted(d, 3, sv_rank=d - 1)
    assert not mm.sv_span_full
    res = alpha(Z, mm)
    assert not res.positive and res.alpha == 0.0
    assert res.upper <= res.tol  # the certificate ξ is orthogonal to every support vector
    assert "Assumption 2.7" in res.reason
    assert alpha_verdict(res).status is Status.VIOLATED


def test_alpha_zero_with_zero_weight_support_vector():
    # SVs (0.5, 0) and (0.5, 0.3) span R² (A2.7 holds) but the second has dual weight 0:
    # projections {0, 0.3} lie on one side of 0, so α = 0 (the "almost all data" caveat).
    Z = np.array([[0.5, 0.0], [0.5, 0.3], [0.9, -0.2]])
    mm = max_margin(Z)
    assert mm.sv_span_full and len(mm.support) == 2
    res = alpha(Z, mm)
    assert not res.positive and res.alpha == 0.0
    check_certificate(Z, mm, res)


def test_alpha_zero_on_boundary_d3():
    # 0 on an edge of the projected triangle: SV offsets (0.3, 0), (−0.3, 0), (0, 0.3)
    Z = np.array([[0.5, 0.3, 0.0], [0.5, -0.3, 0.0], [0.5, 0.0, 0.3], [0.9, 0.0, 0.0]])
    mm = max_margin(Z)
    assert len(mm.support) == 3 and mm.sv_span_full
    res = alpha(Z, mm)
    assert not res.positive and res.alpha <= res.tol
    assert res.upper <= res.tol


def test_alpha_not_applicable_d1():
    Z = np.array([[0.5], [0.7]])
    res = alpha(Z, max_margin(Z))
    assert not res.applicable and not res.positive
    assert alpha_verdict(res).status is Status.NOT_APPLICABLE


# ---------------------------------------------------------------------------
# sign lemma


def test_threshold_formulas():
    assert sign_lemma_threshold("exp", 10, 0.5) == pytest.approx(1 + math.log(10) / 0.5)
    assert sign_lemma_threshold("logistic", 10, 0.5) == pytest.approx(2 * 10 / (math.e * 0.5))
    assert sign_lemma_threshold("exp", 10, 0.0) == math.inf


def mp_quantity(Z, u, loss_name, a, p):
    """⟨p, ∇R(a ū + p)⟩ in 50-digit arithmetic (∇R = (1/n) Σ ℓ'(m_i) z_i), an independent oracle."""
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for z in Z:
            m = mpmath.mpf(a) * mpmath.fsum(mpmath.mpf(ui) * mpmath.mpf(zi) for ui, zi in zip(u, z))
            pz = mpmath.fsum(mpmath.mpf(pi) * mpmath.mpf(zi) for pi, zi in zip(p, z))
            m += pz
            dl = -mpmath.exp(-m) if loss_name == "exp" else -1 / (1 + mpmath.exp(m))
            total += dl * pz
        return total / len(Z)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_sign_lemma_no_counterexample_above_threshold(d, loss):
    Z, mm = planted(d, d)
    a = alpha(Z, mm)
    res = sign_lemma_search(Z, mm, loss, a.alpha, seed=0, tries=40, local=3)
    assert res.threshold == sign_lemma_threshold(loss.name, Z.shape[0], a.alpha)
    assert not res.violated, res.reason
    assert res.min_value > 0
    assert np.linalg.norm(res.perp) > res.threshold and res.a >= 0
    assert sign_lemma_verdict(res).status is Status.HOLDS
    # the reported minimiser's sign agrees with a 50-digit recomputation
    assert mp_quantity(Z, mm.u_bar, loss.name, res.a, res.perp) > 0


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_sign_lemma_search_finds_violation_without_threshold(d, loss):
    # Negative control: with the norm condition dropped (threshold 0), w = aū + p with
    # small p can point along the perpendicular gradient pull. The search must find it.
    Z, mm = planted(d, d)
    a = alpha(Z, mm)
    res = sign_lemma_search(Z, mm, loss, a.alpha, seed=0, tries=40, local=3, threshold=0.0)
    assert res.violated, res.reason
    assert res.raw < -res.tol and res.a >= 0
    assert sign_lemma_verdict(res).status is Status.VIOLATED
    assert mp_quantity(Z, mm.u_bar, loss.name, res.a, res.perp) < 0  # genuine, not rounding


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_constructed_violation_below_threshold(loss):
    # Hand-built control: at w = aū the perpendicular part of ∇log R is g = −Σ q_i Π⊥z_i;
    # p = −εg gives ⟨p, ∇log R(aū + p)⟩ ≈ −ε‖g‖² < 0 for small ε.
    Z, mm = planted(3, 11)
    u = mm.u_bar
    B = perp_basis(u)
    from aligncheck.numerics.losses import risk_and_weights

    _, q = risk_and_weights(loss, 2.0 * (Z @ u))
    g = B @ (B.T @ -(q @ Z))
    assert np.linalg.norm(g) > 1e-3
    p = -1e-3 * g / np.linalg.norm(g)
    s, sn, tol = sign_lemma_quantity(Z, u, loss, 2.0, p)
    assert s < -tol and sn < 0
    assert mp_quantity(Z, u, loss.name, 2.0, p) < 0
    thr = sign_lemma_threshold(loss.name, Z.shape[0], alpha(Z, mm).alpha)
    assert np.linalg.norm(p) < thr  # below the lemma's threshold: no contradiction


def test_sign_lemma_not_applicable_d1_and_alpha_zero():
    Z = np.array([[0.5], [0.7]])
    res = sign_lemma_search(Z, max_margin(Z), EXP, 1.0, seed=0, tries=5)
    assert sign_lemma_verdict(res).status is Status.NOT_APPLICABLE
    Z, mm = planted(3, 3, sv_rank=2)
    res = sign_lemma_search(Z, mm, "logistic", 0.0, seed=0, tries=5)
    assert math.isinf(res.threshold) and sign_lemma_verdict(res).status is Status.NOT_APPLICABLE


def test_a_region_that_cannot_be_searched_is_inconclusive_and_d1_not_applicable():
    pp = planted_problem(2, n=10, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    mm = max_margin(pp.Z)
    # A threshold beyond the range where the margins' softmax weights are trustworthy (MAX_W_SCALE).
    far = sign_lemma_search(pp.Z, mm, EXP, 0.1, seed=0, threshold=1e12)
    assert math.isnan(far.min_value) and far.applicable
    assert sign_lemma_verdict(far).status == Status.INCONCLUSIVE
    p1 = planted_problem(2, n=4, d=1, gamma=0.3, n_sv=1, sv_rank=1)
    d1 = sign_lemma_search(p1.Z, max_margin(p1.Z), EXP, 0.1, seed=0)
    assert not d1.applicable and sign_lemma_verdict(d1).status == Status.NOT_APPLICABLE
