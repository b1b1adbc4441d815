"""log R, the softmax weights and the gradients on python-flint's arb matrices: the flint kernels'
evaluation (:class:`aligncheck.numerics.backends.Mpmath` with the arb kernels).

The same quantities as :func:`aligncheck.numerics.risk.evaluate` for the exp and logistic losses,
with the products formed by arb_mat (C) instead of numpy over object arrays: measured 2x float64
per evaluation at d = 5, L = 4, n = 20 (tests/bench/test_bench_backends.py), where the same
evaluation on mpf object arrays is ~40x. Midpoints are what is used, as everywhere in the late
phase (aligncheck.numerics.arb). Every function runs at python-flint's process-wide precision:
callers set it (Mpmath.arb_precision).

Conventions as in :mod:`aligncheck.numerics.risk`: Z (n, d) holds z_i = y_i x_i as rows, w (d, 1) a
column, R = (1/n) Σ ℓ(⟨w, z_i⟩), everything in the log domain so that margins of 1e40 neither
overflow nor underflow.
"""

from __future__ import annotations

from collections.abc import Sequence

import flint

from aligncheck.numerics.losses import EXP, LOGISTIC, Loss

LOSSES = (EXP.name, LOGISTIC.name)


def _softplus(x: flint.arb) -> flint.arb:
    """log(1 + e^x) without overflow: x + log1p(e^{−x}) for x > 0, else log1p(e^x)."""
    return x + (-x).exp().log1p() if x > 0 else x.exp().log1p()


def log_terms(loss: Loss, m: Sequence[flint.arb]) -> tuple[list, list, list]:
    """(log ℓ(m_i), log(−ℓ'(m_i)), log ℓ''(m_i)) for the margins m (exp and logistic losses)."""
    if loss.name == EXP.name:
        neg = [-x for x in m]
        return neg, neg, neg
    if loss.name == LOGISTIC.name:
        # log log1p(e^{−m}): arb keeps its digits at margins of 1e120 (tests/test_arb_risk.py) as
        # long as the precision covers log2 of the margins, as Mpmath.ensure_headroom makes it.
        log_ell = [_softplus(-x).log() for x in m]
        sp = [_softplus(x) for x in m]  # −log(−ℓ') = softplus(m); ℓ'' = σ(m)σ(−m)
        return log_ell, [-v for v in sp], [-v - _softplus(-x) for v, x in zip(sp, m)]
    raise ValueError(f"arb kernels cover the {' and '.join(LOSSES)} losses, not {loss.name!r}")


def _logsumexp(a: Sequence[flint.arb]) -> flint.arb:
    top = max(a, key=lambda x: x.mid())
    return top + sum(((x - top).exp() for x in a), flint.arb(0)).log()


def weights(loss: Loss, Z: flint.arb_mat, w: flint.arb_mat, hessian: bool = False):
    """(∇_w log R (d, 1), log Σ ℓ(m_i), H_w or None) at w over the rows of Z; H_w = Zᵀ diag(r) Z − g gᵀ
    = ∇²_w log R (d, d), r_i = ℓ''(m_i)/Σ ℓ (only with ``hessian``)."""
    n, d = Z.nrows(), Z.ncols()
    mm = Z * w
    m = [mm[i, 0] for i in range(n)]
    log_ell, log_nd, log_dd = log_terms(loss, m)
    lse = _logsumexp(log_ell)
    q = flint.arb_mat([[(v - lse).exp() for v in log_nd]])
    g = -(q * Z).transpose()
    if not hessian:
        return g, lse, None
    r = [(v - lse).exp() for v in log_dd]
    Zr = flint.arb_mat([[r[i] * Z[i, j] for j in range(d)] for i in range(n)])
    return g, lse, Z.transpose() * Zr - g * g.transpose()


def evaluate(loss: Loss, Z: flint.arb_mat, layers: Sequence[flint.arb_mat]) -> tuple[flint.arb, flint.arb_mat, list[flint.arb_mat]]:
    """(log R, ∇_w log R (d, 1), [∇_{W_k} log R]) for arb_mat layers W_k (d_k, d_{k−1}), W_L a row:
    :func:`aligncheck.numerics.risk.evaluate` on arb_mat."""
    w = layers[-1]
    for W in reversed(layers[:-1]):
        w = w * W
    g, lse, _ = weights(loss, Z, w.transpose())
    below = [flint.arb_mat(Z.ncols(), Z.ncols(), 1)]  # W_{k−1} ⋯ W_1
    for W in layers[:-1]:
        below.append(W * below[-1])
    grads: list = [None] * len(layers)
    above = flint.arb_mat(1, 1, 1)  # W_L ⋯ W_{k+1}, a row
    for k in range(len(layers) - 1, -1, -1):
        grads[k] = above.transpose() * (g.transpose() * below[k].transpose())
        above = above * layers[k]
    return lse - flint.arb(Z.nrows()).log(), g, grads
