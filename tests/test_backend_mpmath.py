"""The mpmath backend: a private context, input validation, the engine (risk, gradients, Hessian,
metrics) at 50 and 100 digits against float64, and cases only the high precision resolves."""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest

from aligncheck.numerics.backends import FLOAT64, GUARD_BITS, Mpmath, backend_named
from aligncheck.dynamics.trajectory import Checkpoint, Trajectory
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC, POLY, risk_and_weights
from aligncheck.numerics.metrics import angle_between, balancedness, lemma2_D, snapshot, trajectory_metrics, unsigned_gap
from aligncheck.numerics.network import flatten, init_layers, unflatten
from aligncheck.numerics.risk import evaluate, hessian
from aligncheck.data.planted import planted_problem

EPS = 2.0**-53  # unit roundoff of float64


def mp_layers(bk, layers):
    return tuple(bk.asarray(W) for W in layers)


def base_bits(digits: int) -> int:
    return math.ceil(digits * math.log2(10)) + GUARD_BITS


# --------------------------------------------------------------------------- (a) the private context


def test_global_precision_untouched_and_backends_independent():
    before = (mpmath.mp.prec, mpmath.mp.dps)
    pp = planted_problem(2, n=6, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    layers = init_layers("gaussian", 3, [2], 1, mean_z=pp.Z.mean(axis=0))
    bks = [Mpmath(d) for d in (30, 50, 100)]
    for bk in bks:
        assert bk.prec == base_bits(bk.digits) and bk.eps == 2.0**-bk.prec
        Lm = mp_layers(bk, layers)
        evaluate(bk.asarray(pp.Z), LOGISTIC, Lm, bk)
        hessian(bk.asarray(pp.Z), EXP, Lm, bk)
        snapshot(pp.Z, EXP, Lm, pp.u_bar, bk)
        bk.ensure_headroom(1e40)
    assert (mpmath.mp.prec, mpmath.mp.dps) == before
    # Each backend computes at its own (raised) precision: e against a 1000-bit value, error ~2^-prec.
    ctx = mpmath.MPContext()
    ctx.prec = 1000
    e = ctx.e
    for bk in bks:
        x = bk.exp(bk.asarray(1.0))
        assert 0 < abs(ctx.mpf(x) - e) <= 2.0 ** -(bk.prec - 2)  # one rounding of exp(1): ≤ 1 ulp
    # Raising one context's precision leaves the others where they were.
    a, b = Mpmath(30), Mpmath(30)
    a.ensure_headroom(1e100)
    assert a.prec > b.prec == base_bits(30)
    assert a.ctx is not b.ctx and a.ctx is not mpmath.mp


def test_ensure_headroom_only_raises():
    bk = Mpmath(50)
    p0 = bk.prec
    assert bk.ensure_headroom(0.5) == p0  # magnitudes ≤ 1 need no extra bits
    p1 = bk.ensure_headroom(1e30)
    assert p1 == p0 + math.ceil(math.log2(1e30))
    assert bk.ensure_headroom(1e10) == p1  # never lowered
    assert bk.ensure_headroom(1.0) == p1 and bk.prec == p1
    assert bk.ensure_headroom(1e60) > p1
    assert bk.digits == 50 and bk.name == "mpmath-50"  # the name is the requested digits, not the bits


# --------------------------------------------------------------------------- (b) bad digits


@pytest.mark.parametrize("digits", [15, 0, -50, 16.5, math.nan, math.inf, True, False, None, "50", 1e400])
def test_bad_digits_are_problem_errors(digits):
    with pytest.raises(ProblemError):
        Mpmath(digits)


def test_integral_digits_of_any_type():
    assert Mpmath(16).digits == 16
    assert Mpmath(np.int64(40)).digits == 40 and Mpmath(50.0).digits == 50


def test_backend_named():
    assert backend_named("float64") is FLOAT64
    bk = backend_named("mpmath-60")
    assert isinstance(bk, Mpmath) and bk.digits == 60
    for bad in ("mpmath", "mpmath-x", "float32", "mpmath-10"):
        with pytest.raises(ProblemError):
            backend_named(bad)


# --------------------------------------------------------------------------- (c) float64 vs 50 vs 100 digits


def early_case(seed: int, kind: str):
    """A planted problem (n = 20, d = 5) and an O(1) network of depth 4 (widths 5): the early phase."""
    pp = planted_problem(seed, n=20, d=5, gamma=0.25, n_sv=7, sv_rank=5)
    return pp.Z, init_layers(kind, 5, [5, 5, 5], 7 + seed, mean_z=pp.Z.mean(axis=0))


CASES = [(0, "gaussian"), (1, "balanced"), (2, "w1zero")]


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
@pytest.mark.parametrize("seed,kind", CASES)
def test_float64_50_and_100_digits_agree(seed, kind, loss):
    Z, layers = early_case(seed, kind)
    n, d = Z.shape
    L = len(layers)
    b50, b100 = Mpmath(50), Mpmath(100)
    e64 = evaluate(Z, loss, layers)
    e50 = evaluate(b50.asarray(Z), loss, mp_layers(b50, layers), b50)
    e100 = evaluate(b100.asarray(Z), loss, mp_layers(b100, layers), b100)
    H64 = hessian(Z, loss, layers)
    H50 = hessian(b50.asarray(Z), loss, mp_layers(b50, layers), b50)
    H100 = hessian(b100.asarray(Z), loss, mp_layers(b100, layers), b100)
    g64, g50, g100 = flatten(e64.grads), flatten(e50.grads), flatten(e100.grads)
    assert g50.dtype == object and isinstance(e50.log_risk, b50.ctx.mpf)

    # float64 against 50 digits (from the same float64 inputs, converted exactly): the difference is
    # float64's rounding. log R: the loss tolerance of test_losses, (n + 8)·eps·max(1, |log R| + log n).
    # Gradients and Hessian: relative to their largest entry, (n + d·L)·eps: the sum over n points of
    # q_i z_i and the products through L layers of width d, one rounding each. Measured worst over
    # these cases: 6.1·eps (gradients), 5.2·eps (Hessian), 5.8·eps (log R).
    lr = float(e50.log_risk)
    assert abs(e64.log_risk - lr) <= (n + 8) * EPS * max(1.0, abs(lr) + math.log(n))
    G = float(np.max(np.abs(b50.to_float(g50))))
    assert np.max(np.abs(g64 - b50.to_float(g50))) <= (n + d * L) * EPS * G
    Hs = float(np.max(np.abs(b50.to_float(H50))))
    assert np.max(np.abs(H64 - b50.to_float(H50))) <= (n + d * L) * EPS * Hs

    # 50 against 100 digits: 50 digits are promised, and the context carries 32 guard bits beyond
    # them (rounding 2^-199 ≈ 1.2e-60 per operation; measured 5e-60 relative to the largest entry);
    # 1e-45 leaves the reductions over n points and the products of L layers a wide margin.
    to100 = b100.asarray
    assert abs(to100(e50.log_risk) - e100.log_risk) <= 1e-45 * max(1, abs(e100.log_risk))
    assert max(abs(to100(g50) - g100)) <= 1e-45 * G
    assert np.max(np.abs(to100(H50) - H100)) <= 1e-45 * Hs
    # The Hessian is symmetric to the working precision (T is symmetric by construction; J^T H_w J
    # rounds differently on the two sides).
    assert np.max(np.abs(H50 - H50.T)) <= 1e-50 * Hs


def test_mp_hessian_matches_finite_differences_of_the_mp_gradient():
    # Central differences at 50 digits with step h = 1e-15: truncation h²·|∇³ log R|/6 ~ 1e-30 for
    # O(1) layers, cancellation 2^-199/h ~ 1e-45. 1e-25 of max|H| absorbs both; a wrong formula is
    # off by O(0.1..1), and float64's finite differences could not get below ~1e-10 at all.
    Z, layers = early_case(0, "gaussian")
    bk = Mpmath(50)
    Zm, Lm = bk.asarray(Z), mp_layers(bk, layers)
    shapes = [W.shape for W in layers]
    theta = flatten(Lm)
    H = hessian(Zm, LOGISTIC, Lm, bk)
    h = bk.ctx.mpf("1e-15")

    def grad(t):
        return flatten(evaluate(Zm, LOGISTIC, unflatten(t, shapes), bk).grads)

    size = max(1, np.max(np.abs(H)))
    for j in range(theta.size):
        e = np.zeros(theta.size, dtype=object)
        e[j] = h
        fd = (grad(theta + e) - grad(theta - e)) / (2 * h)
        assert np.max(np.abs(fd - H[j])) <= 1e-25 * size, j


def test_poly_loss_constants_carry_the_precision():
    # PolyTail's log 2 and log 6 and the risk's log n are formed by bk.log, so they carry 100 digits
    # (a float64 constant would leave an error of ~1e-17 in log R and the weights).
    bk = Mpmath(100)
    m = bk.asarray(np.array([0.5, 2.0, 3.0]))
    log_r, q = risk_and_weights(POLY, m, bk)
    ctx = bk.ctx
    ell = [3 - 2 * m[0], 1 / m[1] ** 2, 1 / m[2] ** 2]
    want = ctx.log(ctx.fsum(ell) / 3)
    assert abs(log_r - want) <= 1e-95
    dell = [ctx.mpf(2), 2 / m[1] ** 3, 2 / m[2] ** 3]
    assert max(abs(qi - di / ctx.fsum(ell)) for qi, di in zip(q, dell)) <= 1e-95


# --------------------------------------------------------------------------- (d) beyond the float64 floor


def huge_margin_case():
    """ū = e_1, γ = 0.5 (exact), four support vectors (0.5, ±1, 0), (0.5, 0, ±1) and two other points.

    Layers W_1 = [[1, 0, 0], [0, 0.7, −0.4]], W_2 = [[S, 1]] with S = 2e18: w_prod = (S, 0.7, −0.4)
    exactly in float64, so the support margins are 1e18 + (±0.7 or ∓0.4): O(1) apart, while
    float64's spacing at 1e18 is 128.
    """
    Z = np.array([[0.5, 1.0, 0.0], [0.5, -1.0, 0.0], [0.5, 0.0, 1.0], [0.5, 0.0, -1.0], [1.5, 0.3, -0.2], [2.0, -0.5, 0.5]])
    W1 = np.array([[1.0, 0.0, 0.0], [0.0, 0.7, -0.4]])
    W2 = np.array([[2e18, 1.0]])
    return Z, (W1, W2)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_softmax_weights_beyond_float64(loss):
    Z, layers = huge_margin_case()
    e64 = evaluate(Z, loss, layers)
    _, q64 = risk_and_weights(loss, e64.margins)
    assert np.ptp(e64.margins[:4]) == 0.0  # float64: the four support margins round to the same number
    weights = []
    for digits in (50, 100):
        bk = Mpmath(digits)
        Lm = mp_layers(bk, layers)
        # Margins ~2e18 cost 61 bits of the differences between them; restore them first.
        bk.ensure_headroom(float(np.max(np.abs(bk.to_float(evaluate(Z, loss, Lm, bk).margins)))))
        ev = evaluate(bk.asarray(Z), loss, Lm, bk)
        gaps = ev.margins[:4] - ev.margins[0]
        want = [0, -1.4, -1.1, -0.3]  # ⟨(0.7, −0.4), v_i − v_1⟩ (0.7 and 0.4 as float64 numbers)
        assert max(abs(g - bk.ctx.mpf(w)) for g, w in zip(gaps, want)) <= 1e-15  # the decimals' float64 rounding
        _, q = risk_and_weights(loss, ev.margins, bk)
        weights.append(q[:4] / q[:4].sum())
    w50, w100 = weights
    # 50 digits (with headroom) against 100 on the normalised support weights: relative 1e-45, the
    # promised 50 digits less a margin for the n-term sums (measured ~1e-59).
    assert max(abs(Mpmath(100).asarray(w50) - w100) / w100) <= 1e-45
    # float64: every support weight equal (the O(1) differences were rounded away), far from the
    # true weights ≈ (0.106, 0.431, 0.319, 0.143).
    p64 = q64[:4] / q64[:4].sum()
    assert np.allclose(p64, 0.25, rtol=0, atol=EPS)
    assert np.max(np.abs(p64 - Mpmath(16).to_float(w100))) > 0.1
    # The gradient direction in w: float64 has no component orthogonal to ū at all.
    assert e64.grad_w[1] == 0.0 and e64.grad_w[2] == 0.0


# --------------------------------------------------------------------------- (e) metrics


def nearly_rank_one(seed: int, ratio: float):
    """W = a bᵀ + ratio·p qᵀ (a ⊥ p, b ⊥ q unit), rounded to float64, a (1, 4) second layer and Z (3, 3)."""
    rng = np.random.default_rng(seed)

    def unit(n, against=None):
        v = rng.standard_normal(n)
        if against is not None:
            v -= (v @ against) * against
        return v / np.linalg.norm(v)

    a, b = unit(4), unit(3)
    W = np.outer(a, b) + ratio * np.outer(unit(4, a), unit(3, b))
    return W, unit(4)[None, :], rng.standard_normal((3, 3))


def test_rank_gap_resolved_at_50_digits():
    W, W2, Z = nearly_rank_one(0, 1e-15)
    # Oracle: 1 − σ_1/‖W‖_F of the float64 matrix at 400 bits.
    ctx = mpmath.MPContext()
    ctx.prec = 400
    sv = ctx.svd_r(ctx.matrix(W.tolist()), compute_uv=False)
    F = ctx.sqrt(ctx.fsum(ctx.mpf(float(x)) ** 2 for x in W.ravel()))
    want = float(1 - max(sv) / F)
    assert 4e-31 < want < 6e-31  # ≈ ½·ratio²
    s50 = snapshot(Z, EXP, (W, W2), bk=Mpmath(50))
    # At 50 digits σ_2 ≈ 1e-15 carries an absolute error ~2^-199·‖W‖ ≈ 1e-60, relative 1e-45: the
    # gap is exact up to its final rounding to float (a few eps).
    assert abs(s50.rank_gap[0] - want) <= 4 * EPS * want
    assert isinstance(s50.rank_gap[0], float) and s50.rank_gap.dtype == np.float64
    # float64: LAPACK's σ_2 carries an absolute error ~eps·σ_1, i.e. ~10% of σ_2 here, doubled in the
    # gap (measured over 10 seeds: 2.3e-3 to 0.12 relative; this seed 2.3e-3).
    s64 = snapshot(Z, EXP, (W, W2))
    assert abs(s64.rank_gap[0] - want) > 1e-4 * want


def aligned_mp_network(bk: Mpmath, theta):
    """L = 2 in mp: W_1 = u bᵀ (rank one), W_2 = (u + θ·p)ᵀ with u ⊥ p unit in mp, so
    1 − |⟨v_2, u_1⟩| = 1 − 1/sqrt(1 + θ²) and the product gap is the same; b = (1, 2, 2)/3."""
    ctx = bk.ctx
    u = bk.asarray(np.array([3.0, 4.0])) / 5  # exact in mp to the working precision
    p = np.array([-u[1], u[0]], dtype=object)
    b = bk.asarray(np.array([1.0, 2.0, 2.0])) / 3
    W1 = np.outer(u, b)
    W2 = (u + ctx.mpf(theta) * p)[None, :]
    return W1, W2, b


def test_alignment_product_and_angle_gaps_beyond_float64():
    bk = Mpmath(50)
    ctx = bk.ctx
    theta = ctx.mpf("1e-20")
    W1, W2, b = aligned_mp_network(bk, theta)
    # ū at an angle of exactly φ = 1e-25 from b (given as mpf, as float64 could not hold it).
    phi = ctx.mpf("1e-25")
    c = np.array([2.0, -2.0, 1.0], dtype=object) / 3  # unit, ⊥ b
    u_bar = ctx.cos(phi) * b + ctx.sin(phi) * bk.asarray(c)
    snap = snapshot(np.eye(3), EXP, (W1, W2), u_bar, bk)
    want = float(1 - 1 / ctx.sqrt(1 + theta**2))  # ≈ 5e-41
    # ½‖a ∓ b‖² of vectors accurate to ~1e-60 whose difference is ~1e-20: relative 1e-40, then the
    # rounding to float (a few eps).
    assert snap.adj_gap[0] == pytest.approx(want, rel=4 * EPS)
    assert snap.prod_gap == pytest.approx(want, rel=4 * EPS)
    # angle_between: norms of â ∓ b̂ in mp, atan2 in float: relative error a few eps.
    assert snap.angle_ubar == pytest.approx(1e-25, rel=8 * EPS)
    assert snap.v1_gap_ubar == pytest.approx(float(1 - ctx.cos(phi)), rel=4 * EPS)  # ≈ 5e-51
    assert all(isinstance(getattr(snap, f), float) for f in ("prod_gap", "angle_ubar", "v1_gap_ubar"))
    assert snap.adj_gap.dtype == np.float64
    # The same layers rounded to float64 fall to float64's floors. Measured: adjacency gap 2.5e-32
    # (entries ≈ 1 rounded to eps, squared), product gap 1.1e-16 (a difference of two norms),
    # angle 0 (ū and b round to the same vector), v1 gap 5e-32.
    s64 = snapshot(np.eye(3), EXP, tuple(bk.to_float(W) for W in (W1, W2)), bk.to_float(u_bar))
    assert abs(s64.adj_gap[0] - want) > 1e6 * want
    assert abs(s64.prod_gap - want) > 1e6 * want
    assert abs(s64.angle_ubar - 1e-25) >= 0.5e-25


def balanced_mp_start(bk: Mpmath, c=1.5):
    """W_k = c·u_k u_{k−1}ᵀ (u_3 = 1) with unit u_k normalised at the working precision: Δ_k = 0 to it."""
    rng = np.random.default_rng(4)
    us = []
    for n in (3, 4, 2):
        v = bk.asarray(rng.standard_normal(n))
        us.append(v / bk.norm(v))
    us.append(bk.asarray(np.ones(1)))
    return tuple(c * np.outer(us[k + 1], us[k]) for k in range(3))


def test_balanced_mp_start_and_drift_at_1e_minus_30():
    bk = Mpmath(50)
    layers = balanced_mp_start(bk)
    # Exactly balanced in reals; at 50 digits every Δ_k and D are rounding, ~2^-199·c² ≈ 1e-60.
    assert max(bk.norm(Dk) for Dk in balancedness(layers)) < 1e-40
    assert 0 <= lemma2_D(layers, bk) < 1e-40
    with pytest.raises(ProblemError):
        lemma2_D(layers)  # float64 would round the mp layers: refused, not silently done
    # float64 of the same start: D is rounding, ~1e-16 (test_network's bound).
    assert 0 < lemma2_D(tuple(bk.to_float(W) for W in layers)) < 1e-13
    # A checkpoint with W_1 scaled by (1 + 1e-30): Δ_1 moves by (2e-30 + 1e-60)·W_1W_1ᵀ, i.e. the
    # drift ‖Δ_1(t) − Δ_1(0)‖_F / max_j ‖W_j‖_F² = 2e-30·c²/(c²(1 + 1e-30)²) ≈ 2e-30; Δ_2 does not move.
    eps30 = bk.ctx.mpf("1e-30")
    moved = (layers[0] * (1 + eps30), layers[1], layers[2])
    cps = [Checkpoint(0.0, layers), Checkpoint(1.0, moved)]
    Z = planted_problem(3, n=5, d=3, gamma=0.3, n_sv=3, sv_rank=3).Z
    traj = Trajectory("gf", Z, EXP, cps, "test", 0, 0.0, bk)
    tm = trajectory_metrics(traj)  # the backend the trajectory names: mpmath-50
    assert tm.drift.dtype == np.float64
    assert tm.drift[0].max() < 1e-40 and tm.drift[1, 1] < 1e-40
    assert tm.drift[1, 0] == pytest.approx(2e-30, rel=1e-20)  # higher-order terms: 1e-30 relative
    assert tm.D < 1e-40
    assert tm.stack("rank_gap").max() < 1e-40  # rank one to the working precision
    assert tm.stack("adj_gap").max() < 1e-40
    # A coarser backend than the run's is refused; a finer one is accepted.
    with pytest.raises(ProblemError):
        trajectory_metrics(traj, bk=FLOAT64)
    with pytest.raises(ProblemError):
        trajectory_metrics(traj, bk=Mpmath(30))
    assert trajectory_metrics(traj, bk=Mpmath(80)).drift[1, 0] == pytest.approx(2e-30, rel=1e-20)
    with pytest.raises(ProblemError):
        snapshot(Z, EXP, layers)  # object layers with the float64 default


def test_unsigned_gap_and_angle_in_mp():
    bk = Mpmath(50)
    ctx = bk.ctx
    t = ctx.mpf("1e-30")
    a = bk.asarray(np.array([1.0, 0.0]))
    b = np.array([ctx.cos(t), ctx.sin(t)], dtype=object)
    assert unsigned_gap(a, -b) == pytest.approx(float(1 - ctx.cos(t)), rel=4 * EPS)  # ≈ 5e-61
    assert angle_between(a, b, bk) == pytest.approx(1e-30, rel=8 * EPS)
    assert angle_between(a, -b, bk) == pytest.approx(math.pi, rel=EPS)


# --------------------------------------------------------------------------- (f) conversions and the new methods


def test_asarray_is_exact_and_to_float_round_trips():
    bk = Mpmath(30)
    x = np.array([0.1, -1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 1e-300, 12345.678])
    m = bk.asarray(x)
    assert m.dtype == object and m.shape == x.shape
    assert all(isinstance(v, bk.ctx.mpf) and v == xv for v, xv in zip(m, x))  # mpf(x) == x: exact
    assert np.array_equal(bk.to_float(m), x)
    assert bk.asarray(np.float64(0.1)) == 0.1 and bk.asarray(x.reshape(2, 4)).shape == (2, 4)


def test_to_float_beyond_the_float64_range():
    bk = Mpmath(30)
    big = bk.ctx.mpf(10) ** 400
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # by design: no overflow warning
        f = bk.to_float(np.array([big, -big, 1 / big, -1 / big, bk.ctx.mpf(1)], dtype=object))
        assert bk.to_float(big) == math.inf and bk.to_float(1 / big) == 0.0
    assert f[0] == math.inf and f[1] == -math.inf and f[2] == 0.0 and f[3] == 0.0 and f[4] == 1.0
    assert f.dtype == np.float64


def test_sqrt_norm_and_log_of_constants():
    bk = Mpmath(50)
    ctx = bk.ctx
    A = np.array([[3.0, 0.0, 1.0], [4.0, 2.0, -1.0]])
    Am = bk.asarray(A)
    # Frobenius / 2-norms: one dot product and a square root at 199 bits.
    assert abs(bk.norm(Am) - ctx.sqrt(31)) <= 1e-55
    assert abs(bk.norm(Am[0]) - ctx.sqrt(10)) <= 1e-55
    assert abs(bk.norm(Am, 2) - max(bk.svd(Am)[1])) <= 1e-55
    assert float(bk.norm(Am, 2)) == pytest.approx(np.linalg.norm(A, 2), rel=4 * EPS)
    assert FLOAT64.norm(A) == np.linalg.norm(A) and FLOAT64.norm(A, 2) == np.linalg.norm(A, 2)
    with pytest.raises(ValueError):
        bk.norm(Am, 1)
    # sqrt: elementwise on arrays, a bare mpf on a scalar; float64's is IEEE (math.sqrt's bits).
    s = bk.sqrt(Am[0])
    assert s.dtype == object and abs(s[0] - ctx.sqrt(3)) <= 1e-55
    assert isinstance(bk.sqrt(ctx.mpf(2)), ctx.mpf)
    assert FLOAT64.sqrt(2.0) == math.sqrt(2.0)
    # log of a Python number: float64 through math.log (numpy's vectorised log may differ by an
    # ulp), mpmath at the working precision.
    assert all(FLOAT64.log(n) == math.log(n) for n in (2, 6, 20, 10_000))
    assert isinstance(bk.log(20), ctx.mpf) and abs(bk.log(20) - ctx.log(20)) == 0


def test_flint_and_mpmath_solves_agree_and_singular_is_none():
    # A Newton-like system I − hJ (well conditioned) at 60 digits: python-flint's approximate LU and
    # mpmath's LU agree to a few units of the working precision (2^-prec ≈ 1e-70 at 60 digits: 1e-65
    # leaves room for the condition number of a 12×12 system).

    rng = np.random.default_rng(3)
    flint_bk, mp_bk = Mpmath(60), Mpmath(60, "mpmath")
    A = flint_bk.asarray(np.eye(12) + 0.3 * rng.standard_normal((12, 12))) / 3
    b = flint_bk.asarray(rng.standard_normal(12))
    x, y = flint_bk.solve(A, b), mp_bk.solve(A, b)
    assert max(abs(u - v) for u, v in zip(x, y)) / max(abs(v) for v in y) < 1e-65
    assert max(abs(r) for r in A @ x - b) < 1e-65
    singular = flint_bk.asarray(np.array([[1.0, 2.0], [2.0, 4.0]]))
    assert flint_bk.solve(singular, flint_bk.asarray(np.ones(2))) is None
    assert mp_bk.solve(singular, mp_bk.asarray(np.ones(2))) is None
