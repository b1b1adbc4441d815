"""Gradient descent with the paper's step rule (Assumption 3.5) and the gd.* claims about it.

The rule (claims.md, A3.x and A3.5; camera-ready Assumption 3.5 = submission Assumption 5):
η_t = min{1/β(R_t), 1} with β(R) = 2 L² R^{2L−2} (β_ℓ + G_ℓ), where β_ℓ is the Lipschitz
constant of ℓ' and G_ℓ the bound on |ℓ'| (logistic: 1/4 and 1), and R_t ≥ 1 is a radius with
W(t) ∈ B(R_t − 1), B(R) = {W : ‖W_k‖_F ≤ R for every k}. Here R_0 = max_k ‖W_k(0)‖_F + 1 (the
smallest admissible radius), R_{t+1} = R_t while W(t+1) stays in B(R_t − 1), otherwise R_t is
doubled until it does; it never shrinks.

How far a run gets. The step is tiny and shrinks like R^{−(2L−2)}: for L = 2, β(R) = 10 R²; for
L = 3, β(R) = 22.5 R⁴. Measured on planted_problem(11, n=20, d=3, γ=0.25), gaussian init (seed 5),
logistic loss, ~65 µs per step (2000 steps 0.13 s, 200,000 steps 12-15 s):
- L = 2: R_t 2.34 → 4.69 → 9.38 (two doublings, the last before step 20,000), η 1.8e-2 → 1.1e-3;
  log R −0.44 → −2.25 (2,000 steps), −4.9 (20,000), −6.4 (200,000); min_k ‖W_k‖_F 1.19 → 2.3, 3.7,
  4.4; angle(w_prod, ū) 0.022 rad at 200,000 steps.
- L = 3: R_t 3.01 → 6.02 within the first steps (the default R_0 puts the largest layer on the
  boundary of B(R_0 − 1)), η 5.4e-4 → 3.4e-5; log R −0.54 → −0.55 (2,000), −0.63 (20,000), −2.7
  (200,000); min_k ‖W_k‖_F 0.62 → 1.7; angle to ū 0.30 rad.
Norms grow like log t, and each doubling of R_t cuts η by 2^{2L−2}, so the late phase the limit
claims need (min_k ‖W_k‖_F ≥ 20, gaps ≤ 1e-3) is out of reach of any feasible run: the gd.* limit
verdicts are INCONCLUSIVE on such runs, which is the honest answer. The finite-time claims
(gd.descent, gd.error_budget) are checked at every step; gd.smoothness on sampled and searched
pairs. β(R) is loose: the largest ratio ‖∇R(W) − ∇R(V)‖/‖W − V‖ found is ~4% of β(R), so a
real run at 10x the paper's step still satisfies the descent inequality (it fails at 1000x).

Everything per step is formed in the log domain (log R from :func:`core.risk.evaluate`, and
log ‖∇R‖² = 2 log R + log ‖∇ log R‖²); only the update multiplies by R, which is representable
for every risk a feasible run reaches.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from scipy.optimize import minimize

from .backends import log_norm
from .certify import certify_descent
from .dynamics import Checkpoint, Trajectory, _check_layers, beyond_range, check_gd_steps
from .errors import ProblemError
from .losses import Loss
from .network import Layers, flatten, unflatten
from .risk import evaluate, risk_gradients
from .verdicts import Status, Verdict

EPS = float(np.finfo(float).eps)

PAPER_GD = "submission §3 (GD), Assumption 5 / camera-ready Assumption 3.5"
LEMMA5 = "submission Lemma 5 (smoothness on B(R)); camera-ready number not verified"
LEMMA6 = "submission Lemma 6 (a constant step leaves B(R)); camera-ready number not verified"

# ‖x_i‖ ≤ 1 is part of A3.x (β(R) depends on it); a few ulps of slack absorb data that were
# scaled onto the unit sphere in floating point.
UNIT_BALL_SLACK = 1e-12
# gd.leaves_ball: step budget of the constant-step run (measured: L = 2 leaves B(R) within a few
# thousand steps on the test problems; L = 3 needs more, and some starts do not leave within it).
LEAVES_BALL_BUDGET = 50_000


def beta_R(R: float, L: int, loss: Loss) -> float:
    """β(R) = 2 L² R^{2L−2} (β_ℓ + G_ℓ), the smoothness constant of R on B(R) (Lemma 5)."""
    _require_a3x(loss)
    return math.exp(_log_beta_R(R, L, loss))


def _log_beta_R(R: float, L: int, loss: Loss) -> float:
    return math.log(2.0 * L * L * (loss.beta + loss.G)) + (2 * L - 2) * math.log(R)


def _require_a3x(loss: Loss) -> None:
    if loss.beta is None or loss.G is None:
        raise ProblemError(f"the {loss.name} loss fails Assumption 3.x (ℓ' is not Lipschitz and bounded): the paper's GD step rule β(R) is undefined for it (give a constant --step instead)")


def _require_unit_ball(Z: np.ndarray) -> None:
    m = float(np.max(np.linalg.norm(Z, axis=1)))
    if m > 1.0 + UNIT_BALL_SLACK:
        raise ProblemError(f"Assumption 3.x needs ‖x_i‖ ≤ 1 (β(R) depends on it), but max ‖x_i‖ = {m:.6g}: scale the data first")


def _max_frob(layers: Layers) -> float:
    return max(float(np.linalg.norm(W)) for W in layers)


def _marks(steps: int, n_checkpoints: int) -> set[int]:
    return set(np.unique(np.geomspace(1, max(steps, 1), n_checkpoints).astype(int) - 1).tolist()) | {0}


def paper_step_gd(
    Z: np.ndarray,
    loss: Loss,
    layers0: Layers,
    *,
    steps: int,
    n_checkpoints: int = 60,
    radius0: float | None = None,
    step_scale: float = 1.0,
) -> Trajectory:
    """GD with the step of Assumption 3.5 for ``steps`` steps (method "gd").

    Checkpoints (log-spaced step indices, and the final iterate) record W(t), W(t+1) and η_t.
    ``settings``: "step_rule" = "paper", "radii" = {checkpoint step: R_t}, and "per_step", a dict
    of float arrays over every step (not only checkpoints), as gd.descent and gd.error_budget need:
    "eta" (N,) η_t; "radius" (N+1,) R_t; "log_risk" (N+1,) log R(W(t)); "log_grad_sq" (N+1,)
    log ‖∇R(W(t))‖² (Frobenius norm over all layers); "max_frob" (N+1,) max_k ‖W_k(t)‖_F, for
    t = 0..N (N = steps done).

    ``radius0``: R_0 (default max_k ‖W_k(0)‖_F + 1, the smallest admissible; it must be ≥ 1 with
    W(0) ∈ B(R_0 − 1)). With the default the largest layer sits on the boundary of B(R_0 − 1), so
    R_t usually doubles within the first steps.

    ``step_scale``: multiplies every η_t (1 = the paper's rule; other values only for controls,
    and recorded in settings, with "step_rule" then "paper×scale").
    Raises ProblemError if the loss fails A3.x (β_ℓ or G_ℓ undefined, e.g. the exp loss) or some
    ‖x_i‖ > 1. Stops early, saying so, at a critical point (∇R = 0) or an iterate outside float64's range
    (core.dynamics.beyond_range).
    """
    _require_a3x(loss)
    _require_unit_ball(Z)
    _check_layers(layers0)
    check_gd_steps(steps)
    if not (step_scale > 0 and math.isfinite(step_scale)):
        raise ProblemError(f"step_scale must be a positive finite number, got {step_scale}")
    steps = int(steps)
    L = len(layers0)
    marks = _marks(steps, n_checkpoints)
    layers = tuple(np.array(W, dtype=float) for W in layers0)
    F = _max_frob(layers)
    R_t = F + 1.0 if radius0 is None else float(radius0)  # ≥ 1, and W(0) ∈ B(R_0 − 1)
    if radius0 is None and R_t - 1.0 < F:  # (F + 1) − 1 can round below F: one ulp up
        R_t = float(np.nextafter(R_t, np.inf))
    if not (R_t >= 1 and math.isfinite(R_t) and F <= R_t - 1.0):
        raise ProblemError(f"R_0 must be ≥ 1 with W(0) ∈ B(R_0 − 1) (max_k ‖W_k(0)‖_F = {F:.6g}), got {radius0}")
    z_norm = float(np.max(np.linalg.norm(Z, axis=1)))
    etas, radii, log_risks, log_g2, frobs = [], [R_t], [], [], [F]
    checkpoints: list[Checkpoint] = []
    radii_at: dict[int, float] = {}
    reason, done = "step budget", steps
    t0 = time.perf_counter()
    for t in range(steps + 1):
        ev = evaluate(Z, loss, layers)
        lr = float(ev.log_risk)
        gsq = sum(float(np.sum(G * G)) for G in ev.grads)  # ‖∇ log R‖²
        if gsq > 0:
            log_gsq = math.log(gsq)
        elif any(np.any(G) for G in ev.grads):  # the squares underflowed: tiny but not zero
            log_gsq = 2.0 * log_norm(flatten(ev.grads))
        else:
            log_gsq = -math.inf
        log_risks.append(lr)
        log_g2.append(2.0 * lr + log_gsq)
        if t == steps:
            break
        if log_gsq == -math.inf:
            reason, done = f"critical point: ∇R(W({t})) = 0", t
            break
        eta = step_scale * math.exp(-max(0.0, _log_beta_R(R_t, L, loss)))  # min{1/β(R_t), 1}
        r = math.exp(lr)
        new = tuple(W - (eta * r) * G for W, G in zip(layers, ev.grads))
        why = beyond_range(new, z_norm)
        if why is not None:
            reason, done = f"diverged: step {t} produced an iterate outside float64's range ({why})", t
            break
        if t in marks:
            checkpoints.append(Checkpoint(float(t), layers, new, eta))
            radii_at[t] = R_t
        etas.append(eta)
        F = _max_frob(new)
        frobs.append(F)
        while F > R_t - 1.0:  # enlarge (double) only when W(t+1) leaves B(R_t − 1); never shrink
            R_t *= 2.0
        radii.append(R_t)
        layers = new
    checkpoints.append(Checkpoint(float(done), layers))
    radii_at[done] = radii[done]
    per_step = {
        "eta": np.array(etas),
        "radius": np.array(radii),
        "log_risk": np.array(log_risks[: done + 1]),
        "log_grad_sq": np.array(log_g2[: done + 1]),
        "max_frob": np.array(frobs),
    }
    settings = {
        "step_rule": "paper" if step_scale == 1.0 else f"paper×{step_scale:g}",
        "step_scale": step_scale,
        "steps": steps,
        "beta_loss": loss.beta,
        "G_loss": loss.G,
        "radii": radii_at,
        "per_step": per_step,
    }
    return Trajectory("gd", Z, loss, checkpoints, reason, done + 1, time.perf_counter() - t0, "float64", settings)


def constant_step_gd(Z: np.ndarray, loss: Loss, layers0: Layers, *, radius: float, max_steps: int, step: float | None = None) -> int | None:
    """GD with the constant step ``step`` (default 1/β(radius)) from W(0) ∈ B(radius).

    Returns the first t with W(t) ∉ B(radius) (some ‖W_k(t)‖_F > radius), or None if the iterates
    stay inside for ``max_steps`` steps. For gd.leaves_ball (Lemma 6).
    """
    _require_a3x(loss)
    _check_layers(layers0)
    if not (radius >= 1 and math.isfinite(radius)):
        raise ProblemError(f"the radius must be a finite number ≥ 1, got {radius}")
    layers = tuple(np.array(W, dtype=float) for W in layers0)
    if _max_frob(layers) > radius:
        raise ProblemError(f"W(0) is not in B({radius:g}): max_k ‖W_k(0)‖_F = {_max_frob(layers):.6g}")
    eta = 1.0 / beta_R(radius, len(layers), loss) if step is None else float(step)
    if not (eta > 0 and math.isfinite(eta)):
        raise ProblemError(f"step size must be a positive finite number, got {step}")
    for t in range(1, int(max_steps) + 1):
        grads = risk_gradients(Z, loss, layers)
        layers = tuple(W - eta * G for W, G in zip(layers, grads))
        if _max_frob(layers) > radius:
            return t
    return None


# ---------------------------------------------------------------- predicates


def _per_step(run) -> dict | None:
    return run.trajectory.settings.get("per_step")


def _no_log(cid: str) -> Verdict:
    return Verdict(cid, Status.NOT_APPLICABLE, None, None, "the run has no per-step log of η_t and R(W(t)): not a paper-step GD run (core.paper_gd.paper_step_gd)")


def _dims(run) -> tuple[int, int]:
    layers = run.trajectory.checkpoints[0].layers
    return len(layers), max(max(W.shape) for W in layers)


def _log_rounding(lr: np.ndarray, radius: np.ndarray, L: int, dmax: int, n: int) -> np.ndarray:
    """A bound on the rounding error of a computed log R(W(t)), per t.

    Margins m_i = ⟨w_prod, z_i⟩ carry an error ≲ L·d_max·eps·∏_k ‖W_k‖_F ≤ L·d_max·eps·R_t^L
    (‖z_i‖ ≤ 1, W(t) ∈ B(R_t)), which log ℓ(m) passes on with a factor ≤ 1 (|ℓ'/ℓ| ≤ 1 for both
    losses); logsumexp and log n add a few eps·(|log R| + log n). 16x covers the constants.
    """
    return 16 * EPS * (L * dmax * radius**L + np.abs(lr) + math.log(n) + 1.0)


def _steps_or_verdict(run, cid: str, threshold: float) -> tuple[dict | None, Verdict | None]:
    """The per-step log of a paper-rule run, or the verdict to return when there is none to judge."""
    ps = _per_step(run)
    if ps is None:
        return None, _no_log(cid)
    if len(ps["eta"]) == 0:
        return None, Verdict(cid, Status.INCONCLUSIVE, None, threshold, f"no GD step was taken ({run.trajectory.stop_reason})")
    return ps, None


def gd_descent(run) -> Verdict:
    """gd.descent: R(t+1) − R(t) ≤ −(η_t/2)‖∇R(W(t))‖² at every step, compared in the log domain:
    log R(t+1) ≤ log R(t) + log1p(−x_t), x_t = (η_t/2)‖∇R(W(t))‖²/R(t)."""
    cid = "gd.descent"
    ps, missing = _steps_or_verdict(run, cid, 0.0)
    if missing is not None:
        return missing
    eta, lr, lg2, rad = ps["eta"], ps["log_risk"], ps["log_grad_sq"], ps["radius"]
    N = len(eta)
    x = 0.5 * eta * np.exp(lg2[:N] - lr[:N])
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = np.where(x < 1, lr[:N] + np.log1p(-np.minimum(x, 1.0)), -np.inf)  # x ≥ 1: the bound asks R(t+1) ≤ 0
    L, dmax = _dims(run)
    n = run.trajectory.Z.shape[0]
    # Tolerance: the rounding of both computed log risks (see _log_rounding, with R_{t+1} ≥ R_t
    # bounding both iterates), plus the rounding of the stored iterate W(t+1) = fl(W(t) − η∇R):
    # an error ≤ eps·‖θ‖ ≤ eps·√L·R_{t+1} moves log R by ≤ that times ‖∇_θ log R‖.
    tol = _log_rounding(lr[:N], rad[1 : N + 1], L, dmax, n) + _log_rounding(lr[1:], rad[1 : N + 1], L, dmax, n)
    tol = tol + 4 * EPS * math.sqrt(L) * rad[1 : N + 1] * np.exp(0.5 * lg2[:N] - lr[:N])
    excess = lr[1:] - bound
    worst = float(np.max(excess))
    if np.any(excess > tol):
        j = int(np.argmax(excess - tol))
        v = Verdict(cid, Status.VIOLATED, worst, 0.0,
                    f"step t={j}: log R(t+1) = {lr[j+1]:.12g} > log(R(t) − (η/2)‖∇R‖²) = {bound[j]:.12g} (η_t = {eta[j]:.4g}, rounding tolerance {tol[j]:.2g})")
    else:
        slack = float(np.min(bound - lr[1:]))
        v = Verdict(cid, Status.HOLDS, worst, 0.0, f"descent inequality holds at all {N} steps (smallest slack in log R {slack:.3g}, rounding tolerance ≤ {float(np.max(tol)):.2g})")
    # Ball arithmetic on the recorded step (a checkpoint keeps W(t), W(t+1), η_t) closest to failing.
    recorded = [cp for cp in run.trajectory.checkpoints if cp.next_layers is not None and int(cp.time) < N]
    if not recorded:
        return v
    cp = max(recorded, key=lambda c: excess[int(c.time)])
    cert = certify_descent(run.trajectory.Z, run.trajectory.loss, cp.layers, cp.next_layers, cp.step_size)
    return dataclasses.replace(v, certificate=cert.status, reason=f"{v.reason}; ball arithmetic ({cert.prec} bits) at step {int(cp.time)}: {cert.status}, slack in [{cert.lower:.3g}, {cert.upper:.3g}]")


def gd_error_budget(run) -> Verdict:
    """gd.error_budget: Σ_t η_t ‖∇R(W(t))‖² ≤ 2 R(W(0)) over every recorded step (value: the ratio)."""
    cid = "gd.error_budget"
    ps, missing = _steps_or_verdict(run, cid, 1.0)
    if missing is not None:
        return missing
    eta, lr, lg2, rad = ps["eta"], ps["log_risk"], ps["log_grad_sq"], ps["radius"]
    N = len(eta)
    with np.errstate(divide="ignore"):
        logs = np.log(eta) + lg2[:N] - (math.log(2.0) + lr[0])  # log of each term / (2 R(0))
    top = float(np.max(logs))
    ratio = math.exp(top) * math.fsum(np.exp(logs - top).tolist()) if math.isfinite(top) else 0.0
    L, dmax = _dims(run)
    # Tolerance (relative): each term is the exp of a sum of logs (η_t exact; log ‖∇R‖² and log R(0)
    # each carry an absolute error of the _log_rounding kind, log ‖∇R‖² = 2 log R + log ‖∇log R‖²
    # counting log R twice), so each term, and hence the fsum, is off by a relative ≤ 4x the
    # largest _log_rounding over the run.
    tol = 4 * float(np.max(_log_rounding(lr[:N], rad[:N], L, dmax, run.trajectory.Z.shape[0])))
    drop = -math.expm1(float(lr[-1] - lr[0]))
    if ratio > 1.0 + tol:
        return Verdict(cid, Status.VIOLATED, ratio, 1.0, f"Σ η_t‖∇R‖² = {ratio:.6g} × 2R(W(0)) over {N} steps (> 1 + {tol:.2g})")
    return Verdict(cid, Status.HOLDS, ratio, 1.0,
                   f"Σ η_t‖∇R‖² = {ratio:.4g} × 2R(W(0)) ≤ 1 over {N} steps (the risk fell by a fraction {drop:.4g} of R(0); tolerance {tol:.2g})")


def _sample_in_ball(rng: np.random.Generator, shapes, R: float, on_sphere: bool) -> np.ndarray:
    parts = []
    for r, c in shapes:
        x = rng.standard_normal(r * c)
        x *= (R if on_sphere else R * rng.uniform() ** (1.0 / x.size)) / np.linalg.norm(x)
        parts.append(x)
    return np.concatenate(parts)


def _project(theta: np.ndarray, shapes, R: float) -> np.ndarray:
    """Each layer scaled back to Frobenius norm ≤ R (the nearest point of B(R) layer by layer)."""
    out, i = theta.copy(), 0
    for r, c in shapes:
        seg = out[i : i + r * c]
        nrm = float(np.linalg.norm(seg))
        if nrm > R:
            seg *= R / nrm
        i += r * c
    return out


def smoothness_ratio(Z: np.ndarray, loss: Loss, shapes, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(‖∇R(a) − ∇R(b)‖/‖a − b‖, a rounding bound on it) for flattened layers a ≠ b."""
    ga = flatten(risk_gradients(Z, loss, unflatten(a, shapes)))
    gb = flatten(risk_gradients(Z, loss, unflatten(b, shapes)))
    dist = float(np.linalg.norm(a - b))
    if dist == 0.0:  # the same point (a search can converge onto the diagonal): no information
        return 0.0, 0.0
    # Each gradient carries a relative error ≲ 16·L·d_max·eps (products of L factors, sums of ≤ d_max terms).
    L, dmax = len(shapes), max(max(s) for s in shapes)
    err = 16 * L * dmax * EPS * (float(np.linalg.norm(ga)) + float(np.linalg.norm(gb)))
    return float(np.linalg.norm(ga - gb)) / dist, err / dist


