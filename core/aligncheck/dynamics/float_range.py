"""The float64 engine's range: which states it accepts (W(0), every GD iterate, every accepted step
of the flow), and why. A state outside it is refused up front (W(0): ProblemError with advice) or
ends a run at the last state inside it, never produces inf or NaN metrics."""

from __future__ import annotations

import math

import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.numerics.magnitudes import format_from_log, log_norm
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers
from aligncheck.numerics.risk import evaluate

# Upper end. Every product of layer norms ∏_{k∈S} ‖W_k‖_F (S any set of layers) times
# max(1, max_i ‖z_i‖) must stay ≤ RANGE_TOP: w_prod, the margins, the factors a_k and b_k of every
# layer gradient and the blocks of the Hessian's Jacobian J are bounded by such products, and the
# engine squares them (‖w_prod‖², ‖W_k‖_F² from the singular values, W_kᵀW_k in the balancedness
# invariants, JᵀH_wJ in the Hessian). At 1e150 the squares stay ≤ 1e300, below float64's 1.8e308
# with 8 decades to spare for the sums over entries; beyond it they overflow to inf.
RANGE_TOP = 1e150
# Lower end. The layer gradients ∇_{W_k} log R = a_k b_kᵀ are bounded by the product of the other
# layers' norms times ‖∇_w log R‖; where every such bound is below float64's smallest normal
# number (2.2e-308) they round to subnormals or to 0, and a start that is not a critical point
# would look like one (A1.2 reported failing, the flow stopped at once). Exact zeros are not a
# range problem: with two or more zero layers (W ≡ 0) every gradient is exactly 0, a true critical
# point, and with one (W_1 = 0) only that layer's gradient is tested.
GRADIENT_TINY = float(np.finfo(float).tiny)


def _log_frobs(layers: Layers) -> list[float]:
    return [log_norm(np.asarray(W, dtype=float)) for W in layers]


def beyond_range(layers: Layers, z_norm: float) -> str | None:
    """Why ``layers`` are outside the upper end of the float64 engine's range (a non-finite entry,
    or a product of layer norms times max(1, ``z_norm``) above RANGE_TOP), or None. ``z_norm``:
    max_i ‖z_i‖ of the data. Cheap: one pass over each layer (its largest |entry|), and the norms
    only where that bound does not already settle it (it is tested at every step of a run)."""
    tops = [float(np.max(np.abs(W))) if np.size(W) else 0.0 for W in layers]
    if all(math.isfinite(t) for t in tops):
        # ‖W_k‖_F ≤ sqrt(size_k)·max|W_k|: inside whenever that bound on the product is.
        bound = sum(math.log(max(1.0, math.sqrt(np.size(W)) * t)) for W, t in zip(layers, tops))
        if bound + (max(0.0, math.log(z_norm)) if z_norm > 0 else 0.0) <= math.log(RANGE_TOP):
            return None
    logs = _log_frobs(layers)
    for k, lg in enumerate(logs, 1):
        if not lg < math.inf:  # inf or nan
            return f"W_{k} has a NaN or infinite entry"
    top = sum(max(0.0, lg) for lg in logs) + (max(0.0, math.log(z_norm)) if z_norm > 0 else 0.0)
    if top > math.log(RANGE_TOP):
        return (f"∏_k max(1, ‖W_k‖_F)·max(1, max_i ‖x_i‖) = {format_from_log(top, '.3g')} > {RANGE_TOP:g}: "
                "margins, layer gradients and their squares would overflow float64")
    return None


def check_start(Z: np.ndarray, loss: Loss, layers0: Layers) -> None:
    """Raise ProblemError (one line, with advice) unless the float64 engine can start from W(0) =
    ``layers0`` on data Z (n, d): finite entries, products of layer norms within RANGE_TOP, and layer
    gradients that do not underflow (see RANGE_TOP and GRADIENT_TINY for the reasons)."""
    z_norm = float(np.max(np.linalg.norm(Z, axis=1))) if Z.size else 0.0
    why = beyond_range(layers0, z_norm)
    if why is not None:
        raise ProblemError(f"W(0) is beyond the float64 engine's range: {why}; use a smaller --init-scale (or rescale the data)")
    logs = _log_frobs(layers0)
    nonzero = [lg for lg in logs if lg > -math.inf]
    log_g = log_norm(evaluate(Z, loss, layers0).grad_w)
    if len(logs) - len(nonzero) >= 2 or log_g == -math.inf:
        return  # every layer gradient exactly 0 (a true critical point), not an underflow
    # The largest of the bounds: leave out the zero layer if there is one, else the smallest layer.
    left_out = min(nonzero) if len(nonzero) == len(logs) else 0.0
    scale = sum(nonzero) - left_out + log_g
    if scale < math.log(GRADIENT_TINY):
        raise ProblemError(
            f"W(0) is beyond the float64 engine's range: its layer gradients are at most {format_from_log(scale, '.3g')} "
            f"(products of the other layers' norms times ‖∇_w log R‖), below float64's smallest normal number "
            f"{GRADIENT_TINY:.3g}, so W(0) would look like a critical point; use a larger --init-scale"
        )
