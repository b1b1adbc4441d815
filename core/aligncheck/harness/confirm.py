"""A second look at every violation: a float64 ``violated`` verdict is replayed at high precision
before it is reported.

The replay (mpmath backend, CONFIRM_DIGITS digits by default):
- the same recorded states, every metric recomputed at high precision (the states convert
  exactly), which removes errors of evaluation: cancellation, SVD rounding, softmax weights;
- for gradient flow, if the float64 run went past the float64 floor (eps·max|m_i| ≥
  FLOAT64_FLOOR, where rounding of the margins steers the flow), the part past the floor is
  re-integrated in high precision from the last checkpoint before it (aligncheck.dynamics.late_phase),
  for networks of at most aligncheck.dynamics.late_phase.MAX_PARAMETERS parameters (the verdict
  says when it was not).
GD runs are replayed on their recorded iterates (the per-step logs of gd.descent and
gd.error_budget stay float64; aligncheck.numerics.certify checks those in ball arithmetic).

If the violation stays, the verdict says "confirmed at N digits"; if it disappears, it is a
"float64 artefact": the reported status and value are the high-precision ones, and the float64
value is kept next to them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aligncheck.claims.assumptions import Setup
from aligncheck.numerics.backends import FLOAT64, Mpmath
from aligncheck.claims.check import check_claims
from aligncheck.dynamics.trajectory import Trajectory
from aligncheck.dynamics.late_phase import MAX_PARAMETERS as LATE_PHASE_MAX_PARAMETERS, continue_in_mpmath
from aligncheck.numerics.network import parameter_count
from aligncheck.numerics.risk import evaluate
from aligncheck.claims.verdicts import Status, Verdict

CONFIRM_DIGITS = 50
# The float64 floor of aligncheck.dynamics.flow.gradient_flow (its default margin_floor): past
# eps·max|m_i| = 1e-6 the margins' rounding perturbs the softmax weights.
FLOAT64_FLOOR = 1e-6


def first_past_floor(traj: Trajectory, floor: float = FLOAT64_FLOOR) -> int | None:
    """Index of the first checkpoint with eps·max|m_i| ≥ ``floor``, or None."""
    for i, cp in enumerate(traj.checkpoints):
        ev = evaluate(traj.Z, traj.loss, cp.layers)
        if FLOAT64.eps * float(np.max(np.abs(ev.margins))) >= floor:
            return i
    return None


def _parameters(traj: Trajectory) -> int:
    return parameter_count([W.shape for W in traj.checkpoints[0].layers])


def replayed(traj: Trajectory, digits: int = CONFIRM_DIGITS) -> Trajectory:
    """The run as high precision sees it: re-integrated past the float64 floor (gradient flow),
    otherwise the same states (to be measured with an mpmath backend)."""
    if traj.method != "gf" or traj.backend is not FLOAT64:
        return traj
    if _parameters(traj) > LATE_PHASE_MAX_PARAMETERS:  # its dense Newton systems would take hours
        return traj
    i = first_past_floor(traj)
    if i is None or i < 2:  # nothing past the floor, or nothing before it to restart from
        return traj
    head = dataclasses.replace(traj, checkpoints=traj.checkpoints[:i], stop_reason=f"cut at the float64 floor (checkpoint {i})")
    return continue_in_mpmath(head, digits=digits, s_span=traj.checkpoints[-1].time - head.checkpoints[-1].time)


def confirm(
    traj: Trajectory,
    setup: Setup,
    u_bar: np.ndarray | None,
    verdicts: list[Verdict],
    *,
    assumptions: dict[str, tuple[bool, str]] | None = None,
    digits: int = CONFIRM_DIGITS,
) -> list[Verdict]:
    """``verdicts`` with every float64 ``violated`` one replayed at ``digits`` digits (see the module
    docstring); the others unchanged."""
    bad = [v.claim for v in verdicts if v.status == Status.VIOLATED and v.backend == FLOAT64.name]
    if not bad:
        return verdicts
    replay = replayed(traj, digits)
    again = {v.claim: v for v in check_claims(replay, setup, u_bar, bad, assumptions, bk=Mpmath(digits))}
    how = "re-integrated past the float64 floor" if replay is not traj else "same states, metrics recomputed"
    if replay is traj and traj.method == "gf" and _parameters(traj) > LATE_PHASE_MAX_PARAMETERS and first_past_floor(traj) is not None:
        how += f"; the part past the float64 floor not re-integrated: {_parameters(traj)} parameters > {LATE_PHASE_MAX_PARAMETERS}"
    out = []
    for v in verdicts:
        if v.claim not in again:
            out.append(v)
            continue
        hi = again[v.claim]
        if hi.status == Status.VIOLATED:
            out.append(dataclasses.replace(v, confirmation=f"confirmed at {digits} digits", float64_value=v.value,
                                           reason=f"{v.reason} [confirmed at {digits} digits ({how}): {hi.reason}]"))
        else:
            out.append(dataclasses.replace(hi, confirmation="float64 artefact", float64_value=v.value,
                                           reason=f"float64 artefact: float64 reported it violated ({v.reason}); at {digits} digits ({how}): {hi.reason}"))
    return out
