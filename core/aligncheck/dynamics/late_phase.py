"""Gradient flow in high precision: an implicit-midpoint stepper on the mpmath backend, and the
late-phase continuation of a float64 run past the float64 floor.

The flow is the same reparametrised flow as :func:`aligncheck.dynamics.flow.gradient_flow` (log-norm time,
dθ/ds = −sqrt(1 + ‖θ‖²)·ĝ, ĝ = ∇log R/‖∇log R‖), which traces the gradient-flow path.

Why this integrator:
- The flow is stiff (the softmax weights over the support vectors relax at a rate ∝ the margins),
  so the method must be implicit; mpmath has no stiff solver (its Taylor solver is explicit).
- The implicit midpoint rule (the one-stage Gauss method) conserves every quadratic invariant
  of the vector field exactly, up to the Newton residual and rounding. The balancedness
  Δ_k = W_{k+1}ᵀW_{k+1} − W_kW_kᵀ is such an invariant of the flow and of every scalar
  reparametrisation of it (∇Δ·F = c(θ)·∇Δ·f = 0 pointwise), so it is kept to ~10^-digits where
  float64's BDF keeps it to ~rtol. Lemma 2's rank and alignment gaps follow from it.
- Step size: step doubling (one step of h against two of h/2, Richardson factor 3 for order 2)
  on the TANGENTIAL part of the difference, (I − θ̂θ̂ᵀ)δθ/‖θ‖: an error along θ only moves the
  point along the radial direction, which changes where on the path the state is, not the path.
  The two half steps are kept (each is a midpoint step, so the invariants stay conserved).
- Newton's method with the exact Jacobian (:func:`aligncheck.numerics.risk.hessian`), solved with mpmath's LU
  at the working precision, to a residual of 10^-(digits−1)·‖θ‖.
- The midpoint rule does not damp stiff components (its stability function tends to −1): once
  the flow is stiff (‖J‖_F ≥ 1e12), every accepted step is followed by one tiny implicit Euler
  step (h = 10/‖J‖_F ≤ 1e-13) that damps them while changing the invariants by ≤ 1e-26 relative
  (see :func:`_damping_step`).
- Precision by need: before every step the backend's precision is raised so that the largest
  margin keeps ``digits`` digits in the differences between margins (the softmax weights and so
  the direction depend on those O(1) differences); it is recorded in the run's MidpointInfo.precision_bits.

Cost: see README ("High precision"); measured on d = 3, L = 2 (12 parameters), 50 digits.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from aligncheck.dynamics import progress
from aligncheck.dynamics.flow import FlowField
from aligncheck.dynamics.trajectory import Checkpoint, LatePhase, MidpointInfo, Trajectory, check_finite_layers
from aligncheck.errors import ProblemError
from aligncheck.numerics.backends import FLOAT64, Mpmath
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers, flatten, parameter_count, unflatten
from aligncheck.numerics.risk import evaluate

# Newton iterations allowed per implicit step before the step is rejected and halved.
MAX_NEWTON = 12
# Step-size controller: growth at most x2 per step, shrink at least to 0.2x, safety factor 0.9.
GROW, SHRINK, SAFETY = 2.0, 0.2, 0.9
# Below this step (in s) the run stops as stalled. Measured (d = 3, L = 2, 50 digits) without the
# damping step below: once the margins passed ~1e14, Newton's iteration for the midpoint
# equation stopped converging at any step (the Jacobian, checked against finite differences to
# 1e-31, has eigenvalues ~1e15; undamped stiff components left over from earlier steps put the
# iteration out of its basin). With damping the same run went on to margins ~1e20.
H_MIN = 1e-8
# Damping: one implicit Euler step of DAMP/‖J‖_F (at most DAMP_MAX_STEP) after every accepted
# step (see _damping_step).
DAMP = 10.0
DAMP_MAX_STEP = 1e-13
DAMP_FROM = 1e12
# The high-precision stepper forms and solves dense N×N Newton systems (arb approximate LU at
# ~200 bits, measured on this machine: 0.75 s at N = 310, 2.9 s at N = 600, 8.7 s at N = 1000, and a
# step takes at least five solves and Jacobians): larger networks are refused in one line.
MAX_PARAMETERS = 1000


def check_size(n_parameters: int) -> None:
    """ProblemError unless the high-precision stepper takes a network of ``n_parameters``."""
    if n_parameters > MAX_PARAMETERS:
        raise ProblemError(f"high precision (--precision, --late-phase) solves dense Newton systems: at most {MAX_PARAMETERS} "
                           f"parameters, the network has {n_parameters}")


def _midpoint_step(flow: FlowField, theta0: np.ndarray, h, tol) -> np.ndarray | None:
    """One implicit-midpoint step θ1 = θ0 + h F((θ0 + θ1)/2), or None if Newton did not converge
    (or met a numerically singular matrix, Mpmath.shifted_solve: seen at starts of scale 1e-300,
    where (c/‖G‖)·H is ~1e300 against the identity, and W_1 = 0 next to layers of norm 1e100).

    Predictor: the linearly implicit Euler step (I − hJ(θ0))^{-1} h F(θ0), stable for stiff modes.
    """
    bk = flow.bk
    predicted = bk.shifted_solve(flow.jac(theta0), h, h * flow.f(theta0))
    if predicted is None:
        return None
    theta1 = theta0 + predicted
    scale = bk.norm(theta0)
    prev = None
    for _ in range(MAX_NEWTON):
        mid = (theta0 + theta1) / 2
        G = theta1 - theta0 - h * flow.f(mid)
        delta = bk.shifted_solve(flow.jac(mid), h / 2, G)
        if delta is None:
            return None
        theta1 = theta1 - delta
        size = bk.norm(delta)
        if size <= tol * scale:
            return theta1
        if prev is not None and size > prev / 2 and prev <= math.sqrt(tol) * scale:
            return theta1  # at the rounding level: stopped contracting
        prev = size
    return None


def _damping_step(flow: FlowField, theta: np.ndarray, tol) -> tuple[np.ndarray, object]:
    """One implicit Euler step θ+ = θ + h F(θ+) with h = min(DAMP/‖J‖_F, DAMP_MAX_STEP) where
    ‖J‖_F ≥ DAMP_FROM, else (or if Newton does not converge, or meets a singular matrix) θ itself;
    returns (θ+, h).

    The midpoint rule does not damp stiff components (its stability function tends to −1), so
    errors off the slow manifold persist and, as the stiffness grows with the margins, push the
    next Newton iteration out of its basin. Implicit Euler damps them by 1/(1 + hλ) ≈ 1/DAMP.
    It does not conserve a quadratic invariant Q: Q(θ+) − Q(θ) = −h² FᵀCF exactly (Q = θᵀCθ,
    θᵀCF = 0), relative h² ≤ 1e-26 at h ≤ DAMP_MAX_STEP = 1e-13; so it is used only where the
    flow is stiff (‖J‖_F ≥ 1e12, margins ≳ 1e12), and the invariants stay exact before that.
    """
    bk = flow.bk
    J = flow.jac(theta)
    size = bk.frobenius(J)
    if size < DAMP_FROM:  # not stiff enough to need it: keep the invariants exact
        return theta, bk.ctx.mpf(0)
    h = min(bk.ctx.mpf(DAMP) / size, bk.ctx.mpf(DAMP_MAX_STEP))
    predicted = bk.shifted_solve(J, h, h * flow.f(theta))
    if predicted is None:
        return theta, bk.ctx.mpf(0)
    new = theta + predicted
    scale = bk.norm(theta)
    for _ in range(MAX_NEWTON):
        G = new - theta - h * flow.f(new)
        delta = bk.shifted_solve(flow.jac(new), h, G)
        if delta is None:
            return theta, bk.ctx.mpf(0)
        new = new - delta
        if bk.norm(delta) <= tol * scale:
            return new, h
    return theta, bk.ctx.mpf(0)


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
    damp: bool = True,
    kernels: str = "flint",
) -> Trajectory:
    """Follow gradient flow from ``layers0`` in log-norm time s ∈ [s0, s0 + s_span] at ``digits``
    significant digits (mpmath backend), or until min_k ‖W_k‖_F ≥ ``target_layer_norm``.

    ``layers0`` may be float64 arrays (converted exactly) or object arrays of mpf. ``rtol``: the
    local tangential error per step (see the module docstring; measured on d = 3, L = 2: 1e-6 takes
    17 steps and 4 s for Δs = 3 from ‖W‖ ≈ 28, 1e-8 takes 111 steps and 25 s). Checkpoints at accepted steps,
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
    s, h = ctx.mpf(s0), ctx.mpf(h0)
    s_end = ctx.mpf(s0) + s_span
    bits = [(float(s), bk.ensure_headroom(flow.max_abs_margin(theta)))]
    checkpoints = [Checkpoint(float(s), unflatten(theta.copy(), shapes))]
    next_cp = float(s) + checkpoint_every
    accepted = rejected = 0
    reason = "s budget"
    t0 = time.perf_counter()
    if not any(g != 0 for g in flatten(evaluate(flow.Z, loss, unflatten(theta, shapes), bk).grads)):
        s_end, reason = s, "critical point: ∇R = 0 at the start (the flow stands still)"
    while s < s_end:
        if accepted + rejected >= max_steps:
            reason = f"step budget ({max_steps} steps)"
            break
        h = min(h, s_end - s)
        big = _midpoint_step(flow, theta, h, newton_tol)
        half = _midpoint_step(flow, theta, h / 2, newton_tol)
        small = _midpoint_step(flow, half, h / 2, newton_tol) if half is not None else None
        if big is None or small is None:
            rejected += 1
            h = h / 2
            if h < H_MIN:
                reason = f"stalled: Newton's iteration does not converge (or meets a singular matrix) even for steps below {H_MIN:g} (max |margin| {flow.max_abs_margin(theta):.3g})"
                break
            continue
        diff = small - big
        unit = small / bk.norm(small)
        tangential = diff - np.dot(diff, unit) * unit
        err = float(bk.norm(tangential) / (3 * bk.norm(small)))
        factor = GROW if err == 0 else min(GROW, max(SHRINK, SAFETY * (rtol / err) ** (1 / 3)))
        if err > rtol:
            rejected += 1
            h = h * factor
            continue
        accepted += 1
        s, theta = s + h, small
        h = h * factor
        if damp:
            theta, h_damp = _damping_step(flow, theta, newton_tol)
            s = s + h_damp
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
    info = MidpointInfo(rtol=rtol, digits=digits, newton_tol=float(newton_tol), precision_bits=bits, steps_accepted=accepted, steps_rejected=rejected)
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
                          steps_rejected=info.steps_rejected + more.integrator.steps_rejected)
    reason = f"{more.stop_reason} (run extended from s = {s0:.4g}, where it had stopped: {traj.stop_reason})"
    return dataclasses.replace(traj, checkpoints=traj.checkpoints + more.checkpoints[1:], stop_reason=reason,
                               grad_evals=traj.grad_evals + more.grad_evals, wall_time=traj.wall_time + more.wall_time, integrator=merged)