def gd_smoothness(run, *, beta_scale: float = 1.0, n_pairs: int = 200, n_searches: int = 3, radii: list[float] | None = None) -> Verdict:
    """gd.smoothness (Lemma 5): ‖∇R(W) − ∇R(V)‖ ≤ β(R)‖W − V‖ for W, V ∈ B(R), R ≥ 1.

    For each radius (default: 1, and the run's first and last R_t; else 1 and max_k ‖W_k(0)‖_F + 1)
    the ratio is evaluated on ``n_pairs`` random pairs (half with every layer on the sphere of
    radius R, where the curvature is largest) and then maximised by ``n_searches`` Powell searches
    started from the worst pairs, over pairs projected into B(R). Value: max ratio/β(R).
    ``beta_scale`` multiplies β(R) (1 = Lemma 5; small values only for negative controls).
    Violated when a ratio exceeds β(R)·(1 + 1e-9) plus its rounding bound (the 1e-9 absorbs
    rounding in β(R) itself; the bound covers the gradient difference divided by ‖W − V‖).
    """
    cid = "gd.smoothness"
    traj = run.trajectory
    loss = traj.loss
    if loss.beta is None or loss.G is None:
        return Verdict(cid, Status.NOT_APPLICABLE, None, 1.0, f"the {loss.name} loss fails A3.x: β(R) undefined")
    layers0 = traj.checkpoints[0].layers
    shapes = [W.shape for W in layers0]
    L = len(shapes)
    if radii is None:
        rad = traj.settings.get("per_step", {}).get("radius")
        radii = [1.0] + ([float(rad[0]), float(rad[-1])] if rad is not None and len(rad) else [_max_frob(layers0) + 1.0])
    radii = sorted(set(float(r) for r in radii))
    rng = np.random.default_rng(getattr(run.setup, "seed", 0))
    worst_rel, worst_R, worst_ratio = -math.inf, None, None
    for R in radii:
        if R < 1:
            raise ProblemError(f"Lemma 5 needs R ≥ 1, got {R}")
        beta = beta_scale * beta_R(R, L, loss)
        pairs = []
        for i in range(n_pairs):
            on = i % 2 == 0
            a = _sample_in_ball(rng, shapes, R, on)
            # Half the pairs near each other (local curvature), half far apart.
            b = _project(a + (1e-3 * R if i % 4 < 2 else R) * rng.standard_normal(a.size), shapes, R)
            ratio, err = smoothness_ratio(traj.Z, loss, shapes, a, b)
            pairs.append((ratio, err, a, b))
        pairs.sort(key=lambda p: -p[0])
        N = pairs[0][2].size

        def neg_ratio(x):
            a, b = _project(x[:N], shapes, R), _project(x[N:], shapes, R)
            if not np.any(a != b):
                return 0.0
            return -smoothness_ratio(traj.Z, loss, shapes, a, b)[0]

        for ratio, err, a, b in pairs[:n_searches]:
            res = minimize(neg_ratio, np.concatenate([a, b]), method="Powell", options={"maxfev": 3000, "xtol": 1e-6, "ftol": 1e-10})
            a2, b2 = _project(res.x[:N], shapes, R), _project(res.x[N:], shapes, R)
            if np.any(a2 != b2):
                pairs.append((*smoothness_ratio(traj.Z, loss, shapes, a2, b2), a2, b2))
        for ratio, err, a, b in pairs:
            if ratio > beta * (1 + 1e-9) + err:
                return Verdict(cid, Status.VIOLATED, ratio / beta, 1.0,
                               f"on B({R:g}): ‖∇R(W) − ∇R(V)‖/‖W − V‖ = {ratio:.6g} > β(R) = {beta:.6g} (‖W − V‖ = {float(np.linalg.norm(a - b)):.3g})")
            if ratio / beta > worst_rel:
                worst_rel, worst_R, worst_ratio = ratio / beta, R, ratio
    return Verdict(cid, Status.HOLDS, worst_rel, 1.0,
                   f"largest ratio found {worst_ratio:.4g} = {worst_rel:.3g}·β(R) on B({worst_R:g}) (radii {', '.join(f'{r:g}' for r in radii)}; {n_pairs} random pairs and {n_searches} Powell searches per radius)")


