"""The empirical risk of a network on data, and its gradient with respect to every layer.

R(W) = (1/n) Σ_i ℓ(⟨w_prod, z_i⟩), a MEAN over points, z_i = y_i x_i (rows of Z, shape (n, d)).
Everything is returned in the log domain: log R, and the layer gradients of log R
(∇R = R · ∇log R, the same direction), so the late phase neither overflows nor underflows.
Every function takes a backend ``bk``: the layers are arrays of it (float64, or mpf object arrays
from ``bk.asarray``; Z may stay float64, its products with mpf are formed at the mpf precision),
and the results are of the same kind (log R a float64 or an mpf scalar).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aligncheck.numerics.backends import FLOAT64, Backend, logsumexp
from aligncheck.numerics.losses import Loss, log_sum_and_weights
from aligncheck.numerics.network import Layers, layer_gradients, left_vectors, product


@dataclass(frozen=True)
class RiskEval:
    """log R, the gradient of log R in w (shape (d,)) and per layer, w_prod, the margins (n,) and
    log Σ_i ℓ(m_i) (= log R + log n, as computed before the division by n)."""

    log_risk: object
    grad_w: np.ndarray
    grads: list[np.ndarray]
    w_prod: np.ndarray
    margins: np.ndarray
    log_sum: object = None


def evaluate(Z: np.ndarray, loss: Loss, layers: Layers, bk: Backend = FLOAT64) -> RiskEval:
    """log R(W) and ∇_{W_k} log R(W) for every k (∂R/∂W_k = R · grads[k])."""
    w = product(layers)
    m = Z @ w
    lse, q = log_sum_and_weights(loss, m, bk)
    g = -(q @ Z)
    return RiskEval(lse - bk.log(len(m)), g, layer_gradients(layers, g), w, m, lse)


def log_risk_of_margins(loss: Loss, m: np.ndarray, bk: Backend = FLOAT64) -> object:
    """log R from the margins m (n,): the part of :func:`evaluate` that needs no weights or
    gradients, the same bits as evaluate's log_risk (it skips an exp over the n points and the
    n·d product q·Z, half the cost of a high-precision evaluation)."""
    return logsumexp(bk, loss.log_ell(m, bk)) - bk.log(len(m))


def risk_gradients(Z: np.ndarray, loss: Loss, layers: Layers, bk: Backend = FLOAT64) -> list[np.ndarray]:
    """∂R/∂W_k for every k (the plain gradient; use only where R is representable)."""
    ev = evaluate(Z, loss, layers, bk)
    r = bk.exp(np.atleast_1d(ev.log_risk))[0]
    return [r * G for G in ev.grads]


def hessian(Z: np.ndarray, loss: Loss, layers: Layers, bk: Backend = FLOAT64, ev: RiskEval | None = None) -> np.ndarray:
    """∇²_θ log R(W), shape (N, N), θ = all layers flattened row-major with W_1 first (N parameters).

    ∇²_θ log R = J^T H_w J + T, where J = ∂w_prod/∂θ (d × N), H_w = ∇²_w log R =
    Z^T diag(r) Z − g g^T with r_i = ℓ''(m_i)/Σ_j ℓ(m_j) and g = ∇_w log R, and T is the Hessian of
    the multilinear map θ ↦ ⟨w_prod(θ), g⟩ at fixed g (zero on the diagonal blocks). Exact (no
    finite differences), so it stays correct when margins are so large that a finite-difference
    step would move the softmax weights. ``ev``: ``evaluate(Z, loss, layers, bk)``, if the caller
    already has it (the same bits as recomputing it).
    """
    ev = evaluate(Z, loss, layers, bk) if ev is None else ev
    r = hessian_weights(loss, ev, bk)
    if getattr(bk, "arb_kernels", False):  # the same formulas on arb numbers (C), ~10x faster than on mpf
        with bk.arb_precision():
            return bk.from_arb(hessian_terms(bk.to_arb(Z), tuple(bk.to_arb(W) for W in layers), bk.to_arb(r), bk.to_arb(ev.grad_w)))
    return hessian_terms(Z, layers, r, ev.grad_w)


def hessian_weights(loss: Loss, ev: RiskEval, bk: Backend = FLOAT64) -> np.ndarray:
    """r_i = ℓ''(m_i)/Σ_j ℓ(m_j) (n,), the point weights of ∇²_w log R, from an evaluation."""
    return bk.exp(loss.log_ddell(ev.margins, bk) - ev.log_sum)


def hessian_terms(Z: np.ndarray, layers: Layers, r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """J^T H_w J + T of :func:`hessian` from its parts: data Z (n, d), the layers, the weights
    r_i = ℓ''(m_i)/Σ_j ℓ(m_j) (n,) and g = ∇_w log R (d,). Generic numpy over any number type
    (float64, mpf, or python-flint's arb inside ``Mpmath.arb_precision``)."""
    J, H_w = hessian_factors(Z, layers, r, g)
    return J.T @ H_w @ J + multilinear_hessian(layers, g)


def hessian_factors(Z: np.ndarray, layers: Layers, r: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(J, H_w): J = ∂w_prod/∂θ (d, N) and H_w = Z^T diag(r) Z − g g^T = ∇²_w log R (d, d), the
    factors of the Hessian's term of rank ≤ d, J^T H_w J (arguments as in :func:`hessian_terms`).
    That term carries the flow's stiffness (its scale grows like the margins); the other, T, stays
    O(1) relative to the field in the late phase (aligncheck.dynamics.flow)."""
    return product_jacobian(layers), weight_hessian(Z, r, g)


def weight_hessian(Z: np.ndarray, r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """H_w = Z^T diag(r) Z − g g^T = ∇²_w log R (d, d), from the weights r (n,) and g = ∇_w log R."""
    return (Z.T * r) @ Z - np.outer(g, g)


def product_jacobian(layers: Layers) -> np.ndarray:
    """J = ∂w_prod/∂θ (d, N), θ = the layers flattened row-major with W_1 first. Generic numpy."""
    a, B = _chains(layers)
    return np.concatenate([np.kron(a[k][None, :], B[k].T) for k in range(len(layers))], axis=1)


def multilinear_hessian(layers: Layers, g: np.ndarray) -> np.ndarray:
    """T (N, N): the Hessian of the multilinear map θ ↦ ⟨w_prod(θ), g⟩ at fixed g (zero on the
    diagonal blocks), the second term of :func:`hessian`."""
    L = len(layers)
    a, B = _chains(layers)
    sizes = [W.size for W in layers]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    T = np.zeros((offs[-1], offs[-1]), dtype=np.result_type(layers[0], g))
    b = [B[k] @ g for k in range(L)]
    for k in range(L):
        M = np.eye(layers[k].shape[0], dtype=T.dtype)  # M = W_{l−1} ⋯ W_{k+1}, shape (d_{l−1}, d_k)
        for l in range(k + 1, L):
            if l > k + 1:
                M = layers[l - 1] @ M
            blk = np.einsum("p,qr,s->pqrs", a[l], M, b[k]).reshape(sizes[l], sizes[k])
            T[offs[l] : offs[l + 1], offs[k] : offs[k + 1]] = blk
            T[offs[k] : offs[k + 1], offs[l] : offs[l + 1]] = blk.T
    return T


def _chains(layers: Layers) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """a[k] = (W_L ⋯ W_{k+1})^T (shape d_k) and B[k] = W_{k−1} ⋯ W_1 (shape d_{k−1} × d), 0-based k."""
    B = [np.eye(layers[0].shape[1], dtype=layers[0].dtype)]
    for W in layers[:-1]:
        B.append(W @ B[-1])
    return left_vectors(layers), B
