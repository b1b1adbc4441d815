"""The paper's assumptions, checked on a concrete run set-up (data, loss, initialisation, method).

Ids follow claims.md: A1.1 (loss), A1.2 (initialisation), A2.7 (support vectors span R^d),
A3.x (smoothness of the loss, GD only), A3.5 (the paper's GD step rule), plus "separable"
(linearly separable data, behind every claim). Camera-ready numbering; the ICLR submission
numbers A1.1, A1.2, A2.7, A3.5 as Assumptions 1, 2, 3, 5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aligncheck.numerics.magnitudes import format_from_log
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers
from aligncheck.numerics.risk import evaluate

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
# arithmetic, is not rejected for rounding. At a later time the test is the other way round,
# R(W(t)) < ℓ(0) by more than the slack: a run approaching the critical point W = 0 from above
# (control.bad_init: R − ℓ(0) ≈ a(t)² → 0) reaches R = ℓ(0) to rounding without ever entering
# the region where the theorem applies.
A12_LOG_SLACK = 16 * np.finfo(float).eps
# 'Almost all data' asks every dual coefficient to be > 0; one below this fraction of the largest is
# 0 up to the rounding of the data: a point on the margin in real arithmetic, stored in float64,
# gets a dual ~1e-16 relative (or none) from the exact polish, and α = 0 then (data.alpha_positive
# reported violated on such hand-made data). 1e-9 is far above that and far below any dual of
# data in general position (planted problems: ≥ 1/3 of the largest by construction).
GENERIC_DUAL_TOL = 1e-9


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
    step: float | None = None  # GD with a constant step: η on the mean risk R

    def check(self) -> dict[str, tuple[bool, str]]:
        """Each assumption id -> (holds, one-line reason)."""
        out: dict[str, tuple[bool, str]] = {}
        mm = self.max_margin
        out["separable"] = (mm is not None, "linearly separable" if mm is not None else "no separating direction")
        out["A1.1"] = (self.loss.satisfies_a11, f"{self.loss.name} loss")
        out["A1.2"] = a12_at(self.Z, self.loss, self.layers0, slack=True)
        if mm is None:
            out["A2.7"] = (False, "no max-margin direction (not separable)")
            out["generic"] = (False, "no support vectors (not separable)")
        else:
            d = self.Z.shape[1]
            out["A2.7"] = (bool(mm.sv_span_full), f"support vectors span {'R^d' if mm.sv_span_full else 'a proper subspace'}"
                           + ("" if mm.sv_span_full else f" ({len(mm.support)} support vectors of rank {mm.sv_rank} < d = {d}; "
                              f"{'= span of the data' if mm.sv_span_data else 'smaller than the span of the data'})"))
            out["generic"] = _generic(self.Z, mm)
        out["logistic"] = (self.loss.name == "logistic", f"{self.loss.name} loss")
        out["exp|logistic"] = (self.loss.name in ("exp", "logistic"), f"{self.loss.name} loss")
        max_norm = float(np.max(np.linalg.norm(self.Z, axis=1)))
        smooth = self.loss.beta is not None and max_norm <= 1.0
        out["A3.x"] = (smooth, f"{self.loss.name}: β={self.loss.beta}, G={self.loss.G}, max‖x_i‖={max_norm:.4g}")
        out["A3.5"] = (self.method == "gd" and self.step_rule == "paper", f"method {self.method}, step rule {self.step_rule}")
        for aid, check in _REGISTERED.items():
            out[aid] = check(self)
        return out


def _generic(Z: np.ndarray, mm) -> tuple[bool, str]:
    """'Almost all data' (the support vectors linearly independent, every dual coefficient > 0),
    and, where it fails, the cause in the data's terms: identical z_i = y_i x_i (e.g. mirrored
    points x_j = −x_i with y_j = −y_i), other dependent support vectors, or a zero dual
    coefficient (a point on the margin that carries no weight), with the rows (0-based)."""
    sv = [int(i) for i in mm.support]
    independent = len(sv) == mm.sv_rank
    zero = [i for i, a in zip(sv, mm.alpha) if not a > GENERIC_DUAL_TOL * np.max(mm.alpha)]
    summary = f"{len(sv)} support vectors of rank {mm.sv_rank}, min dual coefficient {float(np.min(mm.alpha)):.3g}"
    if independent and not zero:
        return True, summary
    causes = []
    if not independent:
        first: dict[bytes, int] = {}
        same = []
        for i in sv:
            key = (Z[i] + 0.0).tobytes()  # + 0.0: −0.0 becomes 0.0 (z = (−1)·(−x) of a mirrored point with a zero entry)
            if key in first:
                same.append((first[key], i))
            else:
                first[key] = i
        if same:
            shown = ", ".join(f"{a} and {b}" for a, b in same[:4]) + (", ..." if len(same) > 4 else "")
            causes.append(f"identical z_i = y_i x_i at rows {shown} (mirrored ±x points, or duplicates)")
        else:
            causes.append(f"dependent support vectors ({len(sv)} of rank {mm.sv_rank}: more points on the margin than its dimension)")
    if zero:
        causes.append(f"a zero dual coefficient at row{'s' if len(zero) > 1 else ''} {', '.join(map(str, zero[:6]))}"
                      + (", ..." if len(zero) > 6 else ""))
    return False, f"{summary}: {'; '.join(causes)}"


# Assumptions that papers' claim packages add (register_assumption), checked on every Setup.
_REGISTERED: dict[str, Callable[[Setup], tuple[bool, str]]] = {}


def register_assumption(aid: str, text: str, check: Callable[[Setup], tuple[bool, str]]) -> None:
    """Add the assumption ``aid`` (what it says: ``text``), decided on a run's set-up by ``check``,
    which returns (holds, one-line reason). Claims name it in their ``needs``."""
    if aid in ASSUMPTIONS and _REGISTERED.get(aid) is not check:
        raise ValueError(f"assumption {aid!r} is already registered")
    ASSUMPTIONS[aid] = text
    _REGISTERED[aid] = check


def a12_at(Z: np.ndarray, loss: Loss, layers: Layers, *, slack: bool, label: str = "W(0)") -> tuple[bool, str]:
    """A1.2 at the state ``layers``: ∇R ≠ 0 and R ≤ ℓ(0); ``slack``: R ≤ ℓ(0) up to rounding (the
    start, where W_1 = 0 gives R = ℓ(0) exactly), else R < ℓ(0) beyond rounding (see A12_LOG_SLACK).
    ``label`` names the state in the reason, e.g. "W(0)"."""
    ev = evaluate(Z, loss, tuple(np.asarray(W, dtype=float) for W in layers))
    log_r, log_l0 = float(ev.log_risk), math.log(loss.ell_at_zero)
    tol = A12_LOG_SLACK * max(1.0, abs(log_l0))
    if not any(np.any(G) for G in ev.grads):
        return False, f"∇R({label}) = 0: {label} is a critical point"
    if not (log_r <= log_l0 + tol if slack else log_r < log_l0 - tol):
        return False, f"R({label}) = {format_from_log(log_r)} {'>' if slack else '≥'} ℓ(0) = {loss.ell_at_zero:.6g}"
    return True, f"R({label}) = {format_from_log(log_r)} {'≤' if slack else '<'} ℓ(0), ∇R ≠ 0"


@dataclass(frozen=True)
class Start:
    """Where the claims that need A1.2 are judged from: checkpoint ``index`` at ``time`` (s for
    gradient flow, the step for GD), or index None when A1.2 holds at no checkpoint."""

    index: int | None
    time: float | None
    reason: str


def a12_start(trajectory, loss: Loss) -> Start:
    """The first checkpoint of ``trajectory`` at which A1.2 holds.

    Gradient flow is autonomous: if R(W(t₀)) ≤ ℓ(0) with ∇R(W(t₀)) ≠ 0, the theorems apply to the
    flow started at W(t₀), which is the rest of this run. So do the GD arguments: GD with a
    constant step is autonomous in W, and GD with the paper's step rule (A3.5) is autonomous in
    (W(t), R_t), R_t being an admissible R_0 for the run restarted at t (W(t) ∈ B(R_t − 1),
    R_t ≥ 1). Lemma 2's D and the initial norms of its alignment bound are then those of W(t₀).
    """
    cps = trajectory.checkpoints
    at0 = a12_at(trajectory.Z, loss, cps[0].layers, slack=True)
    if at0[0]:
        return Start(0, cps[0].time, at0[1])
    for i, cp in enumerate(cps[1:], 1):
        ok, why = a12_at(trajectory.Z, loss, cp.layers, slack=False, label="W(t₀)")
        if ok:
            return Start(i, cp.time, f"fails at the start ({at0[1]}); holds from {_time_name(trajectory)} = {cp.time:.4g} (checkpoint {i}): {why}; the claims that need it are judged from there")
    return Start(None, None, f"{at0[1]} at the start, and at no later checkpoint R < ℓ(0) with ∇R ≠ 0")


def _time_name(trajectory) -> str:
    return "step" if trajectory.method == "gd" else "s"


def run_assumptions(setup: Setup, trajectory) -> tuple[dict[str, tuple[bool, str]], Start]:
    """``setup.check()`` with A1.2 judged at the first admissible checkpoint of ``trajectory``
    (see :func:`a12_start`), and that start."""
    out = setup.check()
    start = a12_start(trajectory, setup.loss)
    out["A1.2"] = (start.index is not None, start.reason)
    return out, start
