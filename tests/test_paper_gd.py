"""GD with the paper's step rule (Assumption 3.5) and the gd.* predicates of aligncheck.dynamics.gd and aligncheck.claims.ji_telgarsky.gd.

The step rule is checked against an independent re-implementation; the finite-time claims
(gd.descent, gd.error_budget, gd.smoothness) hold on genuine logistic runs, and each has a
negative control: a run whose record is broken in one stated way is reported ``violated``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import RunRecord
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.metrics import trajectory_metrics
from aligncheck.numerics.network import init_layers
from aligncheck.claims.ji_telgarsky.gd import gd_descent, gd_error_budget, gd_leaves_ball, gd_smoothness
from aligncheck.dynamics.gd import beta_R, constant_step_gd, paper_step_gd
from aligncheck.claims.registry import REGISTRY
from aligncheck.numerics.risk import risk_gradients
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status

STEPS = 2000


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(11, n=20, d=3, gamma=0.25, n_sv=3, sv_rank=3))


def _layers0(problem, L, seed=5, kind="gaussian"):
    return init_layers(kind, problem.d, [3] * (L - 1), seed, mean_z=problem.Z.mean(axis=0))


def _run(problem, traj, layers0):
    setup = Setup(problem.Z, problem.max_margin, traj.loss, layers0, "gd", step_rule="paper")
    return RunRecord(traj, trajectory_metrics(traj, problem.max_margin.u_bar), setup)


@pytest.fixture(scope="module", params=[2, 3])
def paper_run(request, problem):
    L0 = _layers0(problem, request.param)
    return _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=STEPS), L0)


def _with_per_step(run, **changes):
    """The same run with fields of its per-step log (Trajectory.gd) replaced."""
    traj = run.trajectory
    return dataclasses.replace(run, trajectory=dataclasses.replace(traj, gd=dataclasses.replace(traj.gd, **changes)))


# ---------------------------------------------------------------- the step rule


def test_beta_formula():
    # β(R) = 2 L² R^{2L−2} (β_ℓ + G_ℓ), logistic β_ℓ + G_ℓ = 5/4.
    assert beta_R(1.0, 1, LOGISTIC) == pytest.approx(2.5, rel=1e-14)
    assert beta_R(2.0, 2, LOGISTIC) == pytest.approx(2 * 4 * 4 * 1.25, rel=1e-14)
    assert beta_R(3.0, 3, LOGISTIC) == pytest.approx(2 * 9 * 81 * 1.25, rel=1e-14)


def test_step_rule_and_radius(paper_run):
    traj = paper_run.trajectory
    L = len(traj.initial)
    ps = traj.gd
    eta, R, F = ps.eta, ps.radius, ps.max_frob
    assert len(eta) == STEPS and len(R) == len(F) == len(ps.log_risk) == STEPS + 1
    expected = np.array([min(1.0 / beta_R(r, L, LOGISTIC), 1.0) for r in R[:-1]])
    np.testing.assert_allclose(eta, expected, rtol=1e-13)
    assert R[0] == pytest.approx(max(np.linalg.norm(W) for W in traj.initial) + 1.0, rel=1e-15)
    assert np.all(R >= 1) and np.all(np.diff(R) >= 0)  # never shrinks
    assert np.all(F <= R - 1.0)  # W(t) ∈ B(R_t − 1) at every step
    # Enlarged only when needed: every increase doubles, and only after W(t+1) left B(R_t − 1).
    up = np.nonzero(np.diff(R) > 0)[0]
    for t in up:
        ratio = R[t + 1] / R[t]
        assert math.log2(ratio) == pytest.approx(round(math.log2(ratio)))
        assert F[t + 1] > R[t] - 1.0 and F[t + 1] <= R[t + 1] - 1.0
        assert F[t + 1] > R[t + 1] / 2 - 1.0  # and by no more than needed
    # Checkpoints agree with the per-step log, and the recorded radii with R_t.
    for cp in traj.checkpoints:
        t = int(cp.time)
        assert traj.gd.radii[t] == R[t]
        assert max(np.linalg.norm(W) for W in cp.layers) == pytest.approx(F[t], rel=1e-15)
        if cp.step_size is not None:
            assert cp.step_size == eta[t]


def test_iterates_match_an_independent_implementation(problem):
    # Plain GD with the rule written out again, through risk_gradients instead of the log domain.
    L0 = _layers0(problem, 3, seed=2)
    traj = paper_step_gd(problem.Z, LOGISTIC, L0, steps=300, n_checkpoints=20)
    W = [w.copy() for w in L0]
    R = max(np.linalg.norm(w) for w in W) + 1
    at = {int(cp.time): cp.layers for cp in traj.checkpoints}
    for t in range(301):
        if t in at:
            for a, b in zip(W, at[t]):
                np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)
        eta = min(1 / (2 * 9 * R**4 * 1.25), 1)
        W = [w - eta * g for w, g in zip(W, risk_gradients(problem.Z, LOGISTIC, W))]
        while max(np.linalg.norm(w) for w in W) > R - 1:
            R *= 2


def test_exp_loss_fails_assumption_3x(problem):
    with pytest.raises(ProblemError, match="3.x"):
        paper_step_gd(problem.Z, EXP, _layers0(problem, 2), steps=10)
    with pytest.raises(ProblemError, match="3.x"):
        constant_step_gd(problem.Z, EXP, _layers0(problem, 2), radius=3.0, max_steps=10)


def test_bad_inputs_are_rejected(problem):
    L0 = _layers0(problem, 2)
    with pytest.raises(ProblemError, match="‖x_i‖ ≤ 1"):
        paper_step_gd(2 * problem.Z, LOGISTIC, L0, steps=10)
    with pytest.raises(ProblemError, match="R_0"):
        paper_step_gd(problem.Z, LOGISTIC, L0, steps=10, radius0=1.0)
    with pytest.raises(ProblemError, match="positive integer"):
        paper_step_gd(problem.Z, LOGISTIC, L0, steps=0)


def test_critical_point_stops_cleanly(problem):
    zero = tuple(np.zeros_like(W) for W in _layers0(problem, 2))
    traj = paper_step_gd(problem.Z, LOGISTIC, zero, steps=10)
    assert traj.stop_reason.startswith("critical point")
    assert len(traj.gd.eta) == 0
    run = _run(problem, traj, zero)
    assert gd_descent(run).status == Status.INCONCLUSIVE
    assert gd_error_budget(run).status == Status.INCONCLUSIVE


# ---------------------------------------------------------------- finite-time claims hold on genuine runs


def test_descent_and_budget_hold(paper_run):
    for f in (gd_descent, gd_error_budget):
        v = f(paper_run)
        assert v.status == Status.HOLDS, v
    assert gd_error_budget(paper_run).value <= 1.0


def test_larger_radius_also_obeys_the_claims(problem):
    L0 = _layers0(problem, 2, seed=7)
    run = _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=500, radius0=5.0), L0)
    assert run.trajectory.gd.radius[0] == 5.0
    assert gd_descent(run).status == Status.HOLDS
    assert gd_error_budget(run).status == Status.HOLDS


def test_smoothness_holds_and_flags_a_too_small_beta(problem):
    L0 = _layers0(problem, 2)
    run = _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=200), L0)
    good = gd_smoothness(run, n_pairs=30, n_searches=1, radii=[1.0, 3.0])
    assert good.status == Status.HOLDS and good.value < 1.0, good
    bad = gd_smoothness(run, beta_scale=1e-3, n_pairs=30, n_searches=1, radii=[1.0])
    assert bad.status == Status.VIOLATED, bad
    assert bad.value > 1.0


# ---------------------------------------------------------------- negative controls


def test_descent_flags_a_step_ten_times_the_rule(paper_run):
    # Recorded η 10x the one actually taken: the bound then demands a 5x larger decrease than a
    # step η achieves (to first order, η‖∇R‖²).
    ps = paper_run.trajectory.gd
    v = gd_descent(_with_per_step(paper_run, eta=10 * ps.eta))
    assert v.status == Status.VIOLATED, v


def test_descent_flags_a_risk_that_rises(paper_run):
    ps = paper_run.trajectory.gd
    lr = ps.log_risk.copy()
    lr[STEPS // 2] = lr[STEPS // 2 - 1] + 1e-9  # one step on which the risk rises slightly
    assert gd_descent(_with_per_step(paper_run, log_risk=lr)).status == Status.VIOLATED


def test_error_budget_flags_an_inflated_step(problem):
    # Σ η‖∇R‖² ≈ R(0) − R(N) (first order), so the budget 2R(0) has a factor 2 of slack: doubling
    # the recorded η stays within it. Tripling exceeds it once the risk has fallen by more than
    # 2/3 of R(0), which an L = 2 run does within 2000 steps (it falls by ~84%).
    L0 = _layers0(problem, 2)
    run = _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=STEPS), L0)
    ps = run.trajectory.gd
    assert -math.expm1(ps.log_risk[-1] - ps.log_risk[0]) > 2 / 3
    assert gd_error_budget(_with_per_step(run, eta=2 * ps.eta)).status == Status.HOLDS
    v = gd_error_budget(_with_per_step(run, eta=3 * ps.eta))
    assert v.status == Status.VIOLATED and v.value > 1, v


def test_a_real_run_with_a_much_larger_step_breaks_descent(problem):
    # β(R) is a loose bound (the measured curvature on B(R) is a few % of it), so a real run at
    # 10x the step still descends; at 1000x it does not.
    L0 = _layers0(problem, 2)
    traj = paper_step_gd(problem.Z, LOGISTIC, L0, steps=STEPS, step_scale=1000.0)
    assert traj.gd.rule == "paper×1000"
    assert gd_descent(_run(problem, traj, L0)).status == Status.VIOLATED


# ---------------------------------------------------------------- Lemma 6 and the limit claims


def test_leaves_ball(problem):
    L0 = _layers0(problem, 2)
    R = max(1.0, max(np.linalg.norm(W) for W in L0)) + 1
    t = constant_step_gd(problem.Z, LOGISTIC, L0, radius=R, max_steps=5000)
    assert t is not None and t > 1
    run = _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=50), L0)
    v = gd_leaves_ball(run, max_steps=5000)
    assert v.status == Status.HOLDS and v.value == t
    short = gd_leaves_ball(run, max_steps=t - 1)
    assert short.status == Status.INCONCLUSIVE


def test_limit_claims_are_renamed_and_inconclusive_on_a_short_run(paper_run):
    ids = [k for k, c in REGISTRY.items() if c.group == "gd_theorems"]
    assert len(ids) == 8
    for cid in ids:
        v = REGISTRY[cid].predicate(paper_run)
        assert v.claim == cid
        # The paper's step is tiny: 2000 steps are far from the late phase.
        assert v.status in (Status.INCONCLUSIVE, Status.NOT_APPLICABLE), v
        assert "GD run reached step" in v.reason and "min_k ‖W_k‖_F" in v.reason


# A run long enough to reach the late phase (n·R < ℓ(0)) and judge the limit claims: depth 2,
# init scale 0.1 (the balancedness constant D is then small), 30,000 steps of the paper's rule.
LATE_STEPS = 30_000


@pytest.fixture(scope="module")
def late_run():
    problem = planted_case(planted_problem(4, n=2, d=2, gamma=0.4, n_sv=2, sv_rank=2))
    L0 = init_layers("gaussian", 2, [2], 4, scale=0.1, mean_z=problem.Z.mean(axis=0))
    return problem, _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=LATE_STEPS), L0)


def _broken(problem, run, change):
    """The run with ``change(layers, t / LATE_STEPS)`` applied to its checkpoints from step LATE_STEPS/2 on."""
    traj = run.trajectory
    cps = [dataclasses.replace(cp, layers=change(cp.layers, cp.time / LATE_STEPS)) if cp.time >= LATE_STEPS / 2 else cp for cp in traj.checkpoints]
    bad = dataclasses.replace(traj, checkpoints=cps)
    return RunRecord(bad, trajectory_metrics(bad, problem.max_margin.u_bar), run.setup)


LIMIT_IDS = [f"gd.{n}" for n in ("risk_to_zero", "norms_diverge", "rank_one", "adjacent_alignment", "product_alignment", "max_margin_v1", "max_margin_product", "margin_corollary")]


def test_limit_claims_hold_on_a_late_phase_run(late_run):
    problem, run = late_run
    for cid in LIMIT_IDS:
        v = REGISTRY[cid].predicate(run)
        assert v.status == Status.HOLDS, v


def test_limit_claims_flag_a_product_turned_away(late_run):
    problem, run = late_run
    # Flip the output layer: w_prod → −w_prod, so the product points to −ū and every margin flips.
    bad = _broken(problem, run, lambda layers, frac: (layers[0], -layers[1]))
    for cid in ("gd.risk_to_zero", "gd.max_margin_product", "gd.margin_corollary"):
        assert REGISTRY[cid].predicate(bad).status == Status.VIOLATED, cid


def test_limit_claims_flag_a_layer_that_turns_rank_two(late_run):
    problem, run = late_run

    def spoil(layers, frac):  # a second singular value that grows to half the first
        W1 = layers[0].copy()
        U, s, Vt = np.linalg.svd(W1)
        return (W1 + 0.5 * frac * s[0] * np.outer(U[:, 1], Vt[1]), layers[1])

    bad = _broken(problem, run, spoil)
    assert REGISTRY["gd.rank_one"].predicate(bad).status == Status.VIOLATED


def test_limit_claims_inconclusive_before_the_late_phase(problem):
    # W_1 = 0 at depth 3 sits near the saddle at 0: after 2000 steps n·R is still ℓ(0).
    L0 = _layers0(problem, 3, kind="w1zero")
    run = _run(problem, paper_step_gd(problem.Z, LOGISTIC, L0, steps=STEPS), L0)
    for cid in LIMIT_IDS:
        v = REGISTRY[cid].predicate(run)
        assert v.status == Status.INCONCLUSIVE and "late phase" in v.reason, v
