"""Issue 4 cross-check: from a balanced start the reduced d-dimensional flow agrees with the full
layered flow at high precision, at MATCHED TIME (not only along the same path).

Convention (the time τ of both systems is the same variable, no constant factor):

    layered:  dW_k/dτ = −∇_{W_k} log R(W),     k = 1..L   (aligncheck.numerics.risk.evaluate(...).grads)
    reduced:  dw/dτ   = −‖w‖^{2−2/L} (I + (L−1) w wᵀ/‖w‖²) ∇_w log R(w)

with R(W) = (1/n) Σ_i ℓ(⟨w_prod, z_i⟩), w_prod = (W_L ⋯ W_1)ᵀ. (Gradient flow of R itself,
dW/dt = −∇R, traces the same path with dτ = R dt.)

Derivation. Balancedness W_{k+1}ᵀW_{k+1} = W_k W_kᵀ (D = 0) is conserved by the flow, and with
d_L = 1 it forces W_k = s u_k u_{k−1}ᵀ with unit u_k (u_L = ±1), one singular value s for every
layer; then w = s^L u_L u_0, so ‖w‖ = s^L. With g = ∇_w log R, the layer gradient is
∇_{W_k} = a_k b_kᵀ, a_k = (W_L ⋯ W_{k+1})ᵀ = s^{L−k} u_L u_k, b_k = W_{k−1} ⋯ W_1 g
(= g for k = 1, s^{k−1} (u_0·g) u_{k−1} for k ≥ 2). The product's velocity (as a row) is
Σ_k (W_L ⋯ W_{k+1}) (−∇_{W_k}) (W_{k−1} ⋯ W_1):
    k = 1:  −s^{L−1} u_1ᵀ · s^{L−1} u_1 gᵀ                                   = −s^{2L−2} gᵀ
    k ≥ 2:  −s^{L−k} u_kᵀ · s^{L−1} (u_0·g) u_k u_{k−1}ᵀ · s^{k−1} u_{k−1} u_0ᵀ = −s^{2L−2} (u_0·g) u_0ᵀ
(u_L² = 1 in every term). Summing, dw/dτ = −s^{2L−2} (g + (L−1) u_0 u_0ᵀ g) and s^{2L−2} =
‖w‖^{2−2/L}: exactly the reduced flow above, in the same τ.

Method. Both systems are integrated at 40 digits (aligncheck.numerics.backends.Mpmath(40), ~165 bits, its
private context) by the same fixed-step Gragg–Bulirsch–Stoer scheme (modified midpoint with
2, 4, ..., 16 substeps per macro step H, Neville-extrapolated in h²: order 16), and w_prod of the
layered run is compared with the reduced run's w at every macro step end. Fixed steps, so no
interpolation and no step-size control enters the comparison. Classical RK4 cannot do this in
time: its h⁴ error would need h ≈ 1e-5 (10⁵ steps of object-array mpmath) to get below 1e-20.

Measured (this machine, ≈ 3.4 s for the file): on τ ∈ [0, 0.5] (‖w‖ from 1 to ≈ 1.12, w moves by
26-34 % relative, |margins| < 1: nothing stiff) the layered-vs-reduced relative difference, max
over τ = 0.1..0.5, is 3.1e-27 (exp) and 1.2e-29 (logistic) with H = 0.1, and 5e-32 / 2e-34 with
H = 0.05. Halving H moves the reduced run by 3.1e-27 / 1.1e-29 and the layered run by
8.7e-29 / 3.2e-31: the difference at H = 0.1 IS the integrators' truncation error (rounding at
~165 bits is ~1e-49). TOL = 1e-20 absorbs that truncation error with a factor ≥ 3e6 to spare,
and is still 4 orders below float64's ~1e-16 (the float64 oracle in tests/test_dynamics.py
matches paths, not times, at 1e-9). It does NOT absorb an imbalance of the start: the float64
balanced start (D ≈ 1e-16) drifts from the reduced flow at ≈ 1e-17 per unit τ, hence the
start is rebuilt at 40 digits (_balanced_start). The negative controls (a Gaussian, unbalanced
start: 0.61; the coefficient L instead of L − 1: 3.9e-3; the exponent 2 − 1/L instead of
2 − 2/L: 7.8e-5) are all ≥ 10¹⁵ × TOL.
"""

from __future__ import annotations

