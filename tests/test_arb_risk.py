"""The arb_mat evaluation (aligncheck.numerics.arb_risk) against aligncheck.numerics.risk on mpf: the same
log R, weights, Hessian in w and layer gradients, from small margins to margins of 1e120 of
either sign, for the exp and logistic losses."""

from __future__ import annotations

import flint
import numpy as np
import pytest
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.numerics import arb_risk
from aligncheck.numerics.backends import Mpmath
from aligncheck.numerics.losses import EXP, LOGISTIC, Loss
from aligncheck.numerics.network import init_layers, product
from aligncheck.numerics.risk import evaluate, hessian_weights, weight_hessian

DIGITS = 40


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(2, n=12, d=4, gamma=0.3, n_sv=4, sv_rank=4))


def _rel(bk: Mpmath, got, want) -> float:
    got, want = np.asarray(got, dtype=object).ravel(), np.asarray(want, dtype=object).ravel()
    return float(bk.norm(got - want) / bk.norm(want))


def _layers(problem, bk: Mpmath, scale: float, aligned: bool):
    """Three layers 4-4-1 whose product has norm ~|scale|: Gaussian (margins of both signs), or
    rank one along +ū (every margin positive, ≥ γ·scale)."""
    if aligned:
        e = np.eye(4)[0]
        base = (np.outer(e, problem.max_margin.u_bar), np.outer(e, e), e[None, :])
    else:
        base = init_layers("gaussian", 4, [4, 4], 3, mean_z=problem.Z.mean(axis=0))
    c = bk.ctx.mpf(abs(scale)) ** (1 / 3) * (1 if scale > 0 else -1)
    return tuple(bk.asarray(W) * c for W in base)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
@pytest.mark.parametrize("scale, aligned", [(1.0, False), (1e5, False), (1e10, False), (-1e10, False), (1e10, True), (1e120, True)])
def test_arb_evaluation_is_the_mpf_evaluation(problem, loss: Loss, scale: float, aligned: bool):
    # Tolerance 1e-30 relative: both are exact to rounding at ≥ 165 bits (1e-49 relative) apart
    # from the cancellation of log R's O(1) part against margins of up to 1e120, which the
    # precision's headroom (log2 of the margins) covers. Aligned at 1e120: every margin huge and
    # positive, where the logistic loss's log log1p(e^{−m}) needs that headroom.
    Z = problem.Z
    bk = Mpmath(DIGITS)
    layers = _layers(problem, bk, scale, aligned)
    Zm = bk.asarray(Z)
    bk.ensure_headroom(max(abs(x) for x in Zm @ product(layers)))
    ev = evaluate(Zm, loss, layers, bk)
    H = weight_hessian(Zm, hessian_weights(loss, ev, bk), ev.grad_w)
    with bk.arb_precision():
        Za = flint.arb_mat(bk.to_arb(Zm).tolist())
        log_risk, g, grads = arb_risk.evaluate(loss, Za, [flint.arb_mat(bk.to_arb(W).tolist()) for W in layers])
        w = product(layers)
        g2, lse, Ha = arb_risk.weights(loss, Za, flint.arb_mat([[bk.to_arb(x)] for x in w]), hessian=True)
        mid = lambda M: bk.from_arb(np.array(M.tolist(), dtype=object))  # noqa: E731
        assert abs(float((bk.from_arb(log_risk) - ev.log_risk) / ev.log_risk)) < 1e-30
        assert abs(float((bk.from_arb(lse) - ev.log_sum) / ev.log_sum)) < 1e-30
        assert _rel(bk, mid(g), ev.grad_w) < 1e-30 and _rel(bk, mid(g2), ev.grad_w) < 1e-30
        # H_w is a covariance of the z_i (‖z_i‖ ≤ 1): entries ≤ 1, and exactly 0 once one point
        # carries all the weight, so its error is absolute.
        assert float(bk.norm((mid(Ha) - H).ravel())) < 1e-30
        for Ga, Gm in zip(grads, ev.grads):
            assert _rel(bk, mid(Ga), Gm) < 1e-30


def test_other_losses_are_refused():
    from aligncheck.numerics.losses import POLY

    with pytest.raises(ValueError):
        arb_risk.log_terms(POLY, [flint.arb(1)])
