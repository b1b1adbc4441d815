"""Certified bounds (issue 4): the finite-time claims evaluated in ball arithmetic.

For gf.lemma2_rank_bound, gf.lemma2_alignment_bound and gd.descent at one checkpoint, every
quantity is enclosed in python-flint's arb balls, starting from the EXACT values of the given
arrays (float64 and mpmath mpf entries are binary rationals; :func:`to_arb` converts them
without rounding). Each claim is written as a slack s with "the inequality holds ⇔ s ≥ 0":

- gf.lemma2_rank_bound, per layer k:  s_k = D − (‖W_k‖_F² − ‖W_k‖_2²), D = Lemma 2's constant
  of the initial layers (aligncheck.numerics.metrics.lemma2_D), D = max_j ‖W_j(0)‖_F² − ‖W_L(0)‖_F²
  + Σ_{j<L} ‖W_j(0)W_j(0)ᵀ − W_{j+1}(0)ᵀW_{j+1}(0)‖_2;
- gf.lemma2_alignment_bound, per pair (k, k+1):  s_k = b_k − (1 − ⟨v_{k+1}, u_k⟩²) with
  b_k = (D + ‖W_{k+1}(0)‖_2² + ‖W_k(0)‖_2²)/‖W_{k+1}(t)‖_2², the same inequality as
  ⟨v_{k+1}, u_k⟩² ≥ 1 − b_k, written with both sides small so that nothing cancels;
- gd.descent:  s = R(W(t)) − R(W(t+1)) − (η_t/2)‖∇R(W(t))‖², R the MEAN loss over the rows of Z,
  ∇ over every layer entry (Frobenius norm over all layers).

A :class:`Certificate` is "certified" when the whole enclosure of s lies in [0, ∞) (for every
layer), "refuted" when it lies in (−∞, 0) (for some layer: a certified violation), and
"uncertain" otherwise. The enclosures are about the arrays exactly as given: a float64 iterate
W(t+1) = fl(W(t) − η∇R) carries its rounding into the certificate.

Bounds used (A symmetric n×n, x ≠ 0 any vector, μ = xᵀAx/xᵀx, r = Ax − μx, ε = ‖r‖/‖x‖,
λ_1 ≥ λ_2 ≥ … its eigenvalues, v_1 a unit top eigenvector):

1. λ_1 ≥ μ (Rayleigh), and λ_1 ≥ trace(A)/n.
2. λ_2 ≤ a := ‖PAP‖_F, P = I − xxᵀ/xᵀx (Courant–Fischer: λ_2 ≤ max_{y⊥x} yᵀAy/yᵀy ≤ λ_max(PAP)
   ≤ ‖PAP‖_F). Where that does not separate (μ ≤ a), a is sharpened recursively: the upper bound
   of 3. applied to PAP with the next approximate eigenvector.
3. If μ > a ≥ λ_2 (Temple / Kato–Temple): λ_1 ≤ μ + ε²/(μ − a). Proof: with x/‖x‖ = Σ c_i v_i,
   Σ c_i²(λ_i − a)(λ_i − λ_1) ≥ 0 (the i = 1 term is 0, the others have two factors ≤ 0), and
   that sum equals ε² + (μ − a)(μ − λ_1). Otherwise only λ_1 ≤ ‖A‖_F.
4. If μ > a ≥ λ_2 (a residual / Davis–Kahan sin θ bound): sin∠(x, v_1) ≤ ε/(μ − a), since
   ε² = Σ c_i²(λ_i − μ)² ≥ (μ − a)² Σ_{i≥2} c_i². In particular λ_1 is then simple and v_1 is
   defined up to sign.
5. Angles between lines, ∠(a, b) = arccos|⟨a, b⟩|/(‖a‖‖b‖) ∈ [0, π/2], obey the triangle
   inequality (a metric on projective space). With x ≈ v_{k+1}, y ≈ u_k, θ_x, θ_y the angle
   bounds of 4. and φ = ∠(x, y) (formed as 2·atan2(‖x̂ − sŷ‖, ‖x̂ + sŷ‖), no cancellation):
   ψ = ∠(v_{k+1}, u_k) ∈ [max(0, φ − θ_x − θ_y), min(π/2, φ + θ_x + θ_y)], and
   1 − ⟨v_{k+1}, u_k⟩² = sin²ψ lies between the sines squared of the ends (sin² increases on
   [0, π/2]). Where a top singular value is not certified simple, sin²ψ ∈ [0, 1] only: the
   claim is then still certified when b_k ≥ 1 (always so at t = 0).

‖W‖_2² = λ_1(WᵀW) = λ_1(WWᵀ) uses the smaller Gram matrix; ‖Δ‖_2 for the symmetric Δ of D is
√λ_1(Δ²). The approximate eigenvectors x come from mpmath's eigsy at the working precision (in
a private context); they only need to be good, not exact: every bound above is valid for any x.

Precision: everything runs at ``prec`` bits (default 128) of flint's GLOBAL context, set for the
call and restored after it (also on errors). An uncertain result is recomputed at 2× and 4×
``prec`` (``max_raises`` = 2): wider precision tightens both the balls and the approximate
eigenvectors. An inequality that holds with equality stays uncertain at every precision (or
certified, where the enclosure happens to be exact). flint's context is process-wide, so these
functions are not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from flint import arb, arb_mat

from aligncheck.errors import ProblemError
from aligncheck.numerics.balls import (
    NEG_INF,
    POS_INF,
    approx_eigvecs,
    check_prec,
    ball_dot,
    float_down,
    float_up,
    frob_sq,
    upper_end,
    lower_end,
    ball_matrix,
    ball_max,
    ball_min,
    spectral_sq,
    TopEigen,
    top_eigen,
    working_precision,
    to_arb,
)
from aligncheck.numerics.network import Layers

CERTIFIED = "certified"
REFUTED = "refuted"
UNCERTAIN = "uncertain"

DEFAULT_PREC = 128  # bits: float64 products and sums of a few dozen terms stay (nearly) exact
MAX_RAISES = 2  # an uncertain result is retried at 2× and 4× the precision


@dataclass(frozen=True)
class Certificate:
    """The verdict of ball arithmetic on one claim at one checkpoint.

    ``lower``/``upper``: an outward-rounded float enclosure of the slack s (module docstring;
    the claim holds ⇔ s ≥ 0) of the deciding layer ``layer`` (1-based k; the pair (k, k+1) for
    the alignment bound; None for gd.descent). The deciding layer is the first refuted one with
    the smallest upper end, else the one with the smallest lower end. ``per_layer``: (lower,
    upper) for every k. ``prec``: bits of the attempt that decided (the last one tried).
    """

    claim: str
    status: str
    lower: float
    upper: float
    prec: int
    detail: str
    layer: int | None = None
    per_layer: tuple[tuple[float, float], ...] = ()

    @property
    def digits(self) -> int:
        """The working precision in decimal digits."""
        return int(self.prec * math.log10(2.0))


# ---------------------------------------------------------------- exact conversion and precision


def _escalate(compute: Callable[[int], Certificate], prec: int, max_raises: int) -> Certificate:
    """compute(p) at p = prec, 2·prec, 4·prec, … until it is not uncertain (at most max_raises raises)."""
    check_prec(prec, max_raises)
    tried = []
    for attempt in range(int(max_raises) + 1):
        p = int(prec) << attempt
        tried.append(p)
        with working_precision(p):
            cert = compute(p)
        if cert.status != UNCERTAIN:
            break
    return replace(cert, detail=f"{cert.detail} [precision tried: {', '.join(map(str, tried))} bits]")


# ---------------------------------------------------------------- endpoints and floats


def _status(lo: arb, hi: arb) -> str:
    if lo >= 0:
        return CERTIFIED
    if hi < 0:
        return REFUTED
    return UNCERTAIN


def _fmt(lo: arb, hi: arb) -> str:
    return f"[{float_down(lo):.9g}, {float_up(hi):.9g}]"


# ---------------------------------------------------------------- eigenvalue enclosures


def _lemma2_D(layers0: list[arb_mat], prec: int) -> tuple[arb, arb, list[TopEigen]]:
    """(lo, hi) of D = max_k ‖W_k(0)‖_F² − ‖W_L(0)‖_F² + Σ_{k<L} ‖Δ_k‖_2, and ‖W_k(0)‖_2² per k."""
    F2 = [frob_sq(W) for W in layers0]
    top = F2[0]
    for f in F2[1:]:
        top = top.max(f)
    lo, hi = lower_end(top - F2[-1]), upper_end(top - F2[-1])
    lo = ball_max(lo, arb(0))  # max_k F_k² ≥ F_L²
    for Wk, Wk1 in zip(layers0[:-1], layers0[1:]):
        Dk = Wk * Wk.transpose() - Wk1.transpose() * Wk1
        t = top_eigen(Dk * Dk, approx_eigvecs(Dk, prec, by_abs=True))  # ‖Δ‖_2² = λ_1(Δ²)
        lo = lower_end(lo + lower_end(ball_max(t.lo, arb(0)).sqrt()))
        hi = upper_end(hi + upper_end(ball_max(t.hi, arb(0)).sqrt()))
    return lo, hi, [spectral_sq(W, prec) for W in layers0]


# ---------------------------------------------------------------- input checks


def _check_chain(layers: Layers, what: str) -> None:
    if len(layers) == 0:
        raise ProblemError(f"{what}: at least one layer is needed")
    shapes = [np.shape(W) for W in layers]
    if any(len(s) != 2 for s in shapes):
        raise ProblemError(f"{what}: every layer must be a 2-D array, got shapes {shapes}")
    for k in range(len(shapes) - 1):
        if shapes[k + 1][1] != shapes[k][0]:
            raise ProblemError(f"{what}: W_{k + 2} has {shapes[k + 1][1]} columns but W_{k + 1} has {shapes[k][0]} rows")
    if shapes[-1][0] != 1:
        raise ProblemError(f"{what}: W_L must have one row, got shape {shapes[-1]}")


def _check_same(layers: Layers, other: Layers, what: str) -> None:
    _check_chain(layers, "layers")
    if [np.shape(W) for W in layers] != [np.shape(W) for W in other]:
        raise ProblemError(f"{what} have shapes {[np.shape(W) for W in other]}, the layers {[np.shape(W) for W in layers]}")


def _aggregate(claim: str, per: list[tuple[arb, arb, str]], prec: int, first_k: int = 1) -> Certificate:
    """One certificate from per-layer (lo, hi, description) slack enclosures."""
    stats = [_status(lo, hi) for lo, hi, _ in per]
    if REFUTED in stats:
        status = REFUTED
        j = min((i for i, s in enumerate(stats) if s == REFUTED), key=lambda i: per[i][1])
    else:
        status = CERTIFIED if all(s == CERTIFIED for s in stats) else UNCERTAIN
        j = min(range(len(per)), key=lambda i: per[i][0])
    lo, hi, desc = per[j]
    return Certificate(
        claim=claim,
        status=status,
        lower=float_down(lo),
        upper=float_up(hi),
        prec=prec,
        detail=f"{status} at k={j + first_k}: {desc}; slack {_fmt(lo, hi)}",
        layer=j + first_k,
        per_layer=tuple((float_down(a), float_up(b)) for a, b, _ in per),
    )


# ---------------------------------------------------------------- the claims


def certify_rank_bound(layers: Layers, layers0: Layers, *, prec: int = DEFAULT_PREC, max_raises: int = MAX_RAISES) -> Certificate:
    """gf.lemma2_rank_bound at one checkpoint: ‖W_k‖_F² − ‖W_k‖_2² ≤ D for every k.

    ``layers``: W(t), ``layers0``: W(0) (D is formed from them), each W_k of shape (d_k, d_{k−1}),
    W_L of shape (1, d_{L−1}); float64 or object arrays of mpf. Slack s_k = D − (‖W_k‖_F² − ‖W_k‖_2²):
    ‖W_k‖_2² is bounded below by a Rayleigh quotient (so s_k from below) and above by Temple's bound.
    """
    _check_same(layers, layers0, "the initial layers")
    _check_chain(layers0, "initial layers")

    def compute(p: int) -> Certificate:
        Ws, W0s = [ball_matrix(W) for W in layers], [ball_matrix(W) for W in layers0]
        D_lo, D_hi, _ = _lemma2_D(W0s, p)
        per = []
        for W in Ws:
            top = spectral_sq(W, p)
            F2 = frob_sq(W)
            off_lo = ball_max(lower_end(F2 - top.hi), arb(0))  # ‖W‖_F² ≥ ‖W‖_2²
            off_hi = upper_end(F2 - top.lo)
            per.append((lower_end(D_lo - off_hi), upper_end(D_hi - off_lo), f"‖W_k‖_F² − ‖W_k‖_2² ∈ {_fmt(off_lo, off_hi)}, D ∈ {_fmt(D_lo, D_hi)}"))
        return _aggregate("gf.lemma2_rank_bound", per, p)

    return _escalate(compute, prec, max_raises)


def _sin2_interval(topB: TopEigen, topA: TopEigen) -> tuple[arb, arb, str]:
    """Enclosure of sin²∠(v_1(B), v_1(A)) from the approximate top eigenvectors (bound 5 of the module)."""
    if topB.sin is None or topA.sin is None:
        return arb(0), arb(1), "a top singular value is not certified simple: sin²ψ ∈ [0, 1]"
    x, y = topB.x, topA.x
    xh, yh = x / ball_dot(x, x).sqrt(), y / ball_dot(y, y).sqrt()
    s = 1 if ball_dot(xh, yh).mid() >= 0 else -1
    d, e = xh - yh * s, xh + yh * s
    phi = 2 * arb.atan2(ball_dot(d, d).sqrt(), ball_dot(e, e).sqrt())
    half_pi = arb.pi() / 2
    phi = phi.min(2 * half_pi - phi)  # the angle between the lines, whichever sign s was taken
    th = [ball_min(t.sin, arb(1)).asin() for t in (topB, topA)]  # arcsin is increasing
    up, down = phi + th[0] + th[1], phi - th[0] - th[1]
    hi = ball_min(upper_end(up.sin() ** 2), arb(1)) if up < half_pi else arb(1)
    lo = ball_max(lower_end(down.sin() ** 2), arb(0)) if down > 0 else arb(0)
    return lo, hi, f"angle(x, y) = {float(phi):.6g}, sin∠ bounds {float_up(topB.sin):.3g}, {float_up(topA.sin):.3g}"


def certify_alignment_bound(layers: Layers, layers0: Layers, *, prec: int = DEFAULT_PREC, max_raises: int = MAX_RAISES) -> Certificate:
    """gf.lemma2_alignment_bound at one checkpoint: for k < L,
    ⟨v_{k+1}, u_k⟩² ≥ 1 − (D + ‖W_{k+1}(0)‖_2² + ‖W_k(0)‖_2²)/‖W_{k+1}(t)‖_2².

    Shapes as in :func:`certify_rank_bound`; v_{k+1} is the top right singular vector of W_{k+1}(t)
    (top eigenvector of W_{k+1}ᵀW_{k+1}), u_k the top left one of W_k(t) (of W_kW_kᵀ), both in
    R^{d_k}. Slack s_k = b_k − sin²ψ, b_k the fraction above, ψ = ∠(v_{k+1}, u_k). L = 1: no pair,
    certified vacuously.
    """
    _check_same(layers, layers0, "the initial layers")
    _check_chain(layers0, "initial layers")
    if len(layers) == 1:
        check_prec(prec, max_raises)
        return Certificate("gf.lemma2_alignment_bound", CERTIFIED, math.inf, math.inf, int(prec), "L = 1: no adjacent layers (vacuous)")

    def compute(p: int) -> Certificate:
        Ws, W0s = [ball_matrix(W) for W in layers], [ball_matrix(W) for W in layers0]
        D_lo, D_hi, spec0 = _lemma2_D(W0s, p)
        per = []
        for k in range(len(Ws) - 1):
            topB = spectral_sq(Ws[k + 1], p, "right")
            topA = spectral_sq(Ws[k], p, "left")
            C_lo = lower_end(D_lo + spec0[k + 1].lo + spec0[k].lo)
            C_hi = upper_end(D_hi + spec0[k + 1].hi + spec0[k].hi)
            # b = C/σ²_{k+1}(t): σ² ∈ [lo, hi]; a 0 in it leaves the bound unbounded above.
            if topB.lo > 0:
                b_lo, b_hi = lower_end(C_lo / topB.hi), upper_end(C_hi / topB.lo)
            elif topB.hi > 0:
                b_lo, b_hi = lower_end(C_lo / topB.hi), POS_INF
            else:  # W_{k+1}(t) = 0: 1 − C/0 is −∞ (holds) for C > 0, undefined for C = 0
                b_lo, b_hi = (POS_INF if C_lo > 0 else NEG_INF), POS_INF
            s_lo, s_hi, how = _sin2_interval(topB, topA)
            per.append((lower_end(b_lo - s_hi), upper_end(b_hi - s_lo), f"1 − ⟨v_(k+1), u_k⟩² ∈ {_fmt(s_lo, s_hi)} ({how}), bound ∈ {_fmt(b_lo, b_hi)}"))
        return _aggregate("gf.lemma2_alignment_bound", per, p)

    return _escalate(compute, prec, max_raises)


def _risk_and_grad_sq(Z: arb_mat, loss: str, layers: list[arb_mat], grad: bool) -> tuple[arb, arb | None]:
    """R(W) = (1/n) Σ ℓ(⟨w_prod, z_i⟩) and, if ``grad``, ‖∇R(W)‖² over all layers.

    ∂R/∂W_k = a_k b_kᵀ with a_k = (W_L ⋯ W_{k+1})ᵀ and b_k = W_{k−1} ⋯ W_1 g, g = (1/n) Σ ℓ'(m_i) z_i
    (aligncheck.numerics.network.layer_gradients), so ‖∂R/∂W_k‖_F² = ‖a_k‖²‖b_k‖².
    """
    w = layers[-1]
    for W in reversed(layers[:-1]):
        w = w * W  # 1×d: w_prod as a row
    m = Z * w.transpose()
    n = Z.nrows()
    ells, dells = [], []
    for i in range(n):
        mi = m[i, 0]
        if loss == "exp":
            e = (-mi).exp()
            ells.append(e)
            dells.append(-e)
        else:  # logistic: ℓ = log(1 + e^{−m}), ℓ' = −1/(1 + e^{m})
            ells.append((-mi).exp().log1p())
            dells.append(-1 / (1 + mi.exp()))
    R = sum(ells, arb(0)) / n
    if not grad:
        return R, None
    g = Z.transpose() * arb_mat([[v] for v in dells]) / n  # d×1
    b = [g]
    for W in layers[:-1]:
        b.append(W * b[-1])
    a = [arb_mat([[arb(1)]])]
    for W in reversed(layers[1:]):
        a.insert(0, W.transpose() * a[0])
    return R, sum((ball_dot(ak, ak) * ball_dot(bk, bk) for ak, bk in zip(a, b)), arb(0))


def certify_descent(Z: np.ndarray, loss_name: str, layers: Layers, next_layers: Layers, eta: float, *, prec: int = DEFAULT_PREC, max_raises: int = MAX_RAISES) -> Certificate:
    """gd.descent at one GD step: R(W(t+1)) − R(W(t)) ≤ −(η/2)‖∇R(W(t))‖².

    ``Z``: (n, d), rows z_i = y_i x_i; ``loss_name``: "exp" or "logistic" (a aligncheck.numerics.losses.Loss is
    accepted too); ``layers`` W(t) and ``next_layers`` W(t+1) with W_1 of shape (d_1, d); ``eta``:
    η_t (exact value of the float). R is the MEAN of ℓ(⟨w_prod, z_i⟩), the gradient is recomputed in
    balls (not taken from the caller), and W(t+1) is taken as given, rounding included.
    Slack s = R(W(t)) − R(W(t+1)) − (η/2)‖∇R(W(t))‖².
    """
    name = getattr(loss_name, "name", loss_name)
    if name not in ("exp", "logistic"):
        raise ProblemError(f"certify_descent supports the exp and logistic losses, got {name!r}")
    _check_same(layers, next_layers, "the next layers")
    Zarr = np.asarray(Z)
    if Zarr.ndim != 2 or Zarr.shape[0] == 0 or Zarr.shape[1] != np.shape(layers[0])[1]:
        raise ProblemError(f"Z must have shape (n ≥ 1, {np.shape(layers[0])[1]}), got {Zarr.shape}")
    eta_exact = to_arb(eta)

    def compute(p: int) -> Certificate:
        Zb = ball_matrix(Zarr)
        R0, G2 = _risk_and_grad_sq(Zb, name, [ball_matrix(W) for W in layers], True)
        R1, _ = _risk_and_grad_sq(Zb, name, [ball_matrix(W) for W in next_layers], False)
        s = R0 - R1 - eta_exact * G2 / 2
        lo, hi = lower_end(s), upper_end(s)
        status = _status(lo, hi)
        detail = (f"{status}: R(t) = {float(R0):.12g}, R(t+1) = {float(R1):.12g}, (η/2)‖∇R‖² = {float(eta_exact * G2 / 2):.6g} "
                  f"(η = {float(eta_exact):.6g}); slack {_fmt(lo, hi)}")
        return Certificate("gd.descent", status, float_down(lo), float_up(hi), p, detail)

    return _escalate(compute, prec, max_raises)