import numpy as np
import pytest

from aligncheck.numerics.backends import Mpmath
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.network import flatten, init_layers, product, unflatten
from aligncheck.numerics.risk import evaluate
from aligncheck.data.planted import planted_problem

DIGITS = 40
D, WIDTHS = 3, [3, 2]  # L = 3
L = len(WIDTHS) + 1
H, STEPS = 0.1, 5  # macro steps: τ = 0.1, 0.2, ..., 0.5
SUBSTEPS = (2, 4, 6, 8, 10, 12, 14, 16)  # GBS: order 2·len(SUBSTEPS) = 16
TOL = 1e-20  # relative, max over the checkpoints (see the module docstring)
CONTROL_MIN = 1e-6  # every negative control must be off by more than this (measured ≥ 7.8e-5)


def _problem():
    pp = planted_problem(4, n=7, d=D, gamma=0.4, n_sv=4, sv_rank=D)
    return pp.Z


def _gbs_step(f, y, h, ctx):
    """One Gragg–Bulirsch–Stoer step of size h from y (an object array of mpf), order 2·len(SUBSTEPS)."""
    f0 = f(y)
    table = []
    for j, n in enumerate(SUBSTEPS):
        hs = ctx.mpf(h) / n
        z_prev, z = y, y + hs * f0
        for _ in range(n - 1):
            z_prev, z = z, z_prev + 2 * hs * f(z)
        row = [(z + z_prev + hs * f(z)) / 2]
        for k in range(1, j + 1):  # Neville: extrapolate the even-power error expansion to h = 0
            ratio = ctx.mpf(n) ** 2 / ctx.mpf(SUBSTEPS[j - k]) ** 2 - 1
            row.append(row[k - 1] + (row[k - 1] - table[j - 1][k - 1]) / ratio)
        table.append(row)
    return table[-1][-1]


def _integrate(f, y0, h, steps, ctx):
    """The states at the ends of ``steps`` GBS steps of size h (y0 excluded)."""
    out, y = [], y0
    for _ in range(steps):
        y = _gbs_step(f, y, h, ctx)
        out.append(y)
    return out


def _layered_ws(Z, loss, layers0, bk, h=H, steps=STEPS):
    """w_prod along dW_k/dτ = −∇_{W_k} log R, at τ = h, 2h, ..., steps·h."""
    shapes = [W.shape for W in layers0]

    def f(theta):
        return -flatten(evaluate(Z, loss, unflatten(theta, shapes), bk).grads)

    thetas = _integrate(f, flatten(layers0), h, steps, bk.ctx)
    return [product(unflatten(t, shapes)) for t in thetas], [unflatten(t, shapes) for t in thetas]


def _reduced_ws(Z, loss, w0, bk, *, coef=L - 1, power=None, h=H, steps=STEPS):
    """w along dw/dτ = −‖w‖^{2−2/L} (I + coef·wwᵀ/‖w‖²) ∇_w log R(w) (power: the exponent of ‖w‖²)."""
    ctx = bk.ctx
    power = ctx.mpf(L - 1) / L if power is None else power

    def f(w):
        g = evaluate(Z, loss, (w[None, :],), bk).grad_w  # ∇_w log R(w): a one-layer network
        nw2 = ctx.fdot(w.tolist(), w.tolist())
        wg = ctx.fdot(w.tolist(), g.tolist())
        return -ctx.power(nw2, power) * (g + coef * (wg / nw2) * w)

    return _integrate(f, w0, h, steps, ctx)


def _rel_gap(us, vs, bk):
    return max(float(bk.norm(u - v) / bk.norm(v)) for u, v in zip(us, vs))


