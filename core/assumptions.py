"""The paper's assumptions, checked on a concrete run set-up (data, loss, initialisation, method).

Ids follow claims.md: A1.1 (loss), A1.2 (initialisation), A2.7 (support vectors span R^d),
A3.x (smoothness of the loss, GD only), A3.5 (the paper's GD step rule), plus "separable"
(linearly separable data, behind every claim). Camera-ready numbering; the ICLR submission
numbers A1.1, A1.2, A2.7, A3.5 as Assumptions 1, 2, 3, 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backends import format_from_log
from .losses import Loss
from .network import Layers
from .risk import evaluate

ASSUMPTIONS: dict[str, str] = {
    "separable": "the data are linearly separable",
    "A1.1": "loss: ℓ' < 0 continuous, ℓ(−∞) = ∞, ℓ(+∞) = 0",
    "A1.2": "initialisation: ∇R(W(0)) ≠ 0 and R(W(0)) ≤ ℓ(0)",
    "A2.7": "the support vectors span R^d",
    "exp|logistic": "the loss is the exponential or the logistic loss (the max-margin theorems)",
    "logistic": "the loss is the logistic loss (the GD max-margin theorem)",
    "generic": "'almost all data': the support vectors are linearly independent and every dual coefficient is > 0",
    "A3.x": "ℓ' is β-Lipschitz and |ℓ'| ≤ G, and ‖x_i‖ ≤ 1",
    "A3.5": "GD step η_t = min{1/β(R_t), 1} (the paper's step rule)",
}

# R(W(0)) ≤ ℓ(0) is tested on log R with this relative slack: it absorbs the rounding of
# logsumexp over n points (a few eps), so that W_1 = 0, where R = ℓ(0) exactly in real
# arithmetic, is not rejected for rounding.
A12_LOG_SLACK = 16 * np.finfo(float).eps


@dataclass(frozen=True)
class Setup:
    """What a run starts from: data Z (n, d) with its max-margin info (None if not separable), loss, W(0), method."""

    Z: np.ndarray
    max_margin: object | None
    loss: Loss
    layers0: Layers
    method: str
    step_rule: str = "constant"
    seed: int = 0  # the initialisation seed; also seeds searches that predicates run

    def check(self) -> dict[str, tuple[bool, str]]:
        """Each assumption id -> (holds, one-line reason)."""
        out: dict[str, tuple[bool, str]] = {}
        mm = self.max_margin
        out["separable"] = (mm is not None, "linearly separable" if mm is not None else "no separating direction")
        out["A1.1"] = (self.loss.satisfies_a11, f"{self.loss.name} loss")
        ev = evaluate(self.Z, self.loss, self.layers0)
        grad_zero = not any(np.any(G) for G in ev.grads)
        log_l0 = math.log(self.loss.ell_at_zero)
        risk_ok = float(ev.log_risk) <= log_l0 + A12_LOG_SLACK * max(1.0, abs(log_l0))
        if grad_zero:
            out["A1.2"] = (False, "∇R(W(0)) = 0: W(0) is a critical point")
        elif not risk_ok:
            out["A1.2"] = (False, f"R(W(0)) = {format_from_log(float(ev.log_risk))} > ℓ(0) = {self.loss.ell_at_zero:.6g}")
        else:
            out["A1.2"] = (True, f"R(W(0)) = {format_from_log(float(ev.log_risk))} ≤ ℓ(0), ∇R ≠ 0")
        if mm is None:
            out["A2.7"] = (False, "no max-margin direction (not separable)")
        else:
            out["A2.7"] = (bool(mm.sv_span_full), f"support vectors span {'R^d' if mm.sv_span_full else 'a proper subspace'}"
                           + ("" if mm.sv_span_full else f" ({'= span of the data' if mm.sv_span_data else 'smaller than the span of the data'})"))
        if mm is None:
            out["generic"] = (False, "no support vectors (not separable)")
        else:
            independent = len(mm.support) == mm.sv_rank
            positive = bool(np.all(mm.alpha > 0))
            out["generic"] = (independent and positive, f"{len(mm.support)} support vectors of rank {mm.sv_rank}, min dual coefficient {float(np.min(mm.alpha)):.3g}")
        out["logistic"] = (self.loss.name == "logistic", f"{self.loss.name} loss")
        out["exp|logistic"] = (self.loss.name in ("exp", "logistic"), f"{self.loss.name} loss")
        max_norm = float(np.max(np.linalg.norm(self.Z, axis=1)))
        smooth = self.loss.beta is not None and max_norm <= 1.0
        out["A3.x"] = (smooth, f"{self.loss.name}: β={self.loss.beta}, G={self.loss.G}, max‖x_i‖={max_norm:.4g}")
        out["A3.5"] = (self.method == "gd" and self.step_rule == "paper", f"method {self.method}, step rule {self.step_rule}")
        return out
