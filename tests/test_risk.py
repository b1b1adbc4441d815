"""The risk in the log domain: log R, its layer gradients and its Hessian, against finite differences."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aligncheck.numerics.losses import EXP, LOGISTIC, get_loss
from aligncheck.numerics.network import flatten, init_layers, product, unflatten
from aligncheck.numerics.risk import evaluate, hessian, risk_gradients
from aligncheck.data.planted import planted_problem
from aligncheck.testing.strategies import depths, init_seeds, inits, planted_problems, widths

EPS = 2.0**-53  # unit roundoff of float64
MP = mpmath.MPContext()  # private context: 50 digits, the oracle's error is negligible
MP.dps = 50

# Central differences with step h = 1e-5: truncation h²·|f'''|/6 plus cancellation eps·|f|/h,
# both ~1e-10 or below for O(1) layers. Measured worst over 200 random networks (depth 1..5,
# widths 1..4, both losses, all inits): 5e-11 for the gradient and 3e-10 for the Hessian,
# relative to max(1, max|entry|). A wrong formula is off by O(0.1..1).
FD_STEP = 1e-5
GRAD_TOL = 1e-8
HESS_TOL = 1e-7


@st.composite
def cases(draw):
    """(Z, loss, layers): a planted problem and a network of depth 1..5 on it (O(1) layers)."""
    pp = draw(planted_problems(d=st.integers(1, 4)))
    L = draw(depths(1, 5))
    ws = draw(widths(pp.d, L, max_width=4))
    kind = draw(inits())
    seed = draw(init_seeds())
    scale = draw(st.sampled_from([0.5, 1.0, 1.5]))
    loss = draw(st.sampled_from([EXP, LOGISTIC]))
    Z = pp.Z
    return Z, loss, init_layers(kind, pp.d, ws, seed, scale=scale, mean_z=Z.mean(axis=0))


def _bottleneck_case(loss):
    pp = planted_problem(11, n=7, d=3, gamma=0.4, n_sv=3, sv_rank=3)
    return pp.Z, loss, init_layers("gaussian", 3, [4, 1, 2], 3, mean_z=pp.Z.mean(axis=0))  # width-1 bottleneck


def central_difference(f, theta, h=FD_STEP):
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return np.array(cols)


def log_risk_oracle(Z, loss, layers):
    """log((1/n) Σ ℓ(⟨w, z_i⟩)) at 50 digits from the float product."""
    m = Z @ product(layers)
    ell = (lambda M: MP.exp(-M)) if loss.name == "exp" else (lambda M: MP.log1p(MP.exp(-M)))
    return MP.log(MP.fsum(ell(MP.mpf(float(x))) for x in m) / len(m))


@settings(max_examples=30, deadline=None)
@given(cases())
@example(_bottleneck_case(EXP))
@example(_bottleneck_case(LOGISTIC))
def test_evaluate_matches_oracle_and_finite_differences(case):
    Z, loss, layers = case
    shapes = [W.shape for W in layers]
    ev = evaluate(Z, loss, layers)
    w = product(layers)
    assert np.array_equal(ev.w_prod, w)
    assert np.array_equal(ev.margins, Z @ w)
    # log R: the loss tolerance of test_losses (n + 8)·eps·max(1, |log R| + log n).
    want = log_risk_oracle(Z, loss, layers)
    n = Z.shape[0]
    assert abs(float(ev.log_risk) - float(want)) <= (n + 8) * EPS * max(1.0, abs(float(want)) + math.log(n))

    def log_r(theta):
        return float(evaluate(Z, loss, unflatten(theta, shapes)).log_risk)

    theta = flatten(layers).astype(float)
    g = flatten(ev.grads)
    assert [G.shape for G in ev.grads] == shapes
    fd = central_difference(log_r, theta)
    assert np.max(np.abs(fd - g)) <= GRAD_TOL * max(1.0, float(np.max(np.abs(g))))
    # ∇_w log R against differences in w directly.
    fdw = central_difference(lambda v: float(evaluate(Z, loss, (v[None, :],)).log_risk), w.astype(float))
    assert np.max(np.abs(fdw - ev.grad_w)) <= GRAD_TOL * max(1.0, float(np.max(np.abs(ev.grad_w))))


@settings(max_examples=25, deadline=None)
@given(cases())
@example(_bottleneck_case(EXP))
@example(_bottleneck_case(LOGISTIC))
def test_hessian_matches_finite_differences_and_is_symmetric(case):
    Z, loss, layers = case
    shapes = [W.shape for W in layers]
    theta = flatten(layers).astype(float)
    H = hessian(Z, loss, layers)
    N = theta.size
    assert H.shape == (N, N)

    def grad(t):
        return flatten(evaluate(Z, loss, unflatten(t, shapes)).grads)

    fd = central_difference(grad, theta)  # row j = ∂(∇ log R)/∂θ_j
    size = max(1.0, float(np.max(np.abs(H))))
    assert np.max(np.abs(fd - H)) <= HESS_TOL * size
    # Symmetry: J^T H_w J is formed by two products that round differently on the two sides
    # (T is symmetric by construction); measured asymmetry ≤ 4.5e-16 of max|H|. 1e-12 leaves room
    # for (N·width) roundings of the products.
    assert np.max(np.abs(H - H.T)) <= 1e-12 * size


def test_hessian_at_large_margins_matches_the_w_hessian_chain_rule():
    # With margins ~1e3 finite differences of log R are useless, but for L = 1 the Hessian in θ IS
    # ∇²_w log R = Σ p_i z_i z_i^T − g g^T (p = softmax(−m), exp loss), a closed form. Relative
    # error of entries: the softmax weights carry eps·max|m| ≈ 2e-13 relative error; 1e-9 of max|H|.
    pp = planted_problem(5, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)
    Z = pp.Z
    w = 3000.0 * pp.u_bar + np.array([0.3, -0.2, 0.1])
    H = hessian(Z, EXP, (w[None, :],))
    m = Z @ w
    p = np.exp(-(m - m.min()))
    p /= p.sum()
    g = -(p @ Z)
    ref = (Z.T * p) @ Z - np.outer(g, g)
    assert np.max(np.abs(H - ref)) <= 1e-9 * np.max(np.abs(ref))
    assert np.max(np.abs(ref)) > 0


@settings(max_examples=25, deadline=None)
@given(cases())
def test_risk_gradients_are_risk_times_log_gradients(case):
    Z, loss, layers = case
    ev = evaluate(Z, loss, layers)
    R = math.exp(float(ev.log_risk))
    plain = risk_gradients(Z, loss, layers)
    for G, Gl in zip(plain, ev.grads):
        # One multiplication by R (rounded) per entry: 2 eps relative, plus exp's own rounding.
        np.testing.assert_allclose(G, R * Gl, rtol=4 * EPS, atol=0)
    # And directly against finite differences of R (not log R).
    shapes = [W.shape for W in layers]
    theta = flatten(layers).astype(float)
    fd = central_difference(lambda t: math.exp(float(evaluate(Z, loss, unflatten(t, shapes)).log_risk)), theta)
    g = flatten(plain)
    assert np.max(np.abs(fd - g)) <= GRAD_TOL * max(R, float(np.max(np.abs(g))))


@pytest.mark.parametrize("name", ["exp", "logistic"])
def test_risk_is_a_mean_not_a_sum(name):
    # Duplicating every point leaves R (a mean) unchanged; a sum would add log 2.
    pp = planted_problem(2, n=5, d=2, gamma=0.5, n_sv=2, sv_rank=2)
    layers = init_layers("gaussian", 2, [3], 1, mean_z=pp.Z.mean(axis=0))
    loss = get_loss(name)
    a = float(evaluate(pp.Z, loss, layers).log_risk)
    b = float(evaluate(np.vstack([pp.Z, pp.Z]), loss, layers).log_risk)
    assert abs(a - b) <= 16 * EPS * max(1.0, abs(a))
