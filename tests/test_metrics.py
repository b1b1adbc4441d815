"""Metrics: tiny gaps and angles keep their relative accuracy; Lemma 2's D; Snapshot on known networks."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.metrics import angle_between, balancedness, lemma2_D, snapshot, unsigned_gap

EPS = 2.0**-53  # unit roundoff of float64
MP = mpmath.MPContext()  # private context (mp.prec is process-wide): 50 digits
MP.dps = 50


def mp_vec(v):
    return [MP.mpf(float(x)) for x in v]


def mp_unit(v):
    V = mp_vec(v)
    n = MP.sqrt(MP.fsum(x * x for x in V))
    return [x / n for x in V]


def mp_angle_and_gap(a, b):
    """(angle between a and b, 1 − |⟨â, b̂⟩|) of the float vectors, at 50 digits."""
    A, B = mp_unit(a), mp_unit(b)
    diff = MP.sqrt(MP.fsum((x - y) ** 2 for x, y in zip(A, B)))
    summ = MP.sqrt(MP.fsum((x + y) ** 2 for x, y in zip(A, B)))
    cos = MP.fsum(x * y for x, y in zip(A, B))
    return 2 * MP.atan2(diff, summ), 1 - abs(cos)


def norm_defects(a, b) -> float:
    """|‖a‖ − 1| + |‖b‖ − 1| of the float vectors, exactly (50 digits)."""
    return sum(abs(float(MP.sqrt(MP.fsum(MP.mpf(float(x)) ** 2 for x in v)) - 1)) for v in (a, b))


def pair_at_angle(rng, d, theta):
    """Unit a and b = cos θ·a + sin θ·p (p ⊥ a unit), both rounded to float64."""
    a = rng.standard_normal(d)
    a /= np.linalg.norm(a)
    p = rng.standard_normal(d)
    p -= (p @ a) * a
    p /= np.linalg.norm(p)
    return a, math.cos(theta) * a + math.sin(theta) * p


# --------------------------------------------------------------------------- tiny angles and gaps


@pytest.mark.parametrize("d", [2, 3, 7])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_tiny_angle_and_gap(d, sign):
    theta = 1e-12
    a, b = pair_at_angle(np.random.default_rng(d), d, theta)
    b = sign * b
    # Rounding b = cos θ·a + sin θ·p to float64 moves each entry by ≤ eps, i.e. moves the true
    # angle by up to ~eps·sqrt(d)/θ ≈ 1e-4 RELATIVE at θ = 1e-12: hence ~1e-3 relative against
    # the intended θ and θ²/2 (a formula through 1 − cos or arccos would be off by 100%).
    ang = angle_between(a, b)
    gap = unsigned_gap(a, b)
    want_angle = theta if sign > 0 else math.pi - theta
    assert ang == pytest.approx(want_angle, rel=1e-3, abs=0 if sign > 0 else 4 * EPS)
    assert gap == pytest.approx(theta**2 / 2, rel=1e-3)  # ≈ 5e-25; unsigned: the same for ±b
    # Against the exact values of the float inputs: unsigned_gap forms ½‖a − b‖² of the given
    # vectors, whose norms are 1 + δ (|δ| a few eps), so it differs from 1 − |⟨â, b̂⟩| by the cross
    # term ≤ θ(|δ_a| + |δ_b|) (see the next test): ~1e-4 relative at θ = 1e-12.
    mp_ang, mp_gap = mp_angle_and_gap(a, b)
    assert abs(gap - float(mp_gap)) <= theta * (4 * EPS + norm_defects(a, b))
    assert abs(ang - float(mp_ang)) <= 4 * EPS  # see test_angle_is_accurate_to_a_few_eps


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(2, 8),
    log_theta=st.floats(min_value=-15.0, max_value=math.log10(math.pi / 2)),
    flip=st.booleans(),
)
def test_angle_is_accurate_to_a_few_eps_and_gap_to_theta_eps(seed, d, log_theta, flip):
    theta = 10.0**log_theta
    a, b = pair_at_angle(np.random.default_rng(seed), d, theta)
    if flip:
        b = -b
    mp_ang, mp_gap = mp_angle_and_gap(a, b)
    # angle_between normalises in float (eps per entry), so its ABSOLUTE error is a few eps at
    # every angle, tiny or near π. Measured worst 2.2·eps.
    assert abs(angle_between(a, b) - float(mp_ang)) <= 4 * EPS
    # unsigned_gap forms ½‖a − s·b‖² (s = sign⟨a, b⟩) of the GIVEN vectors: against that exact
    # value its error is the rounding of d subtractions, squares and a sum, (d + 4)·eps relative.
    # Measured worst (3000 pairs): 2.3·eps.
    s = 1 if float(a @ b) >= 0 else -1
    exact = MP.fsum((MP.mpf(float(x)) - s * MP.mpf(float(y))) ** 2 for x, y in zip(a, b)) / 2
    gap = unsigned_gap(a, b)
    assert abs(gap - float(exact)) <= (d + 4) * EPS * float(exact)
    # Against 1 − |⟨â, b̂⟩| = ½‖â − s·b̂‖² of the normalised vectors: the given vectors have norms
    # 1 + δ with |δ| a few eps (the function is documented for unit vectors), which moves
    # ½‖a − s·b‖² by the cross term ⟨a − s·b, δ_a â − δ_b s·b̂⟩ ≤ θ(|δ_a| + |δ_b|) plus O(δ²), θ the
    # unsigned angle min(angle, π − angle). Measured: ≤ 1.3·θ·eps beyond θ(|δ_a| + |δ_b|).
    th = min(float(mp_ang), math.pi - float(mp_ang))
    assert abs(gap - float(mp_gap)) <= th * (4 * EPS + norm_defects(a, b)) + 4 * EPS**2


def test_angle_special_cases():
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert angle_between(e1, e2) == pytest.approx(math.pi / 2, abs=2 * EPS)
    assert angle_between(e1, -e1) == pytest.approx(math.pi, abs=2 * EPS)
    assert angle_between(e1, 3.0 * e1) == 0.0
    assert angle_between(np.zeros(2), e1) == math.pi  # documented: π if either is 0
    assert angle_between(e1, np.zeros(2)) == math.pi
    assert unsigned_gap(e1, -e1) == 0.0 and unsigned_gap(e1, e2) == 1.0
    # Scale-invariant in the ordinary range of norms.
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.1])
    assert angle_between(1e100 * a, 1e-100 * b) == pytest.approx(angle_between(a, b), rel=8 * EPS)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_angle_between_extreme_norms():
    e = np.array([1.0, 1.0])
    assert angle_between(1e160 * e, e) == 0.0
    assert angle_between(1e-170 * e, e) == 0.0


# --------------------------------------------------------------------------- rank gap


def nearly_rank_one(rng, r, c, ratio):
    U, _ = np.linalg.qr(rng.standard_normal((r, r)))
    V, _ = np.linalg.qr(rng.standard_normal((c, c)))
    k = min(r, c)
    s = np.zeros(k)
    s[0] = float(rng.uniform(0.5, 2.0))
    s[1:] = s[0] * ratio * rng.uniform(0.1, 1.0, k - 1)
    s[1] = s[0] * ratio
    return U[:, :k] @ np.diag(s) @ V[:, :k].T


@pytest.mark.parametrize("seed", range(12))
def test_rank_gap_of_nearly_rank_one_matrices(seed):
    rng = np.random.default_rng(seed)
    r, c = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    ratio = 1e-10  # σ_2/σ_1: the gap 1 − σ_1/F ≈ ½(σ_2/σ_1)² ≈ 5e-21
    W = nearly_rank_one(rng, r, c, ratio)
    # Oracle: 1 − σ_1/F for the float matrix W at 50 digits (cancellation costs ~21 of them).
    sv = MP.svd_r(MP.matrix(W.tolist()), compute_uv=False)
    F = MP.sqrt(MP.fsum(MP.mpf(float(x)) ** 2 for x in W.ravel()))
    want = 1 - max(sv) / F
    Z = rng.standard_normal((3, c))
    snap = snapshot(Z, EXP, (W, rng.standard_normal((1, r))))
    got = snap.rank_gap[0]
    # LAPACK's SVD is backward stable: each σ_j carries an ABSOLUTE error ~ (size)·eps·σ_1, i.e.
    # relative (size)·eps/ratio ≈ 1e-6 on σ_2, doubled in σ_2² (measured worst: 1.25e-6). The
    # bound 32·size·eps/ratio ≈ 2e-4. A cancelling 1 − σ/F in float64 is off by ~1e4 (relative).
    tol = 32 * max(r, c) * EPS / ratio
    assert abs(got - float(want)) <= tol * float(want)
    assert snap.off_rank[0] == pytest.approx(float(F**2 - max(sv) ** 2), rel=tol)


# --------------------------------------------------------------------------- Lemma 2's D and Δ_k


def test_lemma2_D_hand_examples():
    # L = 2: F_1² = 5, F_2² = 9 (max − F_L² = 0); Δ_1 = W_2^T W_2 − W_1 W_1^T = diag(8, −4), ‖·‖_2 = 8.
    W1 = np.array([[1.0, 0.0], [0.0, 2.0]])
    W2 = np.array([[3.0, 0.0]])
    assert lemma2_D((W1, W2)) == 8.0
    (D1,) = balancedness((W1, W2))
    assert np.array_equal(D1, np.diag([8.0, -4.0]))
    # L = 3 scalars 2, 3, 1: F² = 4, 9, 1 → 9 − 1 = 8; |9 − 4| + |1 − 9| = 13; D = 21.
    layers = (np.array([[2.0]]), np.array([[3.0]]), np.array([[1.0]]))
    assert lemma2_D(layers) == 21.0
    assert [float(x[0, 0]) for x in balancedness(layers)] == [5.0, -8.0]
    # L = 1: no Δ and max_k F_k² − F_L² = 0.
    assert lemma2_D((np.array([[1.0, 2.0]]),)) == 0.0


# --------------------------------------------------------------------------- Snapshot


def rank_one_network():
    """W_k = c_k u_k u_{k−1}^T with exactly representable unit vectors; w_prod = ∏c_k·u_0."""
    u0 = np.array([1.0, 2.0, 2.0]) / 3.0
    u1 = np.array([0.6, 0.8])
    u2 = np.array([0.5, 0.5, 0.5, 0.5])
    u3 = np.array([1.0])
    c = (2.0, 0.5, 3.0)
    us = [u0, u1, u2, u3]
    layers = tuple(c[k] * np.outer(us[k + 1], us[k]) for k in range(3))
    return layers, us, c


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_snapshot_of_a_rank_one_network(loss):
    layers, us, c = rank_one_network()
    Z = np.array([[0.3, 0.2, 0.1], [-0.1, 0.5, 0.2], [0.4, -0.3, 0.6]])
    snap = snapshot(Z, loss, layers, u_bar=us[0])
    rho = math.prod(c)
    # Entries are c·(products of rounded unit-vector entries): a few eps relative; 16·eps covers
    # the norms, the SVD's backward error (3–4 entries per row) and their products.
    np.testing.assert_allclose(snap.frob, c, rtol=16 * EPS)
    np.testing.assert_allclose(snap.sigma, c, rtol=16 * EPS)
    # "All gaps 0 to rounding": the off-rank singular values are LAPACK's ~eps·σ_1, so their
    # squares ~eps²; singular vectors are exact to ~eps, so ½‖u − v‖² ~ eps²; the product gap is
    # the difference of two computed norms, a few eps.
    assert np.all(snap.off_rank <= (16 * EPS) ** 2 * np.asarray(c) ** 2 * 4)
    assert np.all((snap.rank_gap >= 0) & (snap.rank_gap <= (16 * EPS) ** 2 * 4))
    assert np.all((snap.adj_gap >= 0) & (snap.adj_gap <= (16 * EPS) ** 2 * 4))
    assert abs(snap.prod_gap) <= 16 * EPS
    assert snap.w_norm == pytest.approx(rho, rel=16 * EPS)
    assert snap.log_rho == pytest.approx(math.log(rho), abs=16 * EPS)
    assert snap.angle_ubar <= 16 * EPS
    m = Z @ us[0]
    assert snap.min_margin == pytest.approx(float(m.min()), abs=16 * EPS)
    assert snap.max_abs_margin == pytest.approx(rho * float(np.abs(m).max()), rel=16 * EPS)
    # Singular vectors are the planted ones up to sign.
    for k in range(3):
        assert abs(abs(float(snap.u[k] @ us[k + 1])) - 1.0) <= 16 * EPS
        assert abs(abs(float(snap.v[k] @ us[k])) - 1.0) <= 16 * EPS
    # log R from the margins ρ·⟨u_0, z_i⟩ directly.
    want = math.log(np.mean(np.exp(-rho * m)) if loss is EXP else np.mean(np.log1p(np.exp(-rho * m))))
    assert snap.log_risk == pytest.approx(want, abs=64 * EPS)
    assert math.isnan(snapshot(Z, loss, layers).angle_ubar)  # no ū given


def test_snapshot_detects_misalignment():
    # The same network with W_2's right factor rotated: the adjacency gap between v_2 and u_1
    # is 1 − |⟨u_1, u_1'⟩| = 1 − 0.96 = 0.04 exactly in reals, and the product shrinks by 0.96.
    layers, us, c = rank_one_network()
    u1_rot = np.array([0.8, 0.6])  # ⟨u1, u1_rot⟩ = 0.48 + 0.48 = 0.96
    W2 = c[1] * np.outer(us[2], u1_rot)
    snap = snapshot(np.eye(3), EXP, (layers[0], W2, layers[2]))
    assert snap.adj_gap[0] == pytest.approx(0.04, rel=1e-12)
    assert snap.adj_gap[1] <= 1e-28
    assert snap.prod_gap == pytest.approx(0.04, rel=1e-12)  # 1 − |⟨w, v_1⟩|/ρ = 1 − 0.96


def test_snapshot_with_a_zero_layer():
    W1 = np.zeros((2, 3))
    W2 = np.array([[1.0, 2.0]])
    snap = snapshot(np.eye(3), EXP, (W1, W2))
    assert snap.rank_gap[0] == 0.0 and snap.frob[0] == 0.0
    assert math.isnan(snap.adj_gap[0]) and math.isnan(snap.prod_gap) and math.isnan(snap.min_margin)
    assert snap.log_rho == -math.inf
    assert snap.log_risk == pytest.approx(0.0, abs=4 * EPS)  # every margin 0: R = ℓ(0) = 1
