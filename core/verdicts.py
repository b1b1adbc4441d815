"""Verdicts and the generic judges that turn a series of measurements into one.

A finite run never proves a limit. The judges here say ``holds`` only when the run reached
the phase where the claim can be judged and the measurement is there; ``inconclusive`` when it
did not (too short, or stuck at the float64 floor); ``violated`` only on positive evidence
against the claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np


class Status(str, Enum):
    HOLDS = "holds"
    VIOLATED = "violated"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim on one run: status, measured value, threshold and a one-line reason.

    ``backend``: the arithmetic that produced the verdict ("float64" or "mpmath-<digits>").
    ``confirmation``: for a verdict that float64 found violated and that was replayed at high
    precision, "confirmed at N digits" or "float64 artefact" (then ``float64_value`` keeps the
    float64 measurement, and status/value are the high-precision ones). ``certificate``: the
    ball-arithmetic check of a finite-time bound, "certified", "refuted" or "uncertain".
    """

    claim: str
    status: Status
    value: float | None
    threshold: float | None
    reason: str
    backend: str = "float64"
    confirmation: str | None = None
    float64_value: float | None = None
    certificate: str | None = None

    def as_dict(self) -> dict:
        out = {
            "id": self.claim,
            "status": self.status.value,
            "value": _json_float(self.value),
            "threshold": _json_float(self.threshold),
            "reason": self.reason,
            "backend": self.backend,
        }
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation
            out["float64_value"] = _json_float(self.float64_value)
        if self.certificate is not None:
            out["certificate"] = self.certificate
        return out


def _json_float(x: float | None) -> float | str | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else str(x)


# A limit's rate constant may grow by at most this factor over the late window. It absorbs the
# transient in which constants such as ‖W_k‖_F² − σ_k² settle (they are bounded, Lemma 2, but
# may still be rising when the late window opens); a gap that does not decay at all grows its
# constant by (growth over the second half of the late window)^p, which exceeds this once that
# growth is ~3x (p = 2).
RATE_SLACK = 10.0
# The late window must see the scale grow by at least this factor, or the run is too short to
# tell a decaying gap from a constant one (growth^p must beat RATE_SLACK).
MIN_LATE_GROWTH = 4.0


@dataclass(frozen=True)
class LimitJudgement:
    status: Status
    value: float
    reason: str


def judge_limit(
    q: np.ndarray,
    scale: np.ndarray,
    *,
    p: float,
    threshold: float,
    floor: float,
    what: str,
    rise_below_threshold_violates: bool = True,
) -> LimitJudgement:
    """Judge 'q → 0' from its values along a run, with scale → ∞ and the expected rate q ≲ C·scale^−p.

    ``q``, ``scale``: one value per checkpoint (time order); nan entries (undefined, e.g. a zero
    layer) are skipped. The late window is the second half of the run in log(scale). ``floor``:
    values at or below it are noise of the arithmetic and count as 0.

    - violated: q_end > floor and either q ended no lower than its largest value in the first
      half of the late window, or its rate constant q·scale^p ended more than RATE_SLACK times
      above its largest value there (the scale having grown ≥ MIN_LATE_GROWTH).
    - holds: q_end ≤ threshold (or ≤ floor), with the trend and the rate as expected.
    - inconclusive: the run never reached a late window, or q is still above the threshold.

    ``rise_below_threshold_violates`` = False (gradient descent, judged by its trend alone): a q
    that did not decrease but ended at or below the threshold is ``inconclusive``, not violated.
    GD's direction approaches its limit like 1/log t with transients that last ~10^5 steps
    (measured: a relative margin gap rising from 5e-3 to 8.8e-3 over steps 100-50,000, then
    decaying), which a window of a few 10^4 steps cannot tell from a limit above 0.
    """
    ok = np.isfinite(q) & np.isfinite(scale) & (scale > 0)
    q, scale = np.asarray(q, float)[ok], np.asarray(scale, float)[ok]
    if len(q) < 4:
        return LimitJudgement(Status.INCONCLUSIVE, float("nan"), f"{what}: fewer than 4 defined checkpoints")
    ls = np.log(scale)
    late = np.nonzero(ls >= ls[0] + 0.5 * (ls[-1] - ls[0]))[0]
    i0 = int(late[0]) if len(late) else len(q) - 1
    growth = float(scale[-1] / scale[i0])
    q_end = float(q[-1])
    at_floor = q_end <= floor
    if growth < MIN_LATE_GROWTH or len(late) < 3:
        return LimitJudgement(Status.INCONCLUSIVE, q_end, f"{what} = {q_end:.3g}; the scale grew only x{growth:.3g} in the late window: too short to judge the trend")
    # Reference: the first half (in log scale) of the late window, by its largest values, so that
    # a transient dip there (e.g. the direction passing close to its limit before settling) is not
    # mistaken for the level the gap should keep decaying from.
    ref = late[ls[late] <= ls[i0] + 0.5 * (ls[-1] - ls[i0])]
    q_ref = float(np.max(q[ref]))
    if not at_floor:
        if q_end >= q_ref:
            if not rise_below_threshold_violates and q_end <= threshold:
                return LimitJudgement(Status.INCONCLUSIVE, q_end, f"{what} = {q_end:.3g} <= {threshold:g} but did not decrease over the late window (max {q_ref:.3g} early in it): a transient, or a limit above 0")
            return LimitJudgement(Status.VIOLATED, q_end, f"{what} did not decrease over the late window (max {q_ref:.3g} early in it, {q_end:.3g} at the end) while the scale grew x{growth:.3g}")
        c_ref = float(np.max(np.maximum(q[ref], floor) * scale[ref] ** p))
        c_end = q_end * scale[-1] ** p
        if c_end > RATE_SLACK * c_ref:
            return LimitJudgement(Status.VIOLATED, q_end, f"{what}·scale^{p:g} grew x{c_end / c_ref:.3g} over the late window: slower than scale^-{p:g}")
    if at_floor:
        return LimitJudgement(Status.HOLDS, q_end, f"{what} = {q_end:.3g}: at the arithmetic floor ({floor:g}) after a x{growth:.3g} growth")
    if q_end <= threshold:
        trend = f"decaying at least like scale^-{p:g}" if p else "decreasing"
        return LimitJudgement(Status.HOLDS, q_end, f"{what} = {q_end:.3g} <= {threshold:g}, {trend} over a x{growth:.3g} growth")
    return LimitJudgement(Status.INCONCLUSIVE, q_end, f"{what} = {q_end:.3g} decaying but still above {threshold:g}")
