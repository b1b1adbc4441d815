"""Certified bounds (aligncheck.numerics.certify): Lemma 2's bounds and gd.descent in ball arithmetic.

Genuine gradient-flow and GD checkpoints are certified; deliberately broken ones are refuted;
cases that hold with equality in exact arithmetic are never refuted and their enclosure holds
the exact slack 0; flint's global precision is left as it was; mpf inputs give the same
certificates as float64 inputs of the same values.
"""

from __future__ import annotations

import math

import flint
import mpmath
import numpy as np
import pytest

from aligncheck.numerics import certify
from aligncheck.numerics.certify import (
    CERTIFIED,
    REFUTED,
    UNCERTAIN,
    Certificate,
    certify_alignment_bound,
    certify_descent,
    certify_rank_bound,
    to_arb,
)
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.metrics import lemma2_D, snapshot
from aligncheck.numerics.network import init_layers
from aligncheck.dynamics.gd import paper_step_gd
from aligncheck.numerics.risk import evaluate, risk_gradients
from aligncheck.data.planted import planted_problem

# The float64 metrics (SVD) agree with the exact quantities to a few eps·‖W‖²; 1e-10·max(1, ‖W‖²)
# is far above that and far below the O(1) margins the broken cases move the slack by.
FLOAT_AGREE = 1e-10
# gd.descent's float64 slack R(t) − R(t+1) − (η/2)‖∇R‖² has R ≈ 0.6 and ‖∇R‖ = O(1): rounding of a
# few eps ≈ 1e-15 each; 1e-12 covers it and is far below the slacks tested (≥ 1e-4).
DESCENT_AGREE = 1e-12
MP = mpmath.MPContext()  # private: never touch mpmath's global precision
MP.prec = 300


@pytest.fixture(scope="module")
def problem():
    return planted_problem(11, n=20, d=3, gamma=0.25, n_sv=3, sv_rank=3)


@pytest.fixture(scope="module", params=[(EXP, [3, 3], "gaussian"), (LOGISTIC, [4, 2], "gaussian"), (EXP, [2], "w1zero")], ids=["exp-L3", "logistic-L3", "exp-L2-w1zero"])
def flow(request, problem):
    loss, widths, init = request.param
    layers0 = init_layers(init, problem.d, widths, 5, mean_z=problem.Z.mean(axis=0))
    # To ‖W_k‖_F ≈ 30: the alignment bound is then ~1e-2, the measured gap ~1e-7.
    traj = gradient_flow(problem.Z, loss, layers0, target_layer_norm=30.0, target_log_risk=0.0)
    assert traj.stop_reason == "target reached"
    return traj


def _as_mpf(layers):
    return tuple(np.array([[MP.mpf(float(v)) for v in row] for row in W], dtype=object).reshape(W.shape) for W in layers)


def _tight(lo: float, hi: float) -> bool:
    """The enclosure is as narrow as the outward float rounding of its two ends allows (its arb
    width is ~2^-120 relative; each end moves by at most one ulp when rounded outward)."""
    return hi - lo <= 2 * math.ulp(max(abs(lo), abs(hi)))


def _with_singular(W: np.ndarray, j: int, value: float) -> np.ndarray:
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    s = s.copy()
    s[j] = value
    return (U * s) @ Vt


# ---------------------------------------------------------------- (1) genuine flow: certified


