"""Gradient descent (submission §3, camera-ready §3): the finite-time claims of the paper's GD step
rule (Assumption 3.5: descent, the error budget, Lemma 5's smoothness, Lemma 6's ball), the limit
claims of Theorems 3 and 4 as GD twins of the gradient-flow ones, and the exact one-step
balancedness identity.

GD limit claims are judged on the late phase of a run only (from the first checkpoint with
n·R < ℓ(0), aligncheck.claims.ji_telgarsky.common.gd_late_phase), by their trend in the step
count, against the GD end points of common.py.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import minimize

from aligncheck.claims import registry
from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky import theorem1, theorem2
from aligncheck.claims.ji_telgarsky.common import DERIVED, MIN_LATE_CHECKPOINTS, gd_progress, claim, gd_late_phase
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.dynamics.gd import beta_R, constant_step_gd, max_frob
from aligncheck.dynamics.trajectory import GDLog
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.backends import FLOAT64
from aligncheck.numerics.certify import certify_descent
from aligncheck.numerics.metrics import balancedness
from aligncheck.numerics.network import flatten, parameter_count, unflatten
from aligncheck.numerics.risk import risk_gradients

EPS = float(np.finfo(float).eps)

PAPER_GD = "submission §3 (GD), Assumption 5 / camera-ready Assumption 3.5"
LEMMA5 = "submission Lemma 5 (smoothness on B(R)); camera-ready number not verified"
LEMMA6 = "submission Lemma 6 (a constant step leaves B(R)); camera-ready number not verified"

# gd.leaves_ball: step budget of the constant-step run (measured: L = 2 leaves B(R) within a few
# thousand steps on the test problems; L = 3 needs more, and some starts do not leave within it).
LEAVES_BALL_BUDGET = 50_000


# ---------------------------------------------------------------- the finite-time claims of the step rule


def _no_log(cid: str) -> Verdict:
    return Verdict(cid, Status.NOT_APPLICABLE, None, None, "the run has no per-step log of η_t and R(W(t)) under the paper's rule: not a paper-step GD run (aligncheck.dynamics.gd.paper_step_gd)")


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


def _steps_or_verdict(run, cid: str, threshold: float) -> tuple[GDLog | None, Verdict | None]:
    """The per-step log of a paper-rule run, or the verdict to return when there is none to judge."""
    ps = run.trajectory.gd
    if ps is None or not ps.paper_rule:
        return None, _no_log(cid)
    if len(ps.eta) == 0:
        return None, Verdict(cid, Status.INCONCLUSIVE, None, threshold, f"no GD step was taken ({run.trajectory.stop_reason})")
    return ps, None


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


class _Gradients:
    """∇R of flattened layers, remembering the last few points: a Powell line search moves one
    coordinate of (a, b) at a time, so one of the two points is usually the one just evaluated
    (the same bits; measured on the ci conjecture group of gd.smoothness: 79 s before, 54 s after)."""

    def __init__(self, Z: np.ndarray, loss: Loss, shapes, keep: int = 4) -> None:
        self.Z, self.loss, self.shapes, self.keep = Z, loss, shapes, keep
        self.memo: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        for x, g in self.memo:
            if np.array_equal(x, theta):
                return g
        g = flatten(risk_gradients(self.Z, self.loss, unflatten(theta, self.shapes)))
        self.memo = [(theta.copy(), g), *self.memo[: self.keep - 1]]
        return g


# gd.smoothness maximises over pairs (W, V) by Powell's method, whose direction set is 2N×2N
# floats: 512 MB at N = 4000 (and its searches grow like N²); above that the claim is inconclusive.
SMOOTHNESS_SEARCH_MAX_PARAMETERS = 4000


def smoothness_ratio(Z: np.ndarray, loss: Loss, shapes, a: np.ndarray, b: np.ndarray, grad: _Gradients | None = None) -> tuple[float, float]:
    """(‖∇R(a) − ∇R(b)‖/‖a − b‖, a rounding bound on it) for flattened layers a ≠ b; ``grad``: a
    remembering gradient (the same values, fewer evaluations in a search)."""
    grad = _Gradients(Z, loss, shapes) if grad is None else grad
    ga, gb = grad(a), grad(b)
    dist = float(np.linalg.norm(a - b))
    if dist == 0.0:  # the same point (a search can converge onto the diagonal): no information
        return 0.0, 0.0
    # Each gradient carries a relative error ≲ 16·L·d_max·eps (products of L factors, sums of ≤ d_max terms).
    L, dmax = len(shapes), max(max(s) for s in shapes)
    err = 16 * L * dmax * EPS * (float(np.linalg.norm(ga)) + float(np.linalg.norm(gb)))
    return float(np.linalg.norm(ga - gb)) / dist, err / dist


@claim("gd.smoothness", statement="R is β(R)-smooth on B(R), β(R) = 2L²R^{2L−2}(β+G)", source=LEMMA5, kind="bound", needs=("A3.x",), methods=("gd",), group="gd_lemmas56")
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
    N = parameter_count(shapes)
    if N > SMOOTHNESS_SEARCH_MAX_PARAMETERS:
        return Verdict(cid, Status.INCONCLUSIVE, None, 1.0, f"the search over pairs of points is not run above {SMOOTHNESS_SEARCH_MAX_PARAMETERS} parameters (this network: {N}): Powell's direction set is 2N×2N")
    if radii is None:
        rad = traj.gd.radius if traj.gd is not None and traj.gd.paper_rule else None
        radii = [1.0] + ([float(rad[0]), float(rad[-1])] if rad is not None and len(rad) else [max_frob(layers0) + 1.0])
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
        grad = _Gradients(traj.Z, loss, shapes)

        def neg_ratio(x):
            a, b = _project(x[:N], shapes, R), _project(x[N:], shapes, R)
            if not np.any(a != b):
                return 0.0
            return -smoothness_ratio(traj.Z, loss, shapes, a, b, grad)[0]

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


@claim("gd.descent", statement="R(t+1) − R(t) ≤ −(η_t/2)‖∇R(W(t))‖²", source=PAPER_GD, kind="bound", needs=("A3.x", "A3.5"), methods=("gd",), group="gd_descent")
def gd_descent(run) -> Verdict:
    """gd.descent: R(t+1) − R(t) ≤ −(η_t/2)‖∇R(W(t))‖² at every step, compared in the log domain:
    log R(t+1) ≤ log R(t) + log1p(−x_t), x_t = (η_t/2)‖∇R(W(t))‖²/R(t)."""
    cid = "gd.descent"
    ps, missing = _steps_or_verdict(run, cid, 0.0)
    if missing is not None:
        return missing
    eta, lr, lg2, rad = ps.eta, ps.log_risk, ps.log_grad_sq, ps.radius
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


@claim("gd.error_budget", statement="Σ_t η_t ‖∇R(W(t))‖² ≤ 2 R(W(0))", source=PAPER_GD, kind="bound", needs=("A3.x", "A3.5"), methods=("gd",), group="gd_descent")
def gd_error_budget(run) -> Verdict:
    """gd.error_budget: Σ_t η_t ‖∇R(W(t))‖² ≤ 2 R(W(0)) over every recorded step (value: the ratio)."""
    cid = "gd.error_budget"
    ps, missing = _steps_or_verdict(run, cid, 1.0)
    if missing is not None:
        return missing
    eta, lr, lg2, rad = ps.eta, ps.log_risk, ps.log_grad_sq, ps.radius
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


@claim("gd.leaves_ball", statement="a constant step 1/β(R) eventually leaves B(R)", source=LEMMA6, kind="eventual", needs=("separable", "A1.1", "A1.2", "A3.x"), methods=("gd",), group="gd_lemmas56")
def gd_leaves_ball(run, *, max_steps: int = LEAVES_BALL_BUDGET) -> Verdict:
    """gd.leaves_ball (Lemma 6): constant step 1/β(R) from W(0), R = max(1, max_k ‖W_k(0)‖_F) + 1,
    leaves B(R) eventually. Holds if it left within ``max_steps`` (value: that step), else inconclusive."""
    cid = "gd.leaves_ball"
    traj = run.trajectory
    if traj.loss.beta is None or traj.loss.G is None:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, f"the {traj.loss.name} loss fails A3.x: β(R) undefined")
    layers0 = traj.checkpoints[0].layers
    R = max(1.0, max_frob(layers0)) + 1.0
    eta = 1.0 / beta_R(R, len(layers0), traj.loss)
    t = constant_step_gd(traj.Z, traj.loss, layers0, radius=R, max_steps=max_steps, step=eta)
    if t is None:
        return Verdict(cid, Status.INCONCLUSIVE, None, float(max_steps), f"constant step 1/β({R:.4g}) = {eta:.3g}: still inside B({R:.4g}) after {max_steps} steps")
    return Verdict(cid, Status.HOLDS, float(t), float(max_steps), f"constant step 1/β({R:.4g}) = {eta:.3g} left B({R:.4g}) at step {t}")


# ---------------------------------------------------------------- the limit claims: the gf predicates, as GD twins


def _gd_twin(gf_predicate):
    """The gf predicate judged on a GD run's late phase, its verdict renamed gd.<name>."""
    name = registry.claim_of(gf_predicate).id.removeprefix("gf.")

    def predicate(run: RunRecord) -> Verdict:
        late = gd_late_phase(run)
        if late is None:
            return Verdict(f"gd.{name}", Status.INCONCLUSIVE, None, None, f"fewer than {MIN_LATE_CHECKPOINTS} checkpoints in the late phase (n·R < ℓ(0)); {gd_progress(run)}")
        v = gf_predicate(late)
        return dataclasses.replace(v, claim=f"gd.{name}", reason=f"{v.reason}; {gd_progress(run)}")

    predicate.__name__ = f"gd_{name}"
    return predicate


