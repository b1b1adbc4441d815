"""Trajectories: gradient descent with a given step, and gradient flow followed into the late phase.

Gradient flow dW/dt = −∇R is integrated in *log-norm time* s, in which the path is the
same but ‖dθ/ds‖ = ‖θ‖ (θ = all layers as one vector):

    dθ/ds = −‖θ‖ · ∇R(θ)/‖∇R(θ)‖ = −‖θ‖ · ∇log R(θ)/‖∇log R(θ)‖.

Any positive scalar reparametrisation traces the same path, so every path claim
(directions, alignment, rank, the balancedness invariants, Lemma 2) can be judged on it,
while log‖θ‖ grows about linearly in s instead of like log log t (the speed is
sqrt(1 + ‖θ‖²) rather than ‖θ‖ so that a start at θ = 0 still moves). The reparametrised
flow is stiff (the softmax weights over the support vectors relax at a rate that grows
with the margins), so it is integrated with scipy's BDF (implicit, variable order,
error-controlled) with the exact Jacobian from :func:`core.risk.hessian`. Measured: LSODA
and BDF with finite-difference Jacobians stall once margins pass ~1e8 (a finite-difference
step then moves the softmax weights); with the exact Jacobian BDF reaches margins of 1e10 in
about 2,000 evaluations. Checkpoints are recorded at equal steps in s, i.e. log-spaced in ‖θ‖.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.integrate import BDF
from scipy.linalg import LinAlgWarning
from threadpoolctl import threadpool_limits

from .backends import FLOAT64, Backend, format_from_log, log_norm, robust_norm
from .errors import ProblemError
from .losses import Loss
from .network import Layers, flatten, unflatten
from .metrics import angle_between
from .risk import evaluate, hessian, risk_gradients


# Below this, ‖∇log R‖·sqrt(1 + ‖θ‖²) (the relative rate of change of log R) is treated as zero:
# the flow has (numerically) reached a critical point, e.g. the finite minimiser on
# non-separable data (measured: it falls from 2e-2 to 6e-9 within s = 0.16 on XOR data, while
# separable planted runs, depths 1-6, every init, stay above 0.19).
CRITICAL_GRADIENT = 1e-8
_CRITICAL_WHAT = f"‖∇log R‖·sqrt(1+‖θ‖²) < {CRITICAL_GRADIENT:g}"

# GD runs (constant step and the paper's rule) take at most this many steps: a paper-rule run
# keeps a per-step log (five Python floats per step before it becomes arrays, ~160 bytes: 160 MB
# at 10^6 steps) and a step costs 30-65 µs (10^6 steps: about a minute; 10^9 would be 8-18 hours).
# The conjecture runs use 30,000-50,000 steps.
MAX_GD_STEPS = 10**6

# gradient_flow's default evaluation budget (a cost bound: see max_evals, and core.cost).
MAX_FLOW_EVALS = 20_000

# The exact Jacobian is dense, N×N for N parameters: 4000² float64 = 128 MB, and one LU per
# Jacobian update; larger networks would exhaust memory rather than fail cleanly.
MAX_FLOW_PARAMETERS = 4000


@dataclass(frozen=True)
class Checkpoint:
    """One recorded iterate. ``time``: s (log-norm time) for gradient flow, the step index for GD.

    For GD, ``next_layers`` is W(t+1) and ``step_size`` is η_t, so one-step identities can be checked.
    """

    time: float
    layers: Layers
    next_layers: Layers | None = None
    step_size: float | None = None


@dataclass
class Trajectory:
    """A recorded run: method ("gf" or "gd"), data Z (n, d), loss, checkpoints in time order."""

    method: str
    Z: np.ndarray
    loss: Loss
    checkpoints: list[Checkpoint]
    stop_reason: str
    grad_evals: int
    wall_time: float
    backend: str = "float64"
    settings: dict = field(default_factory=dict)

    @property
    def initial(self) -> Layers:
        return self.checkpoints[0].layers

    @property
    def final(self) -> Layers:
        return self.checkpoints[-1].layers


def _check_layers(layers: Layers) -> None:
    for k, W in enumerate(layers, 1):
        if not np.all(np.isfinite(np.asarray(W, dtype=float))):
            raise ProblemError(f"layer W_{k} has a NaN or infinite entry")


# ---------------------------------------------------------------------------
# the float64 engine's range: which states it accepts (W(0), every GD iterate)

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
    max_i ‖z_i‖ of the data. Cheap: one pass over each layer where the norms are moderate."""
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
) -> Trajectory:
    """Follow gradient flow from ``layers0`` in log-norm time until a stop condition.

    Stops at the first of: the target, i.e. log R ≤ ``target_log_risk`` and, where given, the
    angle between w_prod and ``u_bar`` ≤ ``target_angle`` and min_k ‖W_k‖_F ≥ ``target_layer_norm``;
    s = ``s_max``; the float64 floor, eps·max|m_i| ≥ ``margin_floor`` (margins carry rounding
    errors of eps·|m|, which perturb the softmax weights and so the direction of the flow; past
    1e-6 BDF's error control starts to stall on that noise: measured, 10x more evaluations per unit s);
    ∇R = 0 at the start (a critical point: the flow stands still); more than ``max_evals``
    gradient evaluations (Jacobians count as one each).
    ``rtol``/``atol``: the integrator's local error tolerances on θ (atol relative to max(1, ‖θ(0)‖)).
    """
    _check_layers(layers0)
    if target_angle is not None and u_bar is None:
        raise ProblemError("target_angle needs u_bar, the direction the angle is measured to")
    if not (s_max > 0 and checkpoint_every > 0):
        raise ProblemError(f"s_max and checkpoint_every must be positive, got {s_max}, {checkpoint_every}")
    shapes = [W.shape for W in layers0]
    theta0 = flatten(layers0).astype(float)
    if theta0.size > MAX_FLOW_PARAMETERS:
        raise ProblemError(f"gradient flow uses a dense {theta0.size}x{theta0.size} Jacobian; networks with more than {MAX_FLOW_PARAMETERS} parameters are not supported")
    n0 = max(1.0, float(np.linalg.norm(theta0)))
    evals = 0
    evaluated = _LastEvaluation(Z, loss, shapes)

    def counted(theta):
        """evaluate() at θ; every call counts, stop checks included (``Trajectory.grad_evals``),
        also when it is answered from memory (see _LastEvaluation), so the evaluation budget and
        the reported counts mean what they did."""
        nonlocal evals
        evals += 1
        return evaluated(theta)

    def grad(theta):
        ev = counted(theta)
        return ev, flatten(ev.grads)

    def rhs(s, theta):
        _, g = grad(theta)
        # robust_norm: a tiny but representable gradient (layers of size 1e-300 at depth 2) must
        # not have its norm underflow to 0 (numpy's norm squares the entries).
        gn = robust_norm(g)
        return -speed(theta) * (g / gn) if gn > 0 else np.zeros_like(theta)

    def jac(s, theta):
        # F = −c ĝ with c = speed(θ), ĝ = G/‖G‖, G = ∇θ log R, H = ∇²θ log R:
        # ∂F/∂θ = −ĝ (∇c)^T − (c/‖G‖)(I − ĝĝ^T) H, with ∇c = θ/c.
        ev, g = grad(theta)
        gn = robust_norm(g)
        gh = g / gn
        c = speed(theta)
        H = hessian(Z, loss, unflatten(theta, shapes), ev=ev)
        return -np.outer(gh, theta) / c - (c / gn) * (H - np.outer(gh, gh @ H))

    def target_met(theta) -> bool:
        layers = unflatten(theta, shapes)
        ev = counted(theta)
        if float(ev.log_risk) > target_log_risk:
            return False
        if target_angle is not None and angle_between(ev.w_prod, u_bar) > target_angle:
            return False
        return target_layer_norm is None or min(float(np.linalg.norm(W)) for W in layers) >= target_layer_norm

    def outside(theta) -> bool:
        return beyond_range(unflatten(theta, shapes), z_norm) is not None

    def at_floor(theta) -> bool:
        ev = counted(theta)
        return FLOAT64.eps * float(np.max(np.abs(ev.margins))) >= margin_floor

    z_norm = float(np.max(np.linalg.norm(Z, axis=1)))
    _, g0 = grad(theta0)
    checkpoints = [Checkpoint(0.0, unflatten(theta0.copy(), shapes))]
    settings = {"rtol": rtol, "atol": atol, "s_max": s_max, "checkpoint_every": checkpoint_every, "integrator": "scipy BDF, analytic Jacobian"}
    if not np.any(g0):
        return Trajectory("gf", Z, loss, checkpoints, "critical point: ∇R(W(0)) = 0", evals, 0.0, settings=settings)
    floor_reason = f"float64 floor: eps·max|m| reached {margin_floor:g}"
    if at_floor(theta0):
        # Already past the floor (margins ≥ 4.5e9 at the start, e.g. huge data or init scales):
        # nothing float64 can integrate, and no Jacobian of margins that large is formed.
        return Trajectory("gf", Z, loss, checkpoints, floor_reason + " at the start", evals, 0.0, settings=settings)
    if robust_norm(g0) * speed(theta0) < CRITICAL_GRADIENT:
        # The stop test of every accepted step, applied at s = 0: a start this close to a critical
        # point (e.g. layers of size 1e-8 or 1e-300 at depth 2, next to the saddle at W = 0) would
        # stop after the first step anyway, and that step is not accurate relative to the state
        # (the absolute atol 1e-12 against layers of 1e-8): measured, a false gf.balancedness
        # violation (drift 1.5e-6 > 1e-7) from init scale 1e-8 at depth 2.
        return Trajectory("gf", Z, loss, checkpoints, f"approaching a critical point at the start: {_CRITICAL_WHAT}", evals, 0.0, settings=settings)
    t0 = time.perf_counter()
    # One BLAS thread: the matrices are small (N ≤ a few hundred), and OpenBLAS's threads made
    # the integrator 2-3x slower and its evaluation counts machine-dependent (measured, d = 10).
    with threadpool_limits(limits=1, user_api="blas"):
        solver = BDF(rhs, 0.0, theta0, s_max, rtol=rtol, atol=atol * n0, jac=jac)
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
                    _, g_end = grad(solver.y)
                    if not np.all(np.isfinite(solver.y)) or np.linalg.norm(g_end) * speed(solver.y) < CRITICAL_GRADIENT:
                        # The normalised direction ∇R/‖∇R‖ is undefined at a critical point: the
                        # reparametrised flow would cross it where gradient flow only approaches it.
                        reason = f"approaching a critical point: {_CRITICAL_WHAT}"
                if reason is None and evals > max_evals:
                    reason = f"evaluation budget of {max_evals} gradient evaluations exhausted"
                if reason is None and solver.status == "finished":
                    reason = "s_max reached"
                while next_cp < s_end - 1e-9 * checkpoint_every:
                    checkpoints.append(Checkpoint(float(next_cp), unflatten(dense(next_cp).copy(), shapes)))
                    next_cp += checkpoint_every
            if reason is not None:
                break
    if s_end > checkpoints[-1].time:
        checkpoints.append(Checkpoint(float(s_end), unflatten(np.array(theta_end), shapes)))
    return Trajectory("gf", Z, loss, checkpoints, reason, evals, time.perf_counter() - t0, settings=settings)


