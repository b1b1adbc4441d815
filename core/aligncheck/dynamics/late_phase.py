"""Gradient flow in high precision: a structure-preserving implicit stepper on the mpmath backend,
and the late-phase continuation of a float64 run past the float64 floor.

The flow is the same reparametrised flow as :func:`aligncheck.dynamics.flow.gradient_flow` (log-norm time,
dθ/ds = −sqrt(1 + ‖θ‖²)·ĝ, ĝ = ∇log R/‖∇log R‖), which traces the gradient-flow path. Since
any positive scalar reparametrisation traces the same path, a step is taken in the gradient
flow's own time τ (dθ/dτ = −∇_θ log R, dτ = κ ds with κ = sqrt(1 + ‖θ‖²)/‖∇_θ log R‖), and s advances
by the trapezoidal rule on ds = dτ/κ.

Each step is :func:`aligncheck.dynamics.invariant_step.step` (the balancedness is exact for any
step of its form; the module docstring has the proof and why the weights move to the step's end
point once the flow is stiff). Around it:
- Step size: step doubling (one step of μ against two of μ/2, Richardson factor 3 for order 2) on
  the TANGENTIAL part of the difference, (I − θ̂θ̂ᵀ)δθ/‖θ‖, after moving the big step along the
  flow by the difference in s of the two (their τ-steps are equal, their s-steps differ at
  second order): an error along θ only moves the point along the radial direction, which
  changes where on the path the state is, not the path.
- Precision by need: before every step the backend's precision is raised so that the largest
  margin keeps ``digits`` digits in the differences between margins (the softmax weights and so
  the direction depend on those O(1) differences); it is recorded in the run's MidpointInfo.precision_bits.

Cost: see README ("High precision").
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from aligncheck.dynamics import progress
from aligncheck.dynamics.flow import FlowField
from aligncheck.dynamics.invariant_step import STIFF_MARGIN_UNITS, step
from aligncheck.dynamics.trajectory import (
    Checkpoint,
    LatePhase,
    MidpointInfo,
    Trajectory,
    check_finite_layers,
)
from aligncheck.errors import ProblemError
from aligncheck.numerics.backends import FLOAT64, Mpmath
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import (
    Layers,
    flatten,
    parameter_count,
    unflatten,
)
from aligncheck.numerics.risk import (
    evaluate,
)

# Step-size controller: growth at most x2 per step, shrink at least to 0.2x, safety factor 0.9.
GROW, SHRINK, SAFETY = 2.0, 0.2, 0.9
# Below this step (in s) the run stops as stalled.
H_MIN = 1e-8
# The high-precision stepper solves dense N×N systems with I + T (arb approximate LU at ~200 bits,
# measured on this machine: 0.75 s at N = 310, 2.9 s at N = 600, 8.7 s at N = 1000, and a step
# takes at least ~15 of them): larger networks are refused in one line.
MAX_PARAMETERS = 1000


def check_size(n_parameters: int) -> None:
    """ProblemError unless the high-precision stepper takes a network of ``n_parameters``."""
    if n_parameters > MAX_PARAMETERS:
        raise ProblemError(f"high precision (--precision, --late-phase) solves dense Newton systems: at most {MAX_PARAMETERS} "
                           f"parameters, the network has {n_parameters}")


def _kappa(flow: FlowField, theta: np.ndarray):
    """dτ/ds = sqrt(1 + ‖θ‖²)/‖∇_θ log R‖ at θ (the rows that carry the field)."""
    gn = flow.parts(theta)[2]
    return flow.speed(theta) / gn


def gradient_flow_mp(
    Z: np.ndarray,
    loss: Loss,
    layers0: Layers,
    *,
    digits: int = 50,
    s_span: float = 5.0,
    s0: float = 0.0,
    rtol: float = 1e-6,
    h0: float = 0.05,
    checkpoint_every: float = 0.1,
    target_layer_norm: float | None = None,
    max_steps: int = 5000,
    kernels: str = "flint",
) -> Trajectory:
    """Follow gradient flow from ``layers0`` in log-norm time s ∈ [s0, s0 + s_span] at ``digits``
    significant digits (mpmath backend), or until min_k ‖W_k‖_F ≥ ``target_layer_norm``.

    ``layers0`` may be float64 arrays (converted exactly) or object arrays of mpf. ``rtol``: the
    local tangential error per step (see the module docstring; steps and times measured at 1e-6 are in
    the README, "High precision"). Checkpoints at accepted steps,
    about every ``checkpoint_every`` in s; their layers are object arrays of mpf. The Trajectory's
    backend is its Mpmath backend; ``Trajectory.integrator`` (a MidpointInfo) records rtol, the
    digits, the precision history [(s, bits)], the steps accepted and rejected, and the Newton
    tolerance. ``kernels``: where the Jacobians and the Newton solves are computed (aligncheck.numerics.backends.Mpmath:
    "flint", or "mpmath", the reference).
    """
    check_finite_layers(layers0)  # float64 or mpf entries (np.asarray(..., float) converts both)
    if not (s_span > 0 and checkpoint_every > 0 and h0 > 0 and rtol > 0):
        raise ProblemError(f"s_span, checkpoint_every, h0 and rtol must be positive, got {s_span}, {checkpoint_every}, {h0}, {rtol}")
    shapes = [np.asarray(W).shape for W in layers0]
    check_size(parameter_count(shapes))
    bk = Mpmath(digits, kernels)
    theta = bk.asarray(flatten(tuple(np.asarray(W, dtype=object) for W in layers0)))
    flow = FlowField(Z, loss, shapes, bk)
    ctx = bk.ctx
    newton_tol = ctx.mpf(10) ** (1 - digits)
    s, h = ctx.mpf(s0), float(h0)
    s_end = ctx.mpf(s0) + s_span
    bits = [(float(s), bk.ensure_headroom(flow.max_abs_margin(theta)))]
    checkpoints = [Checkpoint(float(s), unflatten(theta.copy(), shapes))]
    next_cp = float(s) + checkpoint_every
    accepted = rejected = 0
    just_rejected = False
    stiff_from = None
    reason = "s budget"
    t0 = time.perf_counter()
    if not any(g != 0 for g in flatten(evaluate(flow.Z, loss, unflatten(theta, shapes), bk).grads)):
        s_end, reason = s, "critical point: ∇R = 0 at the start (the flow stands still)"
    while s < s_end:
        if accepted + rejected >= max_steps:
            reason = f"step budget ({max_steps} steps)"
            break
        h = min(h, float(s_end - s))
        margin = flow.max_abs_margin(theta)
        alpha = 1.0 if rtol * margin >= STIFF_MARGIN_UNITS else 0.5
        kappa0 = _kappa(flow, theta)
        mu = (h / 2) * kappa0
        big = step(flow, theta, mu, alpha, newton_tol)
        half = step(flow, theta, mu / 2, alpha, newton_tol) if big is not None else None
        small = step(flow, half, mu / 2, alpha, newton_tol) if half is not None else None
        if small is None:
            rejected += 1
            h, just_rejected = h / 2, True
            if h < H_MIN:
                reason = f"stalled: Newton's iteration does not converge (or meets a singular matrix) even for steps below {H_MIN:g} (max |margin| {margin:.3g})"
                break
            continue
        k_big, k_half, k_small = _kappa(flow, big), _kappa(flow, half), _kappa(flow, small)
        h_big = mu * (1 / kappa0 + 1 / k_big)  # ds = dτ/κ, trapezoidal rule (τ-steps 2μ and μ)
        h_small = (mu / 2) * (1 / kappa0 + 2 / k_half + 1 / k_small)
        diff = small - (big + (h_small - h_big) * flow.f(big))  # both at the same s
        unit = small / bk.norm(small)
        tangential = diff - np.dot(diff, unit) * unit
        err = float(bk.norm(tangential) / (3 * bk.norm(small)))
        factor = GROW if err == 0 else min(GROW, max(SHRINK, SAFETY * (rtol / err) ** (1 / 3)))
        if err > rtol:
            rejected += 1
            h, just_rejected = h * factor, True
            continue
        h, just_rejected = h * (min(factor, 1.0) if just_rejected else factor), False  # no growth right after a rejection
        accepted += 1
        if alpha == 1.0 and stiff_from is None:
            stiff_from = float(s)
        s, theta = s + h_small, small
        p = bk.ensure_headroom(flow.max_abs_margin(theta))
        if p != bits[-1][1]:
            bits.append((float(s), p))
        layers = unflatten(theta.copy(), shapes)
        if float(s) >= next_cp or s >= s_end:
            checkpoints.append(Checkpoint(float(s), layers))
            next_cp = float(s) + checkpoint_every
            progress.report(lambda: progress.Progress("gf", bk.name, float(s), float(ctx.log(bk.norm(theta))),
                                                      float(evaluate(flow.Z, loss, layers, bk).log_risk), flow.evals, p))
        if target_layer_norm is not None and min(float(bk.norm(W.ravel())) for W in layers) >= target_layer_norm:
            if checkpoints[-1].time != float(s):
                checkpoints.append(Checkpoint(float(s), layers))
            reason = "target reached"
            break
    info = MidpointInfo(rtol=rtol, digits=digits, newton_tol=float(newton_tol), precision_bits=bits, steps_accepted=accepted, steps_rejected=rejected,
                        endpoint_weights_from_s=stiff_from)
    return Trajectory("gf", np.asarray(Z, dtype=float), loss, checkpoints, reason, flow.evals, time.perf_counter() - t0, bk, integrator=info)


def continue_in_mpmath(
    traj: Trajectory,
    *,
    digits: int = 50,
    s_span: float = 10.0,
    target_layer_norm: float | None = None,
    rtol: float = 1e-6,
    kernels: str = "flint",
) -> Trajectory:
    """``traj`` (a float64 gradient-flow run, e.g. stopped at the float64 floor) continued from its
    last checkpoint by :func:`gradient_flow_mp` for up to ``s_span`` more log-norm time.

    The result holds the float64 checkpoints, then the mpmath ones (object arrays), under the
    mpmath backend; ``Trajectory.late_phase`` records where and why it switched (the float64 run's
    stop reason and its last s) and the high-precision stepper's record.
    """
    if traj.method != "gf":
        raise ProblemError(f"late-phase continuation follows gradient flow; this run used {traj.method}")
    if traj.backend is not FLOAT64:
        raise ProblemError(f"late-phase continuation continues a float64 run; this one is on {traj.backend.name}")
    s0 = traj.checkpoints[-1].time
    mp = gradient_flow_mp(traj.Z, traj.loss, traj.final, digits=digits, s_span=s_span, s0=s0, rtol=rtol, target_layer_norm=target_layer_norm,
                          kernels=kernels)
    switch = LatePhase(switched_at_s=s0, because=traj.stop_reason, head=traj.backend.name, stepper=mp.integrator)
    reason = f"{mp.stop_reason} (continued in {mp.backend.name} from s = {s0:.4g}, where the {traj.backend.name} run stopped: {traj.stop_reason})"
    # The run's integrator stays the float64 head's: its tolerances are the looser ones, and
    # what the checks of the whole run must allow for.
    return Trajectory(
        "gf", traj.Z, traj.loss, traj.checkpoints + mp.checkpoints[1:], reason, traj.grad_evals + mp.grad_evals,
        traj.wall_time + mp.wall_time, mp.backend, integrator=traj.integrator, late_phase=switch,
    )



def extend_mp(traj: Trajectory, *, target_layer_norm: float, s_span: float = 40.0) -> Trajectory:
    """``traj`` (a gradient-flow run on the mpmath backend from the start, ``--precision``) followed
    further from its last state at the same digits and tolerance, until min_k ‖W_k‖_F ≥
    ``target_layer_norm`` (or ``s_span`` more log-norm time): the high-precision counterpart of
    aligncheck.dynamics.integrate.extend_flow, so that a --precision run goes as far as a float64 one."""
    info = traj.integrator
    if traj.method != "gf" or traj.backend is FLOAT64 or not isinstance(info, MidpointInfo) or traj.late_phase is not None:
        raise ProblemError("only a gradient-flow run on the mpmath backend from the start can be extended in high precision")
    s0 = traj.checkpoints[-1].time
    more = gradient_flow_mp(traj.Z, traj.loss, traj.final, digits=info.digits, s_span=s_span, s0=s0, rtol=info.rtol,
                            target_layer_norm=target_layer_norm, kernels=traj.backend.kernels)
    merged = MidpointInfo(rtol=info.rtol, digits=info.digits, newton_tol=info.newton_tol,
                          precision_bits=info.precision_bits + more.integrator.precision_bits,
                          steps_accepted=info.steps_accepted + more.integrator.steps_accepted,
                          steps_rejected=info.steps_rejected + more.integrator.steps_rejected,
                          endpoint_weights_from_s=info.endpoint_weights_from_s if info.endpoint_weights_from_s is not None
                          else more.integrator.endpoint_weights_from_s)
    reason = f"{more.stop_reason} (run extended from s = {s0:.4g}, where it had stopped: {traj.stop_reason})"
    return dataclasses.replace(traj, checkpoints=traj.checkpoints + more.checkpoints[1:], stop_reason=reason,
                               grad_evals=traj.grad_evals + more.grad_evals, wall_time=traj.wall_time + more.wall_time, integrator=merged)