def gd_leaves_ball(run, *, max_steps: int = LEAVES_BALL_BUDGET) -> Verdict:
    """gd.leaves_ball (Lemma 6): constant step 1/β(R) from W(0), R = max(1, max_k ‖W_k(0)‖_F) + 1,
    leaves B(R) eventually. Holds if it left within ``max_steps`` (value: that step), else inconclusive."""
    cid = "gd.leaves_ball"
    traj = run.trajectory
    if traj.loss.beta is None or traj.loss.G is None:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, f"the {traj.loss.name} loss fails A3.x: β(R) undefined")
    layers0 = traj.checkpoints[0].layers
    R = max(1.0, _max_frob(layers0)) + 1.0
    eta = 1.0 / beta_R(R, len(layers0), traj.loss)
    t = constant_step_gd(traj.Z, traj.loss, layers0, radius=R, max_steps=max_steps, step=eta)
    if t is None:
        return Verdict(cid, Status.INCONCLUSIVE, None, float(max_steps), f"constant step 1/β({R:.4g}) = {eta:.3g}: still inside B({R:.4g}) after {max_steps} steps")
    return Verdict(cid, Status.HOLDS, float(t), float(max_steps), f"constant step 1/β({R:.4g}) = {eta:.3g} left B({R:.4g}) at step {t}")