def extend_flow(traj: Trajectory, **options) -> Trajectory:
    """``traj`` (a float64 gradient-flow run) followed further: :func:`gradient_flow` from its
    last state with ``options`` (e.g. a larger target_layer_norm), its checkpoints appended with
    the log-norm time continued. The stop reason is the continuation's, saying from where."""
    if traj.method != "gf" or traj.backend != FLOAT64.name:
        raise ProblemError(f"only a float64 gradient-flow run can be extended, not {traj.method} on {traj.backend}")
    s0 = traj.checkpoints[-1].time
    more = gradient_flow(traj.Z, traj.loss, traj.final, **{**{k: traj.settings[k] for k in ("rtol", "atol") if k in traj.settings}, **options})
    cps = traj.checkpoints + [dataclasses.replace(cp, time=s0 + cp.time) for cp in more.checkpoints[1:]]
    reason = f"{more.stop_reason} (run extended from s = {s0:.4g}, where it had stopped: {traj.stop_reason})"
    return dataclasses.replace(traj, checkpoints=cps, stop_reason=reason, grad_evals=traj.grad_evals + more.grad_evals, wall_time=traj.wall_time + more.wall_time)


class _LastEvaluation:
    """evaluate() at θ (flattened layers), answering a call at the θ of the previous call from
    memory: after each accepted step the three stop checks (target, float64 floor, critical
    point) ask for the same new state, and so does BDF's Jacobian when it renews it; the stop
    checks were 11 s of a 26 s flow at n = 1e5 (profiled), two thirds of it repeats. The same
    bits as recomputing: evaluate is deterministic."""

    def __init__(self, Z: np.ndarray, loss: Loss, shapes) -> None:
        self.Z, self.loss, self.shapes = Z, loss, shapes
        self.key: bytes | None = None
        self.ev = None

    def __call__(self, theta: np.ndarray):
        key = theta.tobytes()
        if key != self.key:
            ev = evaluate(self.Z, self.loss, unflatten(theta, self.shapes))
            # for L = 1, w_prod is a view into θ, whose memory BDF may reuse: keep a copy
            self.key, self.ev = key, replace(ev, w_prod=np.array(ev.w_prod))
        return self.ev


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


