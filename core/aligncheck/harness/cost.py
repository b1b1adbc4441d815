"""What ``aligncheck check`` costs, from a model measured on this project's 2-core machine
(single-threaded BLAS, numpy 2.4, mpmath with gmpy2), so that the command line can say up front
what will take long, and roughly how long, instead of giving no answer for an hour.

Every cost is linear in the number of points n: each evaluation of the risk, its gradient or the
sign-lemma objective is a dozen passes over the n points, and every other part of a run (SVDs of
the layers, certificates, the max-margin solve after quadprog) is small beside it at large n.
The constants are per point and per evaluation (or per checkpoint), the worst measured over
d = 5 and d = 10, both losses, early and late margins; costs grow with d (the n·d products) and
are scaled by d/10 above 10. README (Numerics) has the measurements behind them.
"""

from __future__ import annotations

from aligncheck.data.sign_lemma import SIGN_SEARCH_NATURAL_EVALS, SIGN_SEARCH_POINT_BUDGET
from aligncheck.dynamics.flow import SUBSET_MIN_POINTS
from aligncheck.dynamics.integrate import MAX_FLOW_EVALS

# float64: one evaluate() of log R and its gradients (plus BDF's share of exact Jacobians, ~1 in
# 10 evaluations at 2-4x an evaluation), per point. Measured at n = 1e5: 0.4-1.5 ms (exp loss),
# 1-2.6 ms (logistic, margins of both signs: np.log over every point); 3 µs/point covers both.
F64_EVAL_PER_POINT = 3e-8
# float64: one sign-lemma objective evaluation, per point (measured 0.6-1.9 ms at n = 1e5).
F64_SIGN_PER_POINT = 2e-8
# A gradient-flow run records at most s_max/checkpoint_every + 2 = 802 checkpoints, each measured
# once (one evaluate and L small SVDs) by the claims and once more for the floor by the second look.
MAX_CHECKPOINTS = 802
# GD: per step one gradient (risk_gradients); the paper's step rule also logs R and ∇R per step,
# and gd.smoothness / gd.leaves_ball make up to ~1.1e5 more gradient evaluations (3 radii x
# (400 + 3 Powell searches x 3000 x 2) and LEAVES_BALL_BUDGET steps).
GD_EXTRA_EVALS = 110_000
# mpmath at 50 digits (precision raised with the margins, to ~250 bits late): log R and the
# margins of one checkpoint over n points, per point: measured 31-92 µs (exp, logistic).
MP_SNAPSHOT_PER_POINT = 6e-5
# mpmath: re-integrating the part of a run past the float64 floor (a few high-precision steps),
# per point. Below aligncheck.dynamics.flow.SUBSET_MIN_POINTS every point enters every
# evaluation: measured 2.2-2.8 ms per point (n = 1e3, the stepper before issue 11's; the present
# one is faster, so this overestimates). From it on the flow is evaluated on the points that
# carry it (past the floor, the support vectors), so what grows with n is one full evaluation
# and a float64 pass per evaluation: measured 1.7 s and 3.0 s at n = 3e3 and 1e4.
MP_REINTEGRATE_PER_POINT_SMALL = 3e-3
MP_REINTEGRATE_PER_POINT = 2e-4
# mpmath: a whole high-precision run (d = 3, L = 2, exp loss; measured with the present stepper,
# this machine, the second core busy). --late-phase (5 units of s past the float64 floor, 50
# digits): 5.9 s and 7.6 s at n = 100 and 300, and, on the points that carry the flow, 27 s at
# n = 3000. Its claims are then judged in mpmath at every checkpoint, the float64 ones included
# (~240 + ~12), R and the margins over all n points each time: at n = 1e5 that is the cost.
# --precision 30 (the whole flow, from margins where every point counts): 13.2 s and 25.8 s at
# n = 100 and 300, 0.06 s per extra point. Costs grow at least linearly with the digits
# (mpmath's products), so they are scaled by digits/reference. The constants round up.
MP_LATE_PHASE_PER_POINT_SMALL, MP_LATE_PHASE_DIGITS = 0.03, 50
MP_LATE_PHASE_FIXED = 30.0
MP_LATE_PHASE_CHECKPOINTS = 15
MP_PRECISION_PER_POINT, MP_PRECISION_DIGITS = 0.1, 30
# Fixed costs of a run at any n: imports, the max-margin certificate, the hull, certificates.
FIXED_SECONDS = 3.0
# What counts as "long": the CLI says so up front above this many seconds.
NOTE_ABOVE_SECONDS = 120.0