# ---------------------------------------------------------------- limit claims: the gf predicates, renamed


def _progress(run) -> str:
    tm = run.metrics
    lr = float(tm.snaps[-1].log_risk)
    F = float(np.min(tm.snaps[-1].frob))
    ps = _per_step(run)
    extra = ""
    if ps is not None and len(ps["eta"]):
        extra = f", final η = {ps['eta'][-1]:.3g}, R_t = {ps['radius'][-1]:g}"
    return f"GD run reached step {int(tm.times[-1])} ({run.trajectory.stop_reason}): log R = {lr:.4g}, min_k ‖W_k‖_F = {F:.4g}{extra}"


# A limit claim is judged on the late phase only: from the first checkpoint with n·R(W(t)) < ℓ(0),
# where every margin is positive (the paper's late phase), to the end (so a run that falls back
# out of it is still seen). Before it, a GD run can sit near the saddle at 0 for thousands of
# steps (W_1 = 0 starts, depth 3), where gaps and norms mean nothing yet.
MIN_LATE_CHECKPOINTS = 8


def gd_late_phase(run):
    """The run record from its first late-phase checkpoint on, or None if fewer than
    MIN_LATE_CHECKPOINTS checkpoints remain."""
    tm = run.metrics
    n = run.setup.Z.shape[0]
    inside = np.nonzero(tm.stack("log_risk") + math.log(n) < math.log(run.setup.loss.ell_at_zero))[0]
    if len(inside) == 0 or len(tm.times) - inside[0] < MIN_LATE_CHECKPOINTS:
        return None
    i = int(inside[0])
    sub = dataclasses.replace(tm, times=tm.times[i:], snaps=tm.snaps[i:], drift=tm.drift[i:])
    return dataclasses.replace(run, metrics=sub)