def _gd_twin_series(gf_series):
    """The gf claim's series read on a GD run's late phase, as its twin predicate reads it ([]
    without one); None for a gf claim that exposes no series."""

    def series(run: RunRecord) -> list:
        late = gd_late_phase(run)
        return [] if late is None else gf_series(late)

    return None if gf_series is None else series


THEOREM3 = "submission Theorem 3 (GD); camera-ready §3"
THEOREM4 = "submission Theorem 4 (GD, logistic loss); camera-ready §3"
for _f in (theorem1.risk_to_zero, theorem1.norms_diverge, theorem1.rank_one, theorem1.adjacent_alignment, theorem1.product_alignment):
    registry.twin(_f, "gd." + registry.claim_of(_f).id.removeprefix("gf."), _gd_twin(_f), source=THEOREM3,
                  needs=("separable", "A1.1", "A1.2", "A3.x", "A3.5"), methods=("gd",), group="gd_theorems",
                  series=_gd_twin_series(registry.claim_of(_f).series))
for _f in (theorem2.max_margin_v1, theorem2.max_margin_product, theorem2.margin_corollary):
    registry.twin(_f, "gd." + registry.claim_of(_f).id.removeprefix("gf."), _gd_twin(_f), source=THEOREM4,
                  needs=("separable", "logistic", "A1.2", "A2.7", "generic", "A3.5"), methods=("gd",), group="gd_theorems",
                  series=_gd_twin_series(registry.claim_of(_f).series))