def _dscale(d: int) -> float:
    return max(1.0, d / 10.0)


def float64_seconds(n: int, d: int, method: str = "gf", gd_steps: int = 0) -> float:
    """Upper estimate of a float64 ``check`` (no second look): every budget spent."""
    if method == "gd":
        evals = 2 * gd_steps + GD_EXTRA_EVALS
        sign = 0.0
    else:
        evals = MAX_FLOW_EVALS + MAX_CHECKPOINTS
        sign = min(SIGN_SEARCH_NATURAL_EVALS * n, SIGN_SEARCH_POINT_BUDGET) * F64_SIGN_PER_POINT
    return FIXED_SECONDS + _dscale(d) * (evals * n * F64_EVAL_PER_POINT + sign)


def _reintegrate_per_point(n: int) -> float:
    return MP_REINTEGRATE_PER_POINT if n >= SUBSET_MIN_POINTS else MP_REINTEGRATE_PER_POINT_SMALL


def late_phase_seconds(n: int, d: int, digits: int) -> float:
    """Rough cost of ``check --late-phase``: the float64 run, then 5 units of s in mpmath."""
    scale = max(1.0, digits / MP_LATE_PHASE_DIGITS)
    if n < SUBSET_MIN_POINTS:
        return _dscale(d) * n * MP_LATE_PHASE_PER_POINT_SMALL * scale
    per = MP_REINTEGRATE_PER_POINT + (MAX_CHECKPOINTS // 2 + MP_LATE_PHASE_CHECKPOINTS) * MP_SNAPSHOT_PER_POINT
    return float64_seconds(n, d) + MP_LATE_PHASE_FIXED * scale + _dscale(d) * n * per * scale


def second_look_seconds(n: int, d: int, checkpoints: int = MAX_CHECKPOINTS // 2) -> tuple[float, float]:
    """Rough cost of the 50-digit second look of a float64 violation (aligncheck.harness.confirm): a
    re-integration past the float64 floor, plus, for a claim on the risk or the margins
    (gf.risk_to_zero, gf.risk_monotone, gf.margin_corollary, the smoothed margin, GD's late
    phase), log R and the margins at every checkpoint (typical runs record 120-400; the other
    claims need only the layers, whose metrics do not depend on n). Returns (other claims, those)."""
    layers_only = _dscale(d) * n * _reintegrate_per_point(n)
    return layers_only, layers_only + _dscale(d) * n * checkpoints * MP_SNAPSHOT_PER_POINT


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def up_front_note(n: int, d: int, *, method: str = "gf", gd_steps: int = 0, precision: int | None = None, late_phase: bool = False) -> str | None:
    """One line saying what of this ``check`` will take long and roughly how long (None when
    nothing is expected to take more than NOTE_ABOVE_SECONDS)."""
    parts = []
    if late_phase:
        seconds = late_phase_seconds(n, d, precision or MP_LATE_PHASE_DIGITS)
        if seconds > NOTE_ABOVE_SECONDS:
            parts.append(f"--late-phase continues the run in mpmath and judges every checkpoint at high precision over n = {n} points: expect about {_duration(seconds)}")
    elif precision is not None:
        per = MP_PRECISION_PER_POINT * max(1.0, precision / MP_PRECISION_DIGITS)
        seconds = _dscale(d) * n * per
        if seconds > NOTE_ABOVE_SECONDS:
            parts.append(f"--precision {precision} integrates in mpmath over all n = {n} points (~{per / 1e-3:.0f} ms per point): expect about {_duration(seconds)}")
    f64 = float64_seconds(n, d, method, gd_steps)
    if f64 > NOTE_ABOVE_SECONDS and not late_phase and precision is None:
        parts.append(f"the float64 run and its claims over n = {n} points may take up to about {_duration(f64)}")
    layers_only, with_data = second_look_seconds(n, d)
    if method == "gf" and precision is None and not late_phase and with_data > NOTE_ABOVE_SECONDS:
        parts.append(f"a claim violated in float64 is replayed at 50 digits over all {n} points before it is reported, "
                     f"which adds about {_duration(layers_only)} ({_duration(with_data)} for a claim on the risk or the margins)")
    if not parts:
        return None
    return "note: " + "; ".join(parts) + " (cost model: aligncheck.harness.cost)"