def test_lemma2_bounds_certified_on_gradient_flow(flow, problem):
    layers0 = flow.checkpoints[0].layers
    D = lemma2_D(layers0)
    for cp in (flow.checkpoints[0], flow.checkpoints[len(flow.checkpoints) // 2], flow.checkpoints[-1]):
        rank = certify_rank_bound(cp.layers, layers0)
        align = certify_alignment_bound(cp.layers, layers0)
        assert rank.status == CERTIFIED, rank.detail
        assert align.status == CERTIFIED, align.detail
        assert rank.prec == align.prec == certify.DEFAULT_PREC  # decided at once, no raise needed
        # The enclosures agree with the float64 metrics (an independent SVD-based computation).
        snap = snapshot(problem.Z, flow.loss, cp.layers)
        scale = FLOAT_AGREE * max(1.0, float(np.max(snap.frob)) ** 2)
        for (lo, hi), off in zip(rank.per_layer, snap.off_rank):
            assert lo - scale <= D - off <= hi + scale
            assert _tight(lo, hi)
        spec0 = np.array([np.linalg.norm(W, 2) ** 2 for W in layers0])
        for k, (lo, hi) in enumerate(align.per_layer):
            gap = snap.adj_gap[k]
            bound = (D + spec0[k + 1] + spec0[k]) / snap.sigma[k + 1] ** 2
            if math.isnan(gap):  # W_1(0) = 0: u_1 undefined, so sin² ∈ [0, 1] and the slack ∈ [b − 1, b]
                assert lo <= bound <= hi * (1 + FLOAT_AGREE) and lo >= bound - 1 - FLOAT_AGREE
                continue
            sin2 = gap * (2 - gap)
            assert lo - FLOAT_AGREE * max(1.0, bound) <= bound - sin2 <= hi + FLOAT_AGREE * max(1.0, bound)


# ---------------------------------------------------------------- (2) broken checkpoints: refuted


def test_inflated_second_singular_value_refuted(flow):
    layers0 = flow.checkpoints[0].layers
    D = lemma2_D(layers0)
    layers = list(flow.checkpoints[-1].layers)
    W = layers[0]
    s = np.linalg.svd(W, compute_uv=False)
    # ‖W‖_F² − ‖W‖_2² grows by D + 1 (the second singular value squared gains D + 1).
    layers[0] = _with_singular(W, 1, math.sqrt(s[1] ** 2 + D + 1.0))
    cert = certify_rank_bound(tuple(layers), layers0)
    assert cert.status == REFUTED, cert.detail
    assert cert.layer == 1
    assert cert.upper < -0.5  # by a clear margin: the slack fell by D + 1 from a value ≤ D
    assert certify_rank_bound(flow.checkpoints[-1].layers, layers0).status == CERTIFIED  # the control


def test_rotated_layer_refutes_alignment(flow):
    layers0 = flow.checkpoints[0].layers
    layers = list(flow.checkpoints[-1].layers)
    W = layers[1]
    _, _, Vt = np.linalg.svd(W)
    v, w = Vt[0], Vt[1]
    # Rotate W_2's input space by 0.6 rad in the plane (v_2, w): v_2 turns away from u_1 by 0.6,
    # sin² ≈ 0.32, while the bound is ≈ 1e-2 at ‖W‖ ≈ 30. Singular values do not change.
    c, s = math.cos(0.6), math.sin(0.6)
    Q = np.eye(W.shape[1]) + (c - 1) * (np.outer(v, v) + np.outer(w, w)) + s * (np.outer(w, v) - np.outer(v, w))
    layers[1] = W @ Q
    cert = certify_alignment_bound(tuple(layers), layers0)
    assert cert.status == REFUTED, cert.detail
    assert cert.layer == 1
    assert cert.upper < -0.1
    assert certify_rank_bound(tuple(layers), layers0).status == CERTIFIED  # spectra untouched


# ---------------------------------------------------------------- (3) equality: never refuted


def _balanced_dyadic() -> tuple[np.ndarray, ...]:
    """W_k = c u_k u_{k−1}ᵀ with unit vectors of entries ±1/2 and c = 3/2: every product is exact,
    so Δ_k = 0 and D = 0 exactly, and each layer is exactly rank one: ‖W_k‖_F² − ‖W_k‖_2² = 0 = D."""
    u0 = np.array([0.5, 0.5, -0.5, 0.5])
    u1 = np.array([0.5, -0.5, -0.5, -0.5])
    u2 = np.array([-0.5, 0.5, -0.5, -0.5])
    c = 1.5
    return (c * np.outer(u1, u0), c * np.outer(u2, u1), c * np.outer(np.ones(1), u2))


def test_rank_bound_at_equality_is_not_refuted():
    layers = _balanced_dyadic()
    assert lemma2_D(layers) == 0.0
    cert = certify_rank_bound(layers, layers)
    assert cert.status in (CERTIFIED, UNCERTAIN), cert.detail
    assert cert.lower <= 0.0 <= cert.upper  # the exact slack is 0
    assert cert.upper - cert.lower < 1e-60  # measured 1e-153 at 512 bits; a loose bound would be O(eps·‖W‖²)
    if cert.status == UNCERTAIN:
        assert cert.prec == certify.DEFAULT_PREC * 4  # it tried twice more before giving up
    # The bound holds trivially at t = 0 for the alignment claim (b_k = 2 here).
    align = certify_alignment_bound(layers, layers)
    assert align.status == CERTIFIED and align.lower <= 2.0 <= align.upper


def test_single_layer_rank_bound_is_exact():
    # L = 1: D = 0 and a row vector has ‖w‖_F = ‖w‖_2; the 1×1 Gram gives an exact-or-tiny enclosure.
    layers = (np.array([[0.3, -1.7, 2.5]]),)
    cert = certify_rank_bound(layers, layers)
    assert cert.status in (CERTIFIED, UNCERTAIN) and cert.lower <= 0.0 <= cert.upper
    assert certify_alignment_bound(layers, layers).status == CERTIFIED  # no pair: vacuous


def test_alignment_bound_at_equality_is_not_refuted():
    """L = 2, d = d_1 = 2. W(0): W_1 = diag(7, 1), W_2 = (7, 0): D = (50 − 49) + ‖diag(0, 1)‖_2 = 2,
    ‖W_2(0)‖_2² = ‖W_1(0)‖_2² = 49, so D + ‖W_2(0)‖² + ‖W_1(0)‖² = 100. W(t): W_1 = diag(10, 1)
    (u_1 = e_1), W_2 = (24, 10) (v_2 = (24, 10)/26): ⟨v_2, u_1⟩² = 576/676 and
    1 − 100/‖W_2‖² = 1 − 100/676 = 576/676: equality."""
    layers0 = (np.diag([7.0, 1.0]), np.array([[7.0, 0.0]]))
    layers = (np.diag([10.0, 1.0]), np.array([[24.0, 10.0]]))
    assert lemma2_D(layers0) == 2.0
    cert = certify_alignment_bound(layers, layers0)
    assert cert.status in (CERTIFIED, UNCERTAIN), cert.detail
    assert cert.lower <= 0.0 <= cert.upper
    assert cert.upper - cert.lower < 1e-60  # measured 3e-153 at 512 bits (angle bounds ~1e-153)
    assert certify_rank_bound(layers, layers0).status == CERTIFIED  # off = 1 < D = 2


def test_precision_is_raised_when_128_bits_are_too_few():
    """A slack of 2^-200: the 128-bit balls (radius ~2^-123 on ‖W‖² = 20) straddle it, 256 bits do not.
    W(0): W_1 = [[a, 0], [0, 0]], W_2 = (1, 0) with a = 1 − 2^-201 (an mpf: 202 bits), so
    D = 1 − a² = 2^-200 − 2^-402. W(t): W_1 = [[3, 3], [1, 1]] (rank one), W_2 = (1, 1): off = 0."""
    a = MP.mpf(1) - MP.mpf(2) ** -201
    z = MP.mpf(0)
    layers0 = (np.array([[a, z], [z, z]], dtype=object), np.array([[MP.mpf(1), z]], dtype=object))
    layers = (np.array([[3.0, 3.0], [1.0, 1.0]]), np.array([[1.0, 1.0]]))
    cert = certify_rank_bound(layers, layers0)
    assert cert.status == CERTIFIED, cert.detail
    assert cert.prec == 256
    # The slack is D − 0 = 2^-200 − 2^-402; its ends are rounded outward to floats (one ulp, < 1e-15).
    assert cert.lower > 0 and cert.lower <= 2.0**-200 <= cert.upper * (1 + 1e-15)
    assert certify_rank_bound(layers, layers0, max_raises=0).status == UNCERTAIN


# ---------------------------------------------------------------- (4) gd.descent


def _float_slack(Z, loss, layers, nxt, eta) -> float:
    r0 = math.exp(float(evaluate(Z, loss, layers).log_risk))
    r1 = math.exp(float(evaluate(Z, loss, nxt).log_risk))
    g2 = sum(float(np.sum(G * G)) for G in risk_gradients(Z, loss, layers))
    return r0 - r1 - 0.5 * eta * g2


def test_descent_certified_with_paper_step_and_refuted_at_1000x(problem):
    layers0 = init_layers("gaussian", problem.d, [3], 5, mean_z=problem.Z.mean(axis=0))
    for scale, want in ((1.0, CERTIFIED), (1000.0, REFUTED)):
        traj = paper_step_gd(problem.Z, LOGISTIC, layers0, steps=3, step_scale=scale)
        cp = traj.checkpoints[0]
        cert = certify_descent(problem.Z, "logistic", cp.layers, cp.next_layers, cp.step_size)
        assert cert.status == want, cert.detail
        # The ball computation (its own gradient formula) agrees with aligncheck.numerics.risk's float64 one.
        assert cert.lower - DESCENT_AGREE <= _float_slack(problem.Z, LOGISTIC, cp.layers, cp.next_layers, cp.step_size) <= cert.upper + DESCENT_AGREE
        assert _tight(cert.lower, cert.upper)
    assert cert.upper < -0.1  # 1000x: R drops, but by far less than (η/2)‖∇R‖²


def test_descent_exp_loss_and_loss_object(problem):
    layers = init_layers("gaussian", problem.d, [4, 2], 3, mean_z=problem.Z.mean(axis=0))
    grads = risk_gradients(problem.Z, EXP, layers)
    eta = 0.01
    nxt = tuple(W - eta * G for W, G in zip(layers, grads))
    cert = certify_descent(problem.Z, EXP, layers, nxt, eta)
    assert cert.status == CERTIFIED, cert.detail
    assert cert.lower - DESCENT_AGREE <= _float_slack(problem.Z, EXP, layers, nxt, eta) <= cert.upper + DESCENT_AGREE
    # Not moving at all: R(t+1) − R(t) = 0 > −(η/2)‖∇R‖² < 0: a certified violation.
    assert certify_descent(problem.Z, "exp", layers, layers, eta).status == REFUTED


# ---------------------------------------------------------------- (5) flint's global precision


def test_flint_precision_is_restored(flow, problem):
    saved_flint, saved_mp = flint.ctx.prec, mpmath.mp.prec
    flint.ctx.prec = 77  # not the default: a reset to 53 would show
    try:
        layers0 = flow.checkpoints[0].layers
        certify_rank_bound(flow.checkpoints[-1].layers, layers0)
        assert flint.ctx.prec == 77
        certify_alignment_bound(flow.checkpoints[-1].layers, layers0)
        assert flint.ctx.prec == 77
        certify_rank_bound(_balanced_dyadic(), _balanced_dyadic())  # uncertain: all three precisions
        assert flint.ctx.prec == 77
        layers = init_layers("gaussian", problem.d, [3], 5)
        certify_descent(problem.Z, "logistic", layers, layers, 0.1)
        assert flint.ctx.prec == 77
        with pytest.raises(ProblemError):
            certify_rank_bound((np.array([[np.nan, 1.0]]),), (np.array([[1.0, 1.0]]),))
        assert flint.ctx.prec == 77
        with pytest.raises(RuntimeError):
            certify._escalate(lambda p: (_ for _ in ()).throw(RuntimeError("inside")), 128, 2)
        assert flint.ctx.prec == 77
        assert mpmath.mp.prec == saved_mp
    finally:
        flint.ctx.prec = saved_flint


def test_escalation_sequence():
    seen = []

    def compute(p):
        seen.append((p, flint.ctx.prec))
        return Certificate("x", UNCERTAIN if p < 400 else CERTIFIED, 0.0, 0.0, p, "fake")

    cert = certify._escalate(compute, 128, 2)
    assert seen == [(128, 128), (256, 256), (512, 512)]
    assert cert.status == CERTIFIED and cert.prec == 512
    with pytest.raises(ProblemError):
        certify._escalate(compute, 32, 2)


# ---------------------------------------------------------------- (6) mpf inputs


def test_mpf_inputs_give_the_same_certificates(flow, problem):
    layers0 = flow.checkpoints[0].layers
    cp = flow.checkpoints[-1]
    for fn in (certify_rank_bound, certify_alignment_bound):
        assert fn(_as_mpf(cp.layers), _as_mpf(layers0)) == fn(cp.layers, layers0)
    gd = paper_step_gd(problem.Z, LOGISTIC, init_layers("gaussian", problem.d, [3], 5, mean_z=problem.Z.mean(axis=0)), steps=2)
    c = gd.checkpoints[0]
    Zm = _as_mpf((problem.Z,))[0]
    want = certify_descent(problem.Z, "logistic", c.layers, c.next_layers, c.step_size)
    assert certify_descent(Zm, "logistic", _as_mpf(c.layers), _as_mpf(c.next_layers), MP.mpf(c.step_size)) == want


def test_to_arb_is_exact():
    for x in (0.1, -0.75, 1e-300, 5e-324, 1.7976931348623157e308, 0.0, -3.0):
        man, exp = to_arb(x).man_exp()
        assert math.ldexp(int(man), int(exp)) == x
    third = MP.mpf(1) / 3  # 300 bits: more than any working precision used here
    sign, man, exp, _ = (-third)._mpf_
    assert to_arb(-third).man_exp() == (-int(man), int(exp))  # the sign survives, no rounding
    assert to_arb(np.float32(0.1)) == to_arb(float(np.float32(0.1)))
    assert to_arb(7) == to_arb(7.0)
    for bad in (math.nan, math.inf, MP.mpf("inf"), MP.nan, "1.0", True):
        with pytest.raises(ProblemError):
            to_arb(bad)


def test_bad_inputs():
    W = (np.ones((2, 3)), np.ones((1, 2)))
    with pytest.raises(ProblemError):
        certify_rank_bound(W, (np.ones((2, 3)), np.ones((1, 3))))
    with pytest.raises(ProblemError):
        certify_alignment_bound((np.ones((2, 3)), np.ones((2, 2))), (np.ones((2, 3)), np.ones((2, 2))))
    with pytest.raises(ProblemError):
        certify_descent(np.ones((4, 2)), "logistic", W, W, 0.1)
    with pytest.raises(ProblemError):
        certify_descent(np.ones((4, 3)), "poly", W, W, 0.1)
    with pytest.raises(ProblemError):
        certify_rank_bound(W, W, prec=32)


@pytest.mark.parametrize("prec", [128, 256])
def test_approximate_eigenvectors_are_refined_to_the_precision(prec):
    # LAPACK's eigenvectors (~50 bits) refined by Ogita–Aishima: residuals ‖Ax − (xᵀAx)x‖ at the
    # working precision, far below float64's (a simple spectrum: the refinement converges quadratically).
    from flint import arb_mat

    from aligncheck.numerics.balls import approx_eigvecs, working_precision

    rng = np.random.default_rng(1)
    B = rng.standard_normal((12, 12))
    with working_precision(prec):
        A = arb_mat((B + B.T).tolist())
        vecs = approx_eigvecs(A, prec)
        assert len(vecs) == 12
        for x in vecs:
            mu = (x.transpose() * A * x)[0, 0] / (x.transpose() * x)[0, 0]
            r = A * x - x * mu
            res = max(abs(float(r[i, 0].mid())) for i in range(12))
            assert res < 2.0 ** (-prec + 20) * 10, res  # float64's own vectors leave ~1e-15