# ---------------------------------------------------------------- the exact identity


@claim("gd.balancedness_identity", statement="Δ_k(t+1) − Δ_k(t) = η_t² (G_{k+1}^T G_{k+1} − G_k G_k^T)", source=DERIVED, kind="identity", methods=("gd",), group="gd_identity")
def gd_balancedness_identity(run: RunRecord) -> Verdict:
    cid = "gd.balancedness_identity"
    traj = run.trajectory
    pairs = [cp for cp in traj.checkpoints if cp.next_layers is not None]
    if len(traj.checkpoints[0].layers) == 1:
        return Verdict(cid, Status.NOT_APPLICABLE, None, None, "L = 1: no layer pairs")
    if not pairs:
        return Verdict(cid, Status.INCONCLUSIVE, None, None, "no recorded GD step")
    eps = np.finfo(float).eps
    worst_ratio, worst = 0.0, 0.0
    for cp in pairs:
        # The updates U_k = η·G_k, as the step applied them: finite whenever W(t+1) is, where η²
        # alone can overflow (η = 1e308) and η²·(GᵀG) would be inf·0 or inf.
        U = [cp.step_size * G for G in risk_gradients(traj.Z, traj.loss, cp.layers)]
        lhs = [b - a for a, b in zip(balancedness(cp.layers), balancedness(cp.next_layers))]
        for k in range(len(lhs)):
            rhs = U[k + 1].T @ U[k + 1] - U[k] @ U[k].T
            res = float(FLOAT64.norm(lhs[k] - rhs))  # robust: entries ~‖W‖², whose squares may overflow
            W1, W2 = cp.layers[k], cp.layers[k + 1]
            # Rounding: fl(W − ηG) has error ≤ eps·|W'| entrywise; it enters Δ through products
            # with W, each a sum over at most max(shape) terms: 8·(m+2)·eps·(‖W_k‖² + ‖W_{k+1}‖²).
            m = max(W1.shape + W2.shape)
            tol = 8 * (m + 2) * eps * (float(np.sum(W1 * W1)) + float(np.sum(W2 * W2)) + float(np.sum(U[k] ** 2) + np.sum(U[k + 1] ** 2)))
            ratio = res / tol if tol > 0 else (math.inf if res > 0 else 0.0)
            if ratio > worst_ratio:
                worst_ratio, worst = ratio, res
            if res > tol:
                return Verdict(cid, Status.VIOLATED, res, tol, f"step t={int(cp.time)}, k={k+1}: residual {res:.3g} > rounding bound {tol:.3g}")
    return Verdict(cid, Status.HOLDS, worst, None, f"identity exact to rounding on {len(pairs)} recorded steps (worst residual {worst_ratio:.2g} x its rounding bound)")