def _balanced_start(Z, bk):
    """init_layers' balanced start (scale 1), made balanced to the working precision.

    The float64 layers are balanced only to ~1e-16 (rounded unit vectors and outer products), and
    that D ≈ 1e-16 makes the layered flow leave the reduced one at ≈ 1e-17 per unit τ (measured),
    which would mask everything below. So the directions are read off the float64 layers and the
    layers rebuilt in mpmath: u_0 = w_prod/‖w_prod‖, u_k = W_k u_{k−1}/‖W_k u_{k−1}‖ (u_L = ±1),
    W_k = u_k u_{k−1}ᵀ (singular value s = 1, ‖w‖ = 1), so D = 0 up to rounding at ~165 bits.
    """
    ctx = bk.ctx
    floats = init_layers("balanced", D, WIDTHS, 5, scale=1.0, mean_z=Z.mean(axis=0))
    u = bk.asarray(product(floats))
    u = u / bk.norm(u)
    layers = []
    for W in floats:
        v = bk.asarray(W) @ u
        v = v / bk.norm(v)
        layers.append(np.outer(v, u))
        u = v
    assert all(x == 1 or x == -1 for x in u) and ctx.prec > 150
    return tuple(layers)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_balanced_layered_flow_matches_reduced_flow_at_matched_time(loss):
    bk = Mpmath(DIGITS)
    Z = _problem()
    layers0 = _balanced_start(Z, bk)
    for k in range(L - 1):  # D = 0 at the start, to rounding
        assert float(bk.norm(layers0[k + 1].T @ layers0[k + 1] - layers0[k] @ layers0[k].T)) < 1e-45
    ws_layered, layers_path = _layered_ws(Z, loss, layers0, bk)
    ws_reduced = _reduced_ws(Z, loss, product(layers0), bk)

    # Non-trivial interval: w moved (direction and norm) and the margins stayed O(1..10).
    w0, wT = product(layers0), ws_layered[-1]
    assert float(bk.norm(wT - w0) / bk.norm(w0)) > 0.1
    assert float(max(abs(m) for m in Z @ wT)) < 10

    gap = _rel_gap(ws_layered, ws_reduced, bk)
    assert gap < TOL, f"layered vs reduced: {gap:.3e}"
    # The layered run stayed balanced (the premise of the reduction) to the same accuracy.
    Wf = layers_path[-1]
    for k in range(L - 1):
        Dk = Wf[k + 1].T @ Wf[k + 1] - Wf[k] @ Wf[k].T
        assert float(bk.norm(Dk)) < TOL


def test_integrator_truncation_error_is_far_below_tolerance():
    """Halving the macro step (same integrator, both systems) moves the solutions by ≪ TOL: the
    agreement above is not an artefact of a coarse step."""
    bk = Mpmath(DIGITS)
    Z = _problem()
    layers0 = _balanced_start(Z, bk)
    w0 = product(layers0)
    coarse = _reduced_ws(Z, EXP, w0, bk, steps=2)  # τ = 0.1, 0.2
    fine = _reduced_ws(Z, EXP, w0, bk, h=H / 2, steps=4)[1::2]
    assert _rel_gap(fine, coarse, bk) < TOL / 1e3
    coarse_l, _ = _layered_ws(Z, EXP, layers0, bk, steps=1)
    fine_l, _ = _layered_ws(Z, EXP, layers0, bk, h=H / 2, steps=2)
    assert _rel_gap(fine_l[1:], coarse_l, bk) < TOL / 1e3


def test_negative_controls_disagree():
    """The comparison can fail: an unbalanced start, or a wrong reduced flow, is off by ≫ TOL."""
    bk = Mpmath(DIGITS)
    Z = _problem()
    loss = EXP
    # (a) Gaussian (unbalanced, D ≠ 0) start: the layered flow does not follow the reduced flow from the same w0.
    g0 = tuple(bk.asarray(W) for W in init_layers("gaussian", D, WIDTHS, 5, scale=1.5, mean_z=Z.mean(axis=0)))
    ws_layered, _ = _layered_ws(Z, loss, g0, bk, steps=2)
    assert _rel_gap(ws_layered, _reduced_ws(Z, loss, product(g0), bk, steps=2), bk) > CONTROL_MIN
    # (b, c) Balanced start, wrong reduced flows: coefficient L instead of L − 1; exponent 2 − 1/L.
    layers0 = _balanced_start(Z, bk)
    w0 = product(layers0)
    ws_layered, _ = _layered_ws(Z, loss, layers0, bk, steps=2)
    assert _rel_gap(ws_layered, _reduced_ws(Z, loss, w0, bk, coef=L, steps=2), bk) > CONTROL_MIN
    wrong_power = bk.ctx.mpf(2 * L - 1) / (2 * L)  # ‖w‖^{2−1/L} = (‖w‖²)^{(2L−1)/(2L)}
    assert _rel_gap(ws_layered, _reduced_ws(Z, loss, w0, bk, power=wrong_power, steps=2), bk) > CONTROL_MIN