def check_gd_steps(steps: int) -> None:
    """ProblemError unless ``steps`` is an integer in [1, MAX_GD_STEPS]."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ProblemError(f"the number of GD steps must be a positive integer, got {steps}")
    if steps > MAX_GD_STEPS:
        raise ProblemError(f"at most {MAX_GD_STEPS:,} GD steps are supported (memory of the per-step log, run time), got {steps:,}")


def speed(theta: np.ndarray) -> float:
    """‖dθ/ds‖ of the reparametrised flow: sqrt(1 + ‖θ‖²) (≈ ‖θ‖ late, and > 0 at θ = 0)."""
    return math.sqrt(1.0 + float(theta @ theta))


def gradient_descent(
    Z: np.ndarray,
    loss: Loss,
    layers0: Layers,
    *,
    step: float,
    steps: int,
    n_checkpoints: int = 60,
    bk: Backend = FLOAT64,
) -> Trajectory:
    """Plain gradient descent W(t+1) = W(t) − η ∇R(W(t)) with constant step η for ``steps`` steps.

    Checkpoints at log-spaced step indices (and t = 0); each records W(t), W(t+1) and η.
    """
    _check_layers(layers0)
    if not (step > 0 and math.isfinite(step)):
        raise ProblemError(f"step size must be a positive finite number, got {step}")
    check_gd_steps(steps)
    marks = set(np.unique(np.geomspace(1, max(steps, 1), n_checkpoints).astype(int) - 1).tolist()) | {0}
    layers = tuple(np.array(W, dtype=float) for W in layers0)
    checkpoints: list[Checkpoint] = []
    reason, done = "step budget", steps
    z_norm = float(np.max(np.linalg.norm(Z, axis=1)))
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            grads = risk_gradients(Z, loss, layers, bk)
            new = tuple(W - step * G for W, G in zip(layers, grads))
            why = beyond_range(new, z_norm)
            if why is not None:
                # Too large a step for this loss: the iterate overflowed, or left the range where
                # its metrics are finite (see RANGE_TOP). The run ends at the last iterate inside
                # it, and says so.
                reason, done = f"diverged: step {t} produced an iterate outside float64's range ({why}; step size {step:g} too large)", t
                break
            if t in marks:
                checkpoints.append(Checkpoint(float(t), layers, new, step))
            layers = new
    checkpoints.append(Checkpoint(float(done), layers))
    return Trajectory("gd", Z, loss, checkpoints, reason, done, time.perf_counter() - t0, bk.name, {"step": step, "steps": steps})
