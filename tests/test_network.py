"""Deep linear networks: shapes, the product, flatten/unflatten, initialisations, layer gradients."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import LOGISTIC
from aligncheck.numerics.metrics import balancedness, lemma2_D
from aligncheck.numerics.network import INITS, flatten, init_layers, layer_gradients, layer_shapes, product, unflatten
from aligncheck.numerics.risk import evaluate
from aligncheck.testing.strategies import depths, init_seeds, inits, planted_problems, widths

EPS = 2.0**-53  # unit roundoff of float64


@st.composite
def networks(draw, max_depth: int = 5, max_width: int = 4, kinds=None, scales=(1e-3, 0.5, 1.0, 3.0, 1e3)):
    """(d, widths, layers, kind, seed, scale) with depth 1..max_depth and widths 1..max_width."""
    d = draw(st.integers(min_value=1, max_value=5))
    L = draw(depths(1, max_depth))
    ws = draw(widths(d, L, max_width=max_width))
    kind = draw(inits() if kinds is None else st.sampled_from(kinds))
    seed = draw(init_seeds())
    scale = draw(st.sampled_from(scales))
    return d, ws, init_layers(kind, d, ws, seed, scale=scale), kind, seed, scale


# --------------------------------------------------------------------------- shapes and product


def test_layer_shapes_examples():
    assert layer_shapes(3, []) == [(1, 3)]  # L = 1: a linear predictor
    assert layer_shapes(3, [4, 1, 2]) == [(4, 3), (1, 4), (2, 1), (1, 2)]  # with a width-1 bottleneck
    assert layer_shapes(1, [1]) == [(1, 1), (1, 1)]
    assert layer_shapes(2, (np.int64(5),)) == [(5, 2), (1, 5)]


@pytest.mark.parametrize("d, ws", [(0, [2]), (3, [0]), (3, [2, -1]), (-1, [])])
def test_layer_shapes_rejects_non_positive(d, ws):
    with pytest.raises(ProblemError, match="positive integers"):
        layer_shapes(d, ws)


def test_layer_shapes_rejects_non_integer_width():
    with pytest.raises(ProblemError):
        layer_shapes(3, [2.5])


@settings(max_examples=40, deadline=None)
@given(networks())
def test_product_is_the_chain_of_layers(net):
    d, ws, layers, *_ = net
    w = product(layers)
    assert w.shape == (d,)
    # Reference: the chain multiplied in the opposite order, W_L (W_{L−1} (⋯ W_1)); the two orders
    # round differently, by at most (L·max width)·eps·∏‖W_k‖_F (standard matmul error bound).
    ref = reduce(lambda acc, W: W @ acc, layers[1:], layers[0])
    assert ref.shape == (1, d)
    bound = 4 * len(layers) * (max([d, *ws]) + 1) * EPS * math.prod(np.linalg.norm(W) for W in layers)
    assert np.max(np.abs(w - ref[0])) <= bound


def test_product_hand_example():
    W1 = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])  # 3×2
    W2 = np.array([[2.0, 0.0, 1.0]])  # 1×3
    assert np.array_equal(product((W1, W2)), np.array([5.0, 3.0]))  # (W2 W1)^T, exact in float
    assert np.array_equal(product((W2[:, :2].copy(),)), np.array([2.0, 0.0]))  # L = 1


# --------------------------------------------------------------------------- flatten / unflatten


@settings(max_examples=40, deadline=None)
@given(networks())
def test_flatten_unflatten_round_trip(net):
    _, _, layers, *_ = net
    shapes = [W.shape for W in layers]
    theta = flatten(layers)
    assert theta.shape == (sum(W.size for W in layers),)
    back = unflatten(theta, shapes)
    assert len(back) == len(layers)
    for A, B in zip(layers, back):
        assert A.shape == B.shape and np.array_equal(A, B)
    assert np.array_equal(flatten(back), theta)


def test_flatten_order_is_row_major_w1_first():
    W1 = np.arange(6.0).reshape(2, 3)
    W2 = np.array([[10.0, 11.0]])
    theta = flatten((W1, W2))
    assert np.array_equal(theta, [0, 1, 2, 3, 4, 5, 10, 11])
    back = unflatten(theta, [(2, 3), (1, 2)])
    theta[0] = -7.0  # documented as views into theta
    assert back[0][0, 0] == -7.0


# --------------------------------------------------------------------------- initialisations


@settings(max_examples=40, deadline=None)
@given(networks(kinds=["balanced"]))
@example((1, [], init_layers("balanced", 1, [], 0), "balanced", 0, 1.0))
def test_balanced_init_is_balanced_and_rank_one(net):
    d, ws, layers, _, _, scale = net
    L = len(layers)
    # W_k = c·u_k u_{k−1}^T with unit u's: each entry of W_{k+1}^T W_{k+1} and W_k W_k^T is c²
    # times a product of a few rounded unit-vector entries, so Δ_k vanishes up to a few
    # roundings of numbers ≤ c²; 16·eps·c² bounds that (norms of rounded unit vectors are 1 ± 2eps).
    for Dk in balancedness(layers):
        assert np.max(np.abs(Dk)) <= 16 * EPS * scale**2
    # D = max_k F_k² − F_L² + Σ ‖Δ_k‖_2: every term is a rounding of size eps·c², at most
    # 2L + 1 of them (each ‖Δ_k‖_2 ≤ its Frobenius norm ≤ width·max entry).
    assert 0.0 <= lemma2_D(layers) <= 16 * (2 * L + 1) * (max([d, *ws]) + 1) * EPS * scale**2
    for W in layers:
        s = np.linalg.svd(W, compute_uv=False)
        # ‖W_k‖_F = c and rank one: σ_2 is a rounding error of the outer product (LAPACK's
        # backward error ~ (size)·eps·σ_1).
        assert s[0] == pytest.approx(scale, rel=8 * EPS)
        if s.size > 1:
            assert s[1] <= 16 * max(W.shape) * EPS * s[0]
    assert np.linalg.norm(product(layers)) == pytest.approx(scale**L, rel=8 * L * EPS)


@settings(max_examples=30, deadline=None)
@given(networks(kinds=["w1zero"]), st.data())
def test_w1zero_init(net, data):
    d, ws, layers, _, seed, scale = net
    assert not np.any(layers[0])  # W_1 = 0 exactly
    # The other layers are the Gaussian ones of the same seed (no sign flip: w_prod = 0).
    ref = init_layers("gaussian", d, ws, seed, scale=scale)
    for A, B in zip(layers[1:], ref[1:]):
        assert np.array_equal(A, B)
    Z = data.draw(planted_problems(d=d)).Z
    ev = evaluate(Z, LOGISTIC, layers)
    # R(W(0)) = ℓ(0) exactly (A1.2 with equality): every margin is exactly 0, and log R is
    # log(log 2) up to the loss's own few-eps rounding.
    assert not np.any(ev.margins)
    assert float(ev.log_risk) == pytest.approx(math.log(math.log(2.0)), abs=4 * EPS)
    if len(layers) > 1:
        upper = reduce(lambda acc, W: W @ acc, layers[2:], layers[1])  # W_L ⋯ W_2
        if np.any(upper) and np.any(Z.mean(axis=0)):
            assert np.any(flatten(ev.grads))  # ∇R ≠ 0 (A1.2)


@settings(max_examples=30, deadline=None)
@given(networks(kinds=["gaussian"]))
def test_gaussian_init_is_seeded_and_reproducible(net):
    d, ws, layers, _, seed, scale = net
    again = init_layers("gaussian", d, ws, seed, scale=scale)
    other = init_layers("gaussian", d, ws, (seed + 1) % 2**32, scale=scale)
    assert all(np.array_equal(A, B) for A, B in zip(layers, again))
    assert not all(np.array_equal(A, B) for A, B in zip(layers, other))
    assert [W.shape for W in layers] == layer_shapes(d, ws)


def test_gaussian_init_variance():
    # Entries N(0, scale²/d_{k−1}): with N ≥ 40,000 entries per layer the sample variance has
    # relative standard deviation sqrt(2/N) ≤ 0.007, so 0.05 is > 7 standard deviations (and the
    # seed is fixed, so the test is deterministic); a wrong normalisation (1/d_k, 1/sqrt(d)) is off
    # by a factor ≥ 2.
    scale = 2.5
    layers = init_layers("gaussian", 400, [200, 300], seed=3, scale=scale)
    for W in layers[:2]:
        var = float(np.mean(W**2))
        assert var == pytest.approx(scale**2 / W.shape[1], rel=0.05)
        assert abs(float(np.mean(W))) <= 5 * math.sqrt(var / W.size)


@settings(max_examples=60, deadline=None)
@given(networks(kinds=["gaussian", "balanced"]), st.integers(0, 2**32 - 1))
def test_mean_margin_sign_convention(net, zseed):
    d, ws, layers, kind, seed, scale = net
    mean_z = np.random.default_rng(zseed).standard_normal(d)
    signed = init_layers(kind, d, ws, seed, scale=scale, mean_z=mean_z)
    # Only the sign of W_L may change, and then ⟨w_prod, mean z⟩ ≥ 0.
    for A, B in zip(layers[:-1], signed[:-1]):
        assert np.array_equal(A, B)
    flipped = float(product(layers) @ mean_z) < 0
    assert np.array_equal(signed[-1], -layers[-1] if flipped else layers[-1])
    assert float(product(signed) @ mean_z) >= 0


def test_mean_margin_sign_convention_flips_sometimes():
    # The convention does something: over seeds, both signs occur without mean_z.
    mean_z = np.array([1.0, -2.0, 0.5])
    signs = {np.sign(float(product(init_layers("gaussian", 3, [2], s)) @ mean_z)) for s in range(20)}
    assert signs == {-1.0, 1.0}


@pytest.mark.parametrize(
    "kind, scale", [("uniform", 1.0), ("gaussian", 0.0), ("balanced", -1.0), ("w1zero", math.nan), ("gaussian", math.inf)]
)
def test_init_rejects_bad_options(kind, scale):
    with pytest.raises(ProblemError):
        init_layers(kind, 3, [2], 0, scale=scale)


def test_init_kinds_listed():
    assert set(INITS) == {"gaussian", "balanced", "w1zero"}


# --------------------------------------------------------------------------- layer gradients

# Central differences with step h: truncation h²·|f'''|/6 ≈ 1e-10·O(1..10) plus cancellation
# eps·|f|/h ≈ 1e-11. Measured worst (200 random networks, depth 1..5): 5e-11 relative to
# max(1, max|grad|). A wrong factor, transpose or missing layer is off by O(0.1..1).
FD_STEP = 1e-5
FD_TOL = 1e-8


def central_difference(f, theta, h=FD_STEP):
    out = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        out[j] = (f(theta + e) - f(theta - e)) / (2 * h)
    return out


def smooth_function(d, fseed):
    """A smooth non-linear F(w) and its gradient (random linear + quadratic + sin term)."""
    rng = np.random.default_rng(fseed)
    c = rng.standard_normal(d)
    A = rng.standard_normal((d, d))
    A = (A + A.T) / 2

    def F(w):
        return float(c @ w + 0.5 * w @ A @ w + math.sin(w[0]))

    def gradF(w):
        g = c + A @ w
        g[0] += math.cos(w[0])
        return g

    return F, gradF


@settings(max_examples=30, deadline=None)
@given(networks(scales=(0.5, 1.0)), st.integers(0, 2**32 - 1))
@example((3, [1, 2], init_layers("gaussian", 3, [1, 2], 5), "gaussian", 5, 1.0), 0)  # width-1 bottleneck
def test_layer_gradients_match_finite_differences(net, fseed):
    d, ws, layers, *_ = net
    F, gradF = smooth_function(d, fseed)
    shapes = [W.shape for W in layers]
    theta = flatten(layers).astype(float)
    grads = layer_gradients(layers, gradF(product(layers)))
    assert [G.shape for G in grads] == shapes
    g = flatten(grads)
    fd = central_difference(lambda t: F(product(unflatten(t, shapes))), theta)
    assert np.max(np.abs(fd - g)) <= FD_TOL * max(1.0, float(np.max(np.abs(g))))


@settings(max_examples=30, deadline=None)
@given(networks(), st.integers(0, 2**32 - 1))
def test_layer_gradients_match_the_explicit_formula(net, fseed):
    # The exact formula of claims.md, with explicit products, at any scale (1e-3 .. 1e3):
    # ∂f/∂W_k = W_{k+1}^T ⋯ W_L^T g^T W_1^T ⋯ W_{k−1}^T.
    d, ws, layers, *_ = net
    g = smooth_function(d, fseed)[1](product(layers))
    grads = layer_gradients(layers, g)
    L = len(layers)
    for k in range(L):
        left = reduce(lambda acc, W: acc @ W.T, layers[k + 1 :], np.eye(layers[k].shape[0]))
        right = reduce(lambda acc, W: acc @ W.T, layers[:k], g[None, :])
        ref = left @ right
        assert grads[k].shape == ref.shape == layers[k].shape
        # Two association orders of the same product: rounding ≤ (L·width)·eps·‖g‖·∏_{j≠k}‖W_j‖_F.
        size = np.linalg.norm(g) * math.prod(np.linalg.norm(W) for j, W in enumerate(layers) if j != k)
        assert np.max(np.abs(grads[k] - ref)) <= 8 * L * (max([d, *ws]) + 1) * EPS * size
