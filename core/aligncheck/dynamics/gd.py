"""Gradient descent W(t+1) = W(t) − η_t ∇R(W(t)): one loop, two step rules.

- :class:`ConstantStep`: η_t = η.
- :class:`PaperStep`: the rule of Assumption 3.5 (claims.md, A3.x and A3.5; camera-ready
  Assumption 3.5 = submission Assumption 5): η_t = min{1/β(R_t), 1} with β(R) = 2 L² R^{2L−2}
  (β_ℓ + G_ℓ), where β_ℓ is the Lipschitz constant of ℓ' and G_ℓ the bound on |ℓ'| (logistic: 1/4
  and 1), and R_t ≥ 1 is a radius with W(t) ∈ B(R_t − 1), B(R) = {W : ‖W_k‖_F ≤ R for every k}.
  Here R_0 = max_k ‖W_k(0)‖_F + 1 (the smallest admissible), R_{t+1} = R_t while W(t+1) stays in
  B(R_t − 1), otherwise R_t is doubled until it does; it never shrinks.

How far a paper-rule run gets. The step is tiny and shrinks like R^{−(2L−2)}: for L = 2, β(R) = 10
R²; for L = 3, β(R) = 22.5 R⁴. Measured on planted_problem(11, n=20, d=3, γ=0.25), gaussian init
(seed 5), logistic loss, ~65 µs per step (2000 steps 0.13 s, 200,000 steps 12-15 s):
- L = 2: R_t 2.34 → 4.69 → 9.38 (two doublings, the last before step 20,000), η 1.8e-2 → 1.1e-3;
  log R −0.44 → −2.25 (2,000 steps), −4.9 (20,000), −6.4 (200,000); min_k ‖W_k‖_F 1.19 → 2.3, 3.7,
  4.4; angle(w_prod, ū) 0.022 rad at 200,000 steps.
- L = 3: R_t 3.01 → 6.02 within the first steps (the default R_0 puts the largest layer on the
  boundary of B(R_0 − 1)), η 5.4e-4 → 3.4e-5; log R −0.54 → −0.55 (2,000), −0.63 (20,000), −2.7
  (200,000); min_k ‖W_k‖_F 0.62 → 1.7; angle to ū 0.30 rad.
Norms grow like log t, and each doubling of R_t cuts η by 2^{2L−2}, so the late phase the
gradient-flow limit claims need is out of reach of any feasible run (see
aligncheck.claims.ji_telgarsky.gd for how GD runs are judged).

Everything per step is formed in the log domain (log R from :func:`aligncheck.numerics.risk.evaluate`,
and log ‖∇R‖² = 2 log R + log ‖∇ log R‖²); only the update multiplies by R, which is representable
for every risk a feasible run reaches. Every step is logged (:class:`aligncheck.dynamics.trajectory.GDLog`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from aligncheck.dynamics import progress
from aligncheck.dynamics.float_range import beyond_range
from aligncheck.dynamics.trajectory import Checkpoint, GDLog, Trajectory, check_finite_layers
from aligncheck.errors import ProblemError
from aligncheck.numerics.magnitudes import log_norm
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers, flatten
from aligncheck.numerics.risk import evaluate, risk_gradients

# GD runs (constant step and the paper's rule) take at most this many steps: a run keeps a
# per-step log (five Python floats per step before it becomes arrays, ~160 bytes: 160 MB at 10^6
# steps) and a step costs 30-65 µs (10^6 steps: about a minute; 10^9 would be 8-18 hours). The
# conjecture runs use 30,000-50,000 steps.
MAX_GD_STEPS = 10**6

# ‖x_i‖ ≤ 1 is part of A3.x (β(R) depends on it); a few ulps of slack absorb data that were
# scaled onto the unit sphere in floating point.
UNIT_BALL_SLACK = 1e-12


def beta_R(R: float, L: int, loss: Loss) -> float:
    """β(R) = 2 L² R^{2L−2} (β_ℓ + G_ℓ), the smoothness constant of R on B(R) (Lemma 5)."""
    require_a3x(loss)
    return math.exp(log_beta_R(R, L, loss))


def log_beta_R(R: float, L: int, loss: Loss) -> float:
    return math.log(2.0 * L * L * (loss.beta + loss.G)) + (2 * L - 2) * math.log(R)


def require_a3x(loss: Loss) -> None:
    """ProblemError unless the loss satisfies A3.x (ℓ' Lipschitz and bounded: β(R) defined)."""
    if loss.beta is None or loss.G is None:
        raise ProblemError(f"the {loss.name} loss fails Assumption 3.x (ℓ' is not Lipschitz and bounded): the paper's GD step rule β(R) is undefined for it (give a constant --step instead)")


def _require_unit_ball(Z: np.ndarray) -> None:
    m = float(np.max(np.linalg.norm(Z, axis=1)))
    if m > 1.0 + UNIT_BALL_SLACK:
        raise ProblemError(f"Assumption 3.x needs ‖x_i‖ ≤ 1 (β(R) depends on it), but max ‖x_i‖ = {m:.6g}: scale the data first (aligncheck check --scale unit-ball)")


def max_frob(layers: Layers) -> float:
    """max_k ‖W_k‖_F."""
    return max(float(np.linalg.norm(W)) for W in layers)


def check_gd_steps(steps: int) -> None:
    """ProblemError unless ``steps`` is an integer in [1, MAX_GD_STEPS]."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ProblemError(f"the number of GD steps must be a positive integer, got {steps}")
    if steps > MAX_GD_STEPS:
        raise ProblemError(f"at most {MAX_GD_STEPS:,} GD steps are supported (memory of the per-step log, run time), got {steps:,}")


def _marks(steps: int, n_checkpoints: int) -> set[int]:
    return set(np.unique(np.geomspace(1, max(steps, 1), n_checkpoints).astype(int) - 1).tolist()) | {0}


@dataclass
class ConstantStep:
    """η_t = ``step``."""

    step: float
    radius: float = 0.0  # max_k ‖W_k‖_F + 1 of the start, kept in the log; no role in the rule

    name = "constant"

    def start(self, layers0: Layers) -> None:
        if not (self.step > 0 and math.isfinite(self.step)):
            raise ProblemError(f"step size must be a positive finite number, got {self.step}")
        self.radius = max_frob(layers0) + 1.0

    def eta(self) -> float:
        return self.step

    def moved_to(self, F: float) -> None:
        """W(t+1) has max_k ‖W_k‖_F = F (nothing to adapt)."""


@dataclass
class PaperStep:
    """The step rule of Assumption 3.5 (module docstring) for a loss satisfying A3.x, on data
    with ‖x_i‖ ≤ 1. ``radius``: R_0 (default max_k ‖W_k(0)‖_F + 1); ``step_scale`` multiplies every
    η_t (1 = the paper's rule; other values only for controls, and named in the log)."""

    loss: Loss
    depth: int
    radius: float | None = None
    step_scale: float = 1.0

    @property
    def name(self) -> str:
        return "paper" if self.step_scale == 1.0 else f"paper×{self.step_scale:g}"

    def start(self, layers0: Layers) -> None:
        require_a3x(self.loss)
        if not (self.step_scale > 0 and math.isfinite(self.step_scale)):
            raise ProblemError(f"step_scale must be a positive finite number, got {self.step_scale}")
        F = max_frob(layers0)
        given = self.radius
        R = F + 1.0 if given is None else float(given)  # ≥ 1, and W(0) ∈ B(R_0 − 1)
        if given is None and R - 1.0 < F:  # (F + 1) − 1 can round below F: one ulp up
            R = float(np.nextafter(R, np.inf))
        if not (R >= 1 and math.isfinite(R) and F <= R - 1.0):
            raise ProblemError(f"R_0 must be ≥ 1 with W(0) ∈ B(R_0 − 1) (max_k ‖W_k(0)‖_F = {F:.6g}), got {given}")
        self.radius = R

    def eta(self) -> float:
        return self.step_scale * math.exp(-max(0.0, log_beta_R(self.radius, self.depth, self.loss)))  # min{1/β(R_t), 1}

    def moved_to(self, F: float) -> None:
        """Enlarge (double) R_t only when W(t+1) leaves B(R_t − 1); never shrink."""
        while F > self.radius - 1.0:
            self.radius *= 2.0


def descend(Z: np.ndarray, loss: Loss, layers0: Layers, rule: ConstantStep | PaperStep, *, steps: int, n_checkpoints: int = 60) -> Trajectory:
    """Gradient descent from ``layers0`` with the step ``rule`` for ``steps`` steps (method "gd").

    Checkpoints (log-spaced step indices, and the final iterate) record W(t), W(t+1) and η_t; every
    step is logged in ``Trajectory.gd``. Stops early, saying so, at a critical point (∇R = 0) or at
    a non-finite iterate (a step too large for the loss: the run ends at the last finite one).
    """
    check_finite_layers(layers0)
    check_gd_steps(steps)
    steps = int(steps)
    z_norm = float(np.max(np.linalg.norm(Z, axis=1)))
    marks = _marks(steps, n_checkpoints)
    layers = tuple(np.array(W, dtype=float) for W in layers0)
    rule.start(layers)
    etas, radii, log_risks, log_g2, frobs = [], [rule.radius], [], [], [max_frob(layers)]
    checkpoints: list[Checkpoint] = []
    radii_at: dict[int, float] = {}
    reason, done = "step budget", steps
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing step is caught below
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
            eta = rule.eta()
            r = float(np.exp(lr))  # inf past float64's range: the iterate is then outside it (diverged)
            new = tuple(W - (eta * r) * G for W, G in zip(layers, ev.grads))
            why = beyond_range(new, z_norm)
            if why is not None:
                # Too large a step for this loss: the iterate overflowed, or left the range where
                # its metrics are finite (aligncheck.dynamics.float_range). The run ends at the
                # last iterate inside it, and says so.
                reason, done = f"diverged: step {t} produced an iterate outside float64's range ({why}; step size {eta:g} too large)", t
                break
            if t in marks:
                checkpoints.append(Checkpoint(float(t), layers, new, eta))
                radii_at[t] = rule.radius
                progress.report(lambda: progress.Progress("gd", "float64", float(t), log_norm(flatten(layers)), lr, t + 1))
            etas.append(eta)
            F = max_frob(new)
            frobs.append(F)
            rule.moved_to(F)
            radii.append(rule.radius)
            layers = new
    checkpoints.append(Checkpoint(float(done), layers))
    radii_at[done] = radii[done]
    log = GDLog(
        rule=rule.name, step=rule.step if isinstance(rule, ConstantStep) else None, step_scale=getattr(rule, "step_scale", 1.0),
        eta=np.array(etas), radius=np.array(radii), log_risk=np.array(log_risks[: done + 1]), log_grad_sq=np.array(log_g2[: done + 1]),
        max_frob=np.array(frobs), radii=radii_at,
    )
    return Trajectory("gd", Z, loss, checkpoints, reason, done + 1, time.perf_counter() - t0, gd=log)


def gradient_descent(Z: np.ndarray, loss: Loss, layers0: Layers, *, step: float, steps: int, n_checkpoints: int = 60) -> Trajectory:
    """GD with the constant step ``step`` (see :func:`descend`)."""
    return descend(Z, loss, layers0, ConstantStep(step), steps=steps, n_checkpoints=n_checkpoints)


def paper_step_gd(Z: np.ndarray, loss: Loss, layers0: Layers, *, steps: int, n_checkpoints: int = 60, radius0: float | None = None, step_scale: float = 1.0) -> Trajectory:
    """GD with the step rule of Assumption 3.5 (see :class:`PaperStep`, :func:`descend`). Raises
    ProblemError if the loss fails A3.x (β_ℓ or G_ℓ undefined, e.g. the exp loss) or some ‖x_i‖ > 1."""
    require_a3x(loss)
    _require_unit_ball(Z)
    return descend(Z, loss, layers0, PaperStep(loss, len(layers0), radius0, step_scale), steps=steps, n_checkpoints=n_checkpoints)


def constant_step_gd(Z: np.ndarray, loss: Loss, layers0: Layers, *, radius: float, max_steps: int, step: float | None = None) -> int | None:
    """GD with the constant step ``step`` (default 1/β(radius)) from W(0) ∈ B(radius).

    Returns the first t with W(t) ∉ B(radius) (some ‖W_k(t)‖_F > radius), or None if the iterates
    stay inside for ``max_steps`` steps. For gd.leaves_ball (Lemma 6).
    """
    require_a3x(loss)
    check_finite_layers(layers0)
    if not (radius >= 1 and math.isfinite(radius)):
        raise ProblemError(f"the radius must be a finite number ≥ 1, got {radius}")
    layers = tuple(np.array(W, dtype=float) for W in layers0)
    if max_frob(layers) > radius:
        raise ProblemError(f"W(0) is not in B({radius:g}): max_k ‖W_k(0)‖_F = {max_frob(layers):.6g}")
    eta = 1.0 / beta_R(radius, len(layers), loss) if step is None else float(step)
    if not (eta > 0 and math.isfinite(eta)):
        raise ProblemError(f"step size must be a positive finite number, got {step}")
    for t in range(1, int(max_steps) + 1):
        grads = risk_gradients(Z, loss, layers)
        layers = tuple(W - eta * G for W, G in zip(layers, grads))
        if max_frob(layers) > radius:
            return t
    return None
