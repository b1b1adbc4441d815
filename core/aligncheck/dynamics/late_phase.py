"""Gradient flow in high precision: a structure-preserving implicit stepper on the mpmath backend,
and the late-phase continuation of a float64 run past the float64 floor.

The flow is the same reparametrised flow as :func:`aligncheck.dynamics.flow.gradient_flow` (log-norm time,
dθ/ds = −sqrt(1 + ‖θ‖²)·ĝ, ĝ = ∇log R/‖∇log R‖), which traces the gradient-flow path. Since
any positive scalar reparametrisation traces the same path, a step is taken in the gradient
flow's own time τ (dθ/dτ = −∇_θ log R, dτ = κ ds with κ = sqrt(1 + ‖θ‖²)/‖∇_θ log R‖), and s advances
by the trapezoidal rule on ds = dτ/κ.

The step (``_step``), with Φ(w) = log R as a function of w = w_prod ∈ R^d and J(θ) = ∂w/∂θ:

    θ1 = θ0 − 2 J(m)ᵀ u,   m = (θ0 + θ1)/2,   u = μ ∇Φ(P(x)),   x = θ0 + α(θ1 − θ0),

a τ-step of 2μ. Why this form:
- **Every update θ1 = θ0 − 2J(m)ᵀu conserves the balancedness Δ_k = W_{k+1}ᵀW_{k+1} − W_kW_kᵀ
  exactly, whatever u ∈ R^d.** With δ = θ1 − θ0 and M_k the layers of m, Δ_k(θ1) − Δ_k(θ0) =
  M_{k+1}ᵀδ_{k+1} + δ_{k+1}ᵀM_{k+1} − M_kδ_kᵀ − δ_kM_kᵀ, and δ is the gradient at m of the function
  θ ↦ −2⟨w_prod(θ), u⟩ of the product alone, for which M_{k+1}ᵀδ_{k+1} = δ_kM_kᵀ (the identity
  behind the invariance of Δ under gradient flow). So Δ is kept up to rounding, ~10^-digits
  relative, where float64's BDF keeps it to ~rtol; Lemma 2's rank and alignment gaps follow from it.
- α = 1/2 is the implicit midpoint rule (second order). It does not damp stiff components (its
  stability function tends to −1): an error off the slow manifold is reflected at every step, not
  removed. The stiffness sits in the margins' differences (the softmax weights relax at a rate ∝
  the margins), and once the tolerated local error, rtol·max|m_i|, exceeds one unit of margin
  those reflected errors are far outside the region where the weights are linear in them: the
  step-size control then sees them, not the path, and steps shrink until the run stalls
  (measured, d = 5, L = 3: Newton on the midpoint equations stalled at margins 2.75e14).
  From there on (``STIFF_MARGIN_UNITS``) α = 1: the weights are taken at the END point, which puts
  every output state on the slow manifold, like implicit Euler, while the transport J(m)ᵀ stays
  at the midpoint, so the invariants stay exact. That is first order in the weights' drift
  dq/ds, which decays like the gradient flow's convergence of q to its limit; the step doubling
  below measures what it costs (measured, d = 5: steps of 0.2-1 units of s).
- The implicit equations are solved by Newton's method on θ1 with the map w ↦ ∇Φ(w) kept exact:
  each iteration linearises the transport, (I + T(m, u)) δ = θ0 − θ1 − 2J(m)ᵀu (T = ∇²_θ⟨w_prod, u⟩,
  O(1)-conditioned: :func:`aligncheck.numerics.risk.multilinear_hessian`), so w = P(x) becomes an
  affine function of u and the d-dimensional equation w − b + K∇Φ(w) = 0 is solved by Newton's
  method in R^d, started from the previous iteration's w (a point where the softmax weights are
  right). A Newton iteration over all of θ at once linearises the softmax too, and from any
  predictor more than O(1) margin units off (every predictor, once margins pass ~1e7) its model of
  the weights is wrong by O(1): it overshot and stalled (measured). The dense N×N solve is the one
  with I + T, whose condition stays O(1).
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

import contextlib
import dataclasses
import math
import time

import flint
import numpy as np

from aligncheck.dynamics import progress
from aligncheck.dynamics.flow import FlowField
from aligncheck.dynamics.trajectory import (
    Checkpoint,
    LatePhase,
    MidpointInfo,
    Trajectory,
    check_finite_layers,
)
from aligncheck.errors import ProblemError
from aligncheck.numerics import arb_risk
from aligncheck.numerics.backends import FLOAT64, Mpmath
from aligncheck.numerics.losses import Loss, log_sum_and_weights
from aligncheck.numerics.network import (
    Layers,
    flatten,
    parameter_count,
    product,
    unflatten,
)
from aligncheck.numerics.risk import (
    evaluate,
    multilinear_hessian,
    product_jacobian,
    weight_hessian,
)

# Newton iterations allowed per step over θ, and in R^d per iteration, before the step is rejected
# and halved (measured, d = 5, L = 3 and 4: 4-6 over θ, 3-9 in R^d; a step too long for its
# linearisation fails within these and is retried at half the length, which is cheaper than
# iterating on).
MAX_NEWTON = 12
MAX_NEWTON_W = 30
# Step-size controller: growth at most x2 per step, shrink at least to 0.2x, safety factor 0.9.
GROW, SHRINK, SAFETY = 2.0, 0.2, 0.9
# Below this step (in s) the run stops as stalled.
H_MIN = 1e-8
# The weights move to the end point of the step (α = 1, see the module docstring) once
# rtol·max|m_i| ≥ STIFF_MARGIN_UNITS: the local error the controller tolerates is then a unit of
# margin or more, beyond which the softmax weights are no longer linear in it.
STIFF_MARGIN_UNITS = 1.0
# The high-precision stepper solves dense N×N systems with I + T (arb approximate LU at ~200 bits,
# measured on this machine: 0.75 s at N = 310, 2.9 s at N = 600, 8.7 s at N = 1000, and a step
# takes at least ~15 of them): larger networks are refused in one line.
MAX_PARAMETERS = 1000


def check_size(n_parameters: int) -> None:
    """ProblemError unless the high-precision stepper takes a network of ``n_parameters``."""
    if n_parameters > MAX_PARAMETERS:
        raise ProblemError(f"high precision (--precision, --late-phase) solves dense Newton systems: at most {MAX_PARAMETERS} "
                           f"parameters, the network has {n_parameters}")


class _Softmax:
    """Φ(w) = log R as a function of w ∈ R^d over the rows Z that carry the field: its gradient,
    log Σ ℓ and Hessian, and the d×d solves of the R^d Newton iteration, in the backend's numbers.
    With the arb kernels (exp and logistic losses) the n-dimensional products run as arb_mat
    (aligncheck.numerics.arb_risk) and vectors are object arrays of arb; else mpf (the reference).
    Call inside ``bk.arb_precision()`` with the arb kernels."""

    def __init__(self, flow: FlowField, Z: np.ndarray) -> None:
        bk = flow.bk
        self.flow, self.bk, self.Z = flow, bk, Z
        self.arb = bk.arb_kernels and flow.loss.name in arb_risk.LOSSES
        self.Za = flint.arb_mat(bk.to_arb(Z).tolist()) if self.arb else None

    def num(self, a):
        """An mpf (or array of them) in this problem's numbers."""
        return self.bk.to_arb(a) if self.arb else a

    def mid(self, x):
        """x's value for comparisons: an arb's midpoint (exact), an mpf itself."""
        return x.mid() if self.arb else x

    def norm(self, v: np.ndarray):
        return (v @ v).sqrt() if self.arb else self.bk.ctx.sqrt(v @ v)

    def grad(self, w: np.ndarray, hessian: bool = False) -> tuple[np.ndarray, object, np.ndarray | None]:
        """(∇Φ(w) (d,), log Σ ℓ(m_i), ∇²Φ(w) (d, d) if ``hessian`` else None); one evaluation."""
        self.flow.evals += 1
        if self.arb:
            g, lse, H = arb_risk.weights(self.flow.loss, self.Za, flint.arb_mat([[x] for x in w]), hessian)
            return np.array([g[i, 0] for i in range(len(w))], dtype=object), lse, None if H is None else np.array(H.tolist(), dtype=object)
        loss, bk, Z = self.flow.loss, self.bk, self.Z
        m = Z @ w
        lse, q = log_sum_and_weights(loss, m, bk)
        g = -(q @ Z)
        return g, lse, weight_hessian(Z, bk.exp(loss.log_ddell(m, bk) - lse), g) if hessian else None

    def solve(self, A: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """x with A x = r (d×d), or None where A is numerically singular."""
        if not self.arb:
            return self.bk.solve(A, r)
        try:
            x = flint.arb_mat(A.tolist()).solve(flint.arb_mat([[v] for v in r]), algorithm="approx")
        except ZeroDivisionError:
            return None
        x = np.array([x[i, 0] for i in range(len(r))], dtype=object)
        return x if all(v.mid().is_finite() for v in x) else None

    def max_margin(self, w: np.ndarray) -> float:
        """max_i |⟨w, z_i⟩| as a float (from the midpoints with the arb kernels)."""
        if self.arb:
            return max(abs(float(v.mid())) for v in (self.Za * flint.arb_mat([[x] for x in w])).entries())
        return float(max(abs(v) for v in self.Z @ w))


def _solve_w(sm: _Softmax, K: np.ndarray, b: np.ndarray, w: np.ndarray, tol) -> np.ndarray | None:
    """w with w − b + K∇Φ(w) = 0 (R^d) by Newton's method from ``w``, backtracking on the residual's
    norm; None if it does not converge within MAX_NEWTON_W iterations.

    The accuracy asked of w is tol/max|m_i| relative (an error δw moves the weights by ~|Zδw|), or
    the rounding level 2^10·eps·max|m_i| where that is larger (the precision's headroom covers
    the margins' size once, measured: the iteration's corrections stall at ~eps·max|m_i|).
    """
    I = np.eye(len(w), dtype=object)
    big = max(1.0, sm.max_margin(w))
    tol_w = max(float(tol) / big, 1024 * sm.bk.eps * big)
    g, _, H = sm.grad(w, hessian=True)
    r = w - b + K @ g
    rr = r @ r
    for _ in range(MAX_NEWTON_W):
        step = sm.solve(I + K @ H, -r)
        if step is None:
            return None
        if sm.mid(sm.norm(step)) <= sm.mid(tol_w * sm.norm(w)):
            return w + step
        a = 1.0
        while True:
            cand = w + a * step
            gc, _, Hc = sm.grad(cand, hessian=True)
            rc = cand - b + K @ gc
            if sm.mid(rc @ rc) <= sm.mid((1 - 1e-4 * a) * rr):
                break
            a /= 2
            if a < 1e-12:
                return None
        w, H, r, rr = cand, Hc, rc, rc @ rc
    return None


def _step(flow: FlowField, theta0: np.ndarray, mu, alpha: float, tol) -> np.ndarray | None:
    """θ1 = θ0 − 2J(m)ᵀu with u = μ∇Φ(P(θ0 + α(θ1 − θ0))) (module docstring), or None if Newton's
    iteration does not converge (or meets a numerically singular matrix: seen at starts of scale
    1e-300, and W_1 = 0 next to layers of norm 1e100). Newton starts at θ0, and the first solve
    in R^d at θ0's w_prod, whose softmax weights are right (starting both from the neighbouring
    steps' results instead was measured slower: 7,547 evaluations against 6,665 at d = 5, L = 4)."""
    bk, shapes = flow.bk, flow.shapes
    Z, keep = flow.rows(theta0)
    arb = bk.arb_kernels
    conv = bk.to_arb if arb else (lambda a: a)
    scale = bk.norm(theta0)
    theta1 = theta0.copy()
    with bk.arb_precision() if arb else contextlib.nullcontext():
        sm = _Softmax(flow, Z)
        w = sm.num(product(unflatten(theta0, shapes)))
        mu_n = sm.num(mu)
        u = mu_n * sm.grad(w)[0]
        prev = None
        for _ in range(MAX_NEWTON):
            flow.evals += 1
            m, x = (theta0 + theta1) / 2, theta0 + alpha * (theta1 - theta0)
            Lm = tuple(conv(W) for W in unflatten(m, shapes))
            Lx = tuple(conv(W) for W in unflatten(x, shapes))
            Jm = product_jacobian(Lm)
            Jx = Jm if alpha == 0.5 else product_jacobian(Lx)
            A = np.eye(len(theta0), dtype=object) + multilinear_hessian(Lm, conv(u) if arb and not sm.arb else u)
            X = bk.solve_columns(A, np.column_stack([conv(theta0 - theta1), Jm.T]))
            if X is None:
                return None
            K = (2 * alpha * conv(mu)) * (Jx @ X[:, 1:])
            b = product(Lx) + alpha * (Jx @ X[:, 0])
            if arb and not sm.arb:
                K, b = bk.from_arb(K), bk.from_arb(b)
            w = _solve_w(sm, K, b, w, tol)
            if w is None:
                return None
            u = mu_n * sm.grad(w)[0]
            delta = X[:, 0] - 2 * (X[:, 1:] @ (conv(u) if arb and not sm.arb else u))
            delta = bk.from_arb(delta) if arb else delta
            theta1 = theta1 + delta
            size = bk.norm(delta)
            if size <= tol * scale or (prev is not None and size > prev / 2 and prev <= math.sqrt(tol) * scale):
                break  # converged, or at the rounding level: stopped contracting
            prev = size
        else:
            return None
    if keep is not None:  # the rows chosen at θ0 must still carry the field at θ1
        _, keep1 = flow.rows(theta1)
        if keep1 is None or not set(keep1.tolist()) <= set(keep.tolist()):
            return None
    return theta1


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
        big = _step(flow, theta, mu, alpha, newton_tol)
        half = _step(flow, theta, mu / 2, alpha, newton_tol) if big is not None else None
        small = _step(flow, half, mu / 2, alpha, newton_tol) if half is not None else None
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
