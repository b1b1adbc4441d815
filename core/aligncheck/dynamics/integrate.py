"""The float64 gradient-flow integrator: the flow field of :mod:`aligncheck.dynamics.flow`
followed into the late phase.

The reparametrised
flow is stiff (the softmax weights over the support vectors relax at a rate that grows
with the margins), so it is integrated with scipy's BDF (implicit, variable order,
error-controlled) with the exact Jacobian from :func:`aligncheck.numerics.risk.hessian`. Measured: LSODA
and BDF with finite-difference Jacobians stall once margins pass ~1e8 (a finite-difference
step then moves the softmax weights); with the exact Jacobian BDF reaches margins of 1e10 in
about 2,000 evaluations. Checkpoints are recorded at equal steps in s, i.e. log-spaced in ‖θ‖.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
from scipy.integrate import BDF
from scipy.linalg import LinAlgWarning
from threadpoolctl import threadpool_limits

from aligncheck.dynamics import progress
from aligncheck.dynamics.float_range import beyond_range
from aligncheck.dynamics.flow import FlowField
from aligncheck.dynamics.low_rank_bdf import LowRankBDF
from aligncheck.dynamics.trajectory import Checkpoint, FlowInfo, Trajectory, check_finite_layers
from aligncheck.errors import ProblemError
from aligncheck.numerics.backends import FLOAT64
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.metrics import angle_between
from aligncheck.numerics.network import Layers, flatten, unflatten
from aligncheck.numerics.risk import evaluate

# Below this, ‖∇log R‖·sqrt(1 + ‖θ‖²) (the relative rate of change of log R) is treated as zero:
# the flow has (numerically) reached a critical point, e.g. the finite minimiser on
# non-separable data (measured: it falls from 2e-2 to 6e-9 within s = 0.16 on XOR data, while
# separable planted runs, depths 1-6, every init, stay above 0.19).
CRITICAL_GRADIENT = 1e-8
_CRITICAL_WHAT = f"‖∇log R‖·sqrt(1+‖θ‖²) < {CRITICAL_GRADIENT:g}"

# gradient_flow's default evaluation budget (a cost bound: see max_evals, and aligncheck.harness.cost).
MAX_FLOW_EVALS = 20_000

# Up to this many parameters BDF gets the exact dense Jacobian (N×N, one LU per update); above it only
# the rank-(d+1) part that carries the stiffness (FlowField.jac_low_rank, Woodbury solves: O(N·d)
# memory, nothing N×N formed). Measured on 24 planted runs (N = 12..310, exp and logistic, Gaussian,
# w1zero and balanced starts down to scale 2^-6, to an angle of 1e-6 with ū): the low-rank Jacobian
# took within 3% of the exact one's evaluations, and at N = 930 (breast cancer, depth 2) the whole
# flow went from 137 s to 8 s for the same 20,000 evaluations. 400 keeps every network of the
# conjecture strategies (d ≤ 6, widths ≤ 8, depth ≤ 6: N ≤ 312) on the exact Jacobian their checks
# were calibrated with, bit for bit.
DENSE_JACOBIAN_MAX = 400
JACOBIANS = ("auto", "dense", "low_rank")


def gradient_flow(
    Z: np.ndarray,
    loss: Loss,
    layers0: Layers,
    *,
    target_log_risk: float = -math.log(1e100) - 1.0,
    target_angle: float | None = None,
    u_bar: np.ndarray | None = None,
    target_layer_norm: float | None = None,
    s_max: float = 40.0,
    checkpoint_every: float = 0.05,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    margin_floor: float = 1e-6,
    max_evals: int = MAX_FLOW_EVALS,
    jacobian: str = "auto",
) -> Trajectory:
    """Follow gradient flow from ``layers0`` in log-norm time until a stop condition.

    Stops at the first of: the target, i.e. log R ≤ ``target_log_risk`` and, where given, the
    angle between w_prod and ``u_bar`` ≤ ``target_angle`` and min_k ‖W_k‖_F ≥ ``target_layer_norm``;
    s = ``s_max``; the float64 floor, eps·max|m_i| ≥ ``margin_floor`` (margins carry rounding
    errors of eps·|m|, which perturb the softmax weights and so the direction of the flow; past
    1e-6 BDF's error control starts to stall on that noise: measured, 10x more evaluations per unit s);
    ∇R = 0 at the start (a critical point: the flow stands still); more than ``max_evals``
    gradient evaluations (Jacobians count as one each).
    ``jacobian``: "dense" (exact, N×N), "low_rank" (its stiff part only, see
    :meth:`FlowField.jac_low_rank`) or "auto" (dense up to DENSE_JACOBIAN_MAX parameters).
    ``rtol``/``atol``: the integrator's local error tolerances on θ (atol relative to max(1, ‖θ(0)‖)).
    """
    check_finite_layers(layers0)
    if target_angle is not None and u_bar is None:
        raise ProblemError("target_angle needs u_bar, the direction the angle is measured to")
    if not (s_max > 0 and checkpoint_every > 0):
        raise ProblemError(f"s_max and checkpoint_every must be positive, got {s_max}, {checkpoint_every}")
    shapes = [W.shape for W in layers0]
    theta0 = flatten(layers0).astype(float)
    if jacobian not in JACOBIANS:
        raise ProblemError(f"jacobian must be one of {', '.join(JACOBIANS)}, got {jacobian!r}")
    low_rank = jacobian == "low_rank" or (jacobian == "auto" and theta0.size > DENSE_JACOBIAN_MAX)
    n0 = max(1.0, float(np.linalg.norm(theta0)))
    field = FlowField(Z, loss, shapes)  # every evaluation counts, stop checks included

    def target_met(theta) -> bool:
        layers = unflatten(theta, shapes)
        ev = field.evaluate(theta)
        if float(ev.log_risk) > target_log_risk:
            return False
        if target_angle is not None and angle_between(ev.w_prod, u_bar) > target_angle:
            return False
        return target_layer_norm is None or min(float(np.linalg.norm(W)) for W in layers) >= target_layer_norm

    def outside(theta) -> bool:
        return beyond_range(unflatten(theta, shapes), z_norm) is not None

    def at_floor(theta) -> bool:
        ev = field.evaluate(theta)
        return FLOAT64.eps * float(np.max(np.abs(ev.margins))) >= margin_floor

    z_norm = float(np.max(np.linalg.norm(Z, axis=1)))
    _, g0 = field.grad(theta0)
    checkpoints = [Checkpoint(0.0, unflatten(theta0.copy(), shapes))]
    info = FlowInfo(rtol=rtol, atol=atol, s_max=s_max, checkpoint_every=checkpoint_every)
    if not np.any(g0):
        return Trajectory("gf", Z, loss, checkpoints, "critical point: ∇R(W(0)) = 0", field.evals, 0.0, integrator=info)
    floor_reason = f"float64 floor: eps·max|m| reached {margin_floor:g}"
    if at_floor(theta0):
        # Already past the floor (margins ≥ 4.5e9 at the start, e.g. huge data or init scales):
        # nothing float64 can integrate, and no Jacobian of margins that large is formed.
        return Trajectory("gf", Z, loss, checkpoints, floor_reason + " at the start", field.evals, 0.0, integrator=info)
    if FLOAT64.norm(g0) * field.speed(theta0) < CRITICAL_GRADIENT:
        # The stop test of every accepted step, applied at s = 0: a start this close to a critical
        # point (e.g. layers of size 1e-8 or 1e-300 at depth 2, next to the saddle at W = 0) would
        # stop after the first step anyway, and that step is not accurate relative to the state
        # (the absolute atol 1e-12 against layers of 1e-8): measured, a false gf.balancedness
        # violation (drift 1.5e-6 > 1e-7) from init scale 1e-8 at depth 2.
        return Trajectory("gf", Z, loss, checkpoints, f"approaching a critical point at the start: {_CRITICAL_WHAT}", field.evals, 0.0, integrator=info)
    t0 = time.perf_counter()
    # One BLAS thread: the matrices are small (N ≤ a few hundred), and OpenBLAS's threads made
    # the integrator 2-3x slower and its evaluation counts machine-dependent (measured, d = 10).
    with threadpool_limits(limits=1, user_api="blas"):
        stepper, jac = (LowRankBDF, field.jac_low_rank) if low_rank else (BDF, field.jac)
        solver = stepper(lambda s, theta: field.f(theta), 0.0, theta0, s_max, rtol=rtol, atol=atol * n0, jac=lambda s, theta: jac(theta))
        next_cp = checkpoint_every
        # Step by step: checkpoints come from the dense output at equal steps of s; the stop
        # conditions are tested at every accepted step and located inside it by bisection.
        while True:
            # A trial step that BDF then rejects may overflow (L = 1 grows like e^s); the accepted
            # state is checked for finiteness below, so these intermediate warnings are noise.
            with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("error", LinAlgWarning)
                try:
                    msg = solver.step()
                except ValueError as exc:
                    # scipy's LU solve refuses a non-finite Newton iterate (a trial step that
                    # overflowed, e.g. W_1 = 0 next to layers of norm 1e100, where the Jacobian is
                    # ~1e197) instead of rejecting the step; BDF keeps its last accepted state.
                    msg, failed = f"a trial step produced non-finite values ({exc})", True
                except LinAlgWarning as exc:
                    # An exactly singular Newton matrix I − hγJ: Jacobian entries so large that
                    # the identity is lost to rounding (rows of norm 1e-149 next to 1e140: ~1e280).
                    msg, failed = f"singular Newton matrix ({exc})", True
                else:
                    failed = solver.status == "failed"
            if failed:
                s_end, theta_end, reason = solver.t, solver.y, f"integrator failed: {msg}"
            else:
                dense = solver.dense_output()
                s_end, theta_end, reason = solver.t, solver.y, None
                for met, why in ((target_met, "target reached"), (at_floor, floor_reason)):
                    if met(solver.y):
                        s_end = _first_true(lambda s: met(dense(s)), solver.t_old, solver.t)
                        theta_end, reason = dense(s_end), why
                        break
                if outside(theta_end):
                    # The run ends at the last state inside the float64 range (RANGE_TOP), whose
                    # metrics are all finite; a located target or floor beyond it is not reached.
                    s_end = _bracket(lambda s: outside(dense(s)), solver.t_old, s_end)[0]
                    theta_end, reason = dense(s_end), f"float64 range: {beyond_range(unflatten(solver.y, shapes), z_norm)}"
                if reason is None:
                    _, g_end = field.grad(solver.y)
                    if not np.all(np.isfinite(solver.y)) or np.linalg.norm(g_end) * field.speed(solver.y) < CRITICAL_GRADIENT:
                        # The normalised direction ∇R/‖∇R‖ is undefined at a critical point: the
                        # reparametrised flow would cross it where gradient flow only approaches it.
                        reason = f"approaching a critical point: {_CRITICAL_WHAT}"
                if reason is None and field.evals > max_evals:
                    reason = f"evaluation budget of {max_evals} gradient evaluations exhausted"
                if reason is None and solver.status == "finished":
                    reason = "s_max reached"
                while next_cp < s_end - 1e-9 * checkpoint_every:
                    checkpoints.append(Checkpoint(float(next_cp), unflatten(dense(next_cp).copy(), shapes)))
                    next_cp += checkpoint_every
                if progress.active():  # evaluated outside the field: the run's evaluation count is unchanged
                    progress.report(lambda: progress.Progress("gf", "float64", float(solver.t), math.log(float(np.linalg.norm(solver.y))),
                                                              float(evaluate(Z, loss, unflatten(solver.y, shapes)).log_risk), field.evals))
            if reason is not None:
                break
    if s_end > checkpoints[-1].time:
        checkpoints.append(Checkpoint(float(s_end), unflatten(np.array(theta_end), shapes)))
    return Trajectory("gf", Z, loss, checkpoints, reason, field.evals, time.perf_counter() - t0, integrator=info)


def extend_flow(traj: Trajectory, **options) -> Trajectory:
    """``traj`` (a float64 gradient-flow run) followed further: :func:`gradient_flow` from its
    last state with ``options`` (e.g. a larger target_layer_norm), its checkpoints appended with
    the log-norm time continued. The stop reason is the continuation's, saying from where."""
    if traj.method != "gf" or traj.backend is not FLOAT64 or not isinstance(traj.integrator, FlowInfo):
        raise ProblemError(f"only a float64 gradient-flow run can be extended, not {traj.method} on {traj.backend.name}")
    s0 = traj.checkpoints[-1].time
    more = gradient_flow(traj.Z, traj.loss, traj.final, **{"rtol": traj.integrator.rtol, "atol": traj.integrator.atol, **options})
    cps = traj.checkpoints + [dataclasses.replace(cp, time=s0 + cp.time) for cp in more.checkpoints[1:]]
    reason = f"{more.stop_reason} (run extended from s = {s0:.4g}, where it had stopped: {traj.stop_reason})"
    return dataclasses.replace(traj, checkpoints=cps, stop_reason=reason, grad_evals=traj.grad_evals + more.grad_evals, wall_time=traj.wall_time + more.wall_time)


def _first_true(pred, a: float, b: float, rel: float = 1e-12) -> float:
    """The first s in (a, b] where ``pred`` holds, by bisection (pred(b) is true; the conditions
    tested are monotone along the flow to within the step)."""
    return _bracket(pred, a, b, rel)[1]


def _bracket(pred, a: float, b: float, rel: float = 1e-12) -> tuple[float, float]:
    """(a', b') with a ≤ a' < b' ≤ b, b' − a' ≤ rel·max(1, |b|), pred false at a' (or a' = a) and
    true at b', by bisection (pred(b) is true)."""
    while b - a > rel * max(1.0, abs(b)):
        mid = 0.5 * (a + b)
        if pred(mid):
            b = mid
        else:
            a = mid
    return a, b