def _renamed(name: str, run) -> Verdict:
    from . import claims  # claims imports this module: import late

    late = gd_late_phase(run)
    if late is None:
        return Verdict(f"gd.{name}", Status.INCONCLUSIVE, None, None, f"fewer than {MIN_LATE_CHECKPOINTS} checkpoints in the late phase (n·R < ℓ(0)); {_progress(run)}")
    v = getattr(claims, name)(late)
    return dataclasses.replace(v, claim=f"gd.{name}", reason=f"{v.reason}; {_progress(run)}")


def _gd_version(name: str):
    """The gf predicate ``name`` of core.claims, judged on a GD run and renamed gd.<name>."""

    def predicate(run) -> Verdict:
        return _renamed(name, run)

    predicate.__name__ = f"gd_{name}"
    return predicate


LIMIT_NAMES = ("risk_to_zero", "norms_diverge", "rank_one", "adjacent_alignment", "product_alignment", "max_margin_v1", "max_margin_product", "margin_corollary")

PREDICATES = {
    "gd.descent": gd_descent,
    "gd.error_budget": gd_error_budget,
    "gd.smoothness": gd_smoothness,
    "gd.leaves_ball": gd_leaves_ball,
    **{f"gd.{name}": _gd_version(name) for name in LIMIT_NAMES},
}
