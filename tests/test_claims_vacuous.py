"""Evidence that shows nothing is not evidence (issue 8): claims true by construction are
``not_applicable``, runs that did not move are ``inconclusive``, and A1.2 is judged at the first
admissible time instead of at t = 0 only."""

from __future__ import annotations

import re

import dataclasses
import numpy as np
import pytest

from aligncheck.claims.assumptions import Setup, a12_start, run_assumptions
from aligncheck.claims.check import check_claims
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.metrics import lemma2_D, restarted, trajectory_metrics
from aligncheck.numerics.network import init_layers
from aligncheck.data.problem import Problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.harness.runner import run_checked
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(11, n=20, d=3, gamma=0.25, n_sv=3, sv_rank=3))


def _verdicts(problem, widths, seed=5, init="gaussian", **flow):
    W0 = init_layers(init, problem.d, widths, seed, mean_z=problem.Z.mean(axis=0))
    traj = gradient_flow(problem.Z, EXP, W0, target_layer_norm=100.0, **flow)
    setup = Setup(problem.Z, problem.max_margin, EXP, W0, "gf")
    return {v.claim: v for v in check_claims(traj, setup, problem.max_margin.u_bar)}, traj


BY_CONSTRUCTION = ("gf.rank_one", "gf.product_alignment", "gf.lemma2_rank_bound")


def test_depth_one_claims_true_by_construction_are_not_applicable(problem):
    vs, _ = _verdicts(problem, ())
    for cid in BY_CONSTRUCTION:
        assert vs[cid].status == Status.NOT_APPLICABLE and "by construction" in vs[cid].reason, vs[cid]
    # The same run does judge the claims with content.
    assert vs["gf.risk_to_zero"].status == Status.HOLDS and vs["gf.norms_diverge"].status == Status.HOLDS


def test_width_one_networks_are_not_applicable_where_true_by_construction(problem):
    vs, _ = _verdicts(problem, (1, 1))
    for cid in (*BY_CONSTRUCTION, "gf.adjacent_alignment", "gf.lemma2_alignment_bound"):
        assert vs[cid].status == Status.NOT_APPLICABLE and "by construction" in vs[cid].reason, vs[cid]


def test_a_bottleneck_keeps_the_layers_with_content(problem):
    # Widths (3, 1): W_1 (3x3) has content; W_2 (1x3) and W_3 (1x1) are vectors; the pair
    # (W_1, W_2) shares d_1 = 3 and has content, the pair (W_2, W_3) shares d_2 = 1.
    vs, _ = _verdicts(problem, (3, 1))
    for cid in ("gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound"):
        assert vs[cid].status == Status.HOLDS, vs[cid]
    assert "σ_1" in vs["gf.rank_one"].reason and "<v_2, u_1>" in vs["gf.adjacent_alignment"].reason


def test_a_run_that_did_not_move_shows_nothing(problem):
    vs, traj = _verdicts(problem, (3, 3))
    frozen = dataclasses.replace(traj, checkpoints=traj.checkpoints[:2], stop_reason="approaching a critical point (planted)")
    setup = Setup(problem.Z, problem.max_margin, EXP, traj.initial, "gf")
    again = {v.claim: v for v in check_claims(frozen, setup, problem.max_margin.u_bar)}
    for cid in ("gf.risk_monotone", "gf.balancedness", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound"):
        assert vs[cid].status == Status.HOLDS, vs[cid]  # the control: on the whole run they hold
        assert again[cid].status == Status.INCONCLUSIVE and "did not move" in again[cid].reason, again[cid]
    # Many checkpoints, but a state that barely changed: the same.
    still = dataclasses.replace(traj, checkpoints=[dataclasses.replace(cp, layers=tuple(W * (1 + 1e-6 * k) for W in traj.initial))
                                                   for k, cp in enumerate(traj.checkpoints[:10])])
    again = {v.claim: v for v in check_claims(still, setup, problem.max_margin.u_bar)}
    assert again["gf.balancedness"].status == Status.INCONCLUSIVE and "did not move" in again["gf.balancedness"].reason


# n = 8 random unit points in R^30 (data seed 0), depth 2, logistic loss, Gaussian start with seed
# 7: R(W(0)) = 0.7011 > ℓ(0) = log 2, so A1.2 fails at t = 0; gradient flow brings R below ℓ(0)
# within s = 0.05, and the theorem applies to the flow from there.
def _late_start_problem() -> Problem:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 30))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return Problem.from_arrays(X, rng.choice([-1.0, 1.0], size=8))


def test_a12_is_judged_at_the_first_admissible_time():
    problem = _late_start_problem()
    spec = RunSpec(depth=2, loss="logistic", init="gaussian", seed=7)
    out = run_checked(problem, spec)
    W0 = out.trajectory.initial
    assert not Setup(problem.Z, problem.max_margin, LOGISTIC, W0, "gf").check()["A1.2"][0]
    holds, reason = out.assumptions["A1.2"]
    assert holds and "fails at the start" in reason and "holds from s = " in reason
    start = a12_start(out.trajectory, LOGISTIC)
    assert start.index and start.time > 0
    vs = {v.claim: v for v in out.verdicts}
    for cid in ("gf.risk_to_zero", "gf.norms_diverge", "gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment"):
        assert vs[cid].status == Status.HOLDS and vs[cid].judged_from == start.time, vs[cid]
    # Claims that need no A1.2 are judged on the whole run.
    assert vs["gf.balancedness"].judged_from is None and vs["gf.risk_monotone"].judged_from is None
    # Lemma 2's constants are those of W(t₀): D (an invariant of the flow, so equal to D(0) up to
    # the integrator's error) and the initial spectral norms of the alignment bound (not invariant).
    W_t0 = out.trajectory.checkpoints[start.index].layers
    D = float(re.search(r"\(D = ([-+0-9.e]+)\)", vs["gf.lemma2_rank_bound"].reason).group(1))
    assert vs["gf.lemma2_rank_bound"].threshold == 0.0 and D == pytest.approx(lemma2_D(W_t0), rel=1e-10)
    tm = trajectory_metrics(out.trajectory)
    later = restarted(tm, out.trajectory, start.index)
    assert later.spec0_sq == pytest.approx([np.linalg.norm(W, 2) ** 2 for W in W_t0], rel=1e-12)
    assert not np.allclose(later.spec0_sq, tm.spec0_sq, rtol=1e-3)
    for cid in ("gf.lemma2_rank_bound", "gf.lemma2_alignment_bound"):
        assert vs[cid].status == Status.HOLDS and vs[cid].judged_from == start.time


def test_a_run_that_never_enters_the_theorems_region_stays_not_applicable():
    # control.bad_init: R → ℓ(0) from above; rounded, R = ℓ(0) exactly near the end, which must
    # not count as entering the region R < ℓ(0).
    problem = Problem.from_arrays(np.array([[1.0]]), np.array([1.0]))
    W0 = (np.array([[2.0]]), np.array([[-2.0]]))
    traj = gradient_flow(problem.Z, EXP, W0, s_max=1.0)
    assumptions, start = run_assumptions(Setup(problem.Z, problem.max_margin, EXP, W0, "gf"), traj)
    assert start.index is None and not assumptions["A1.2"][0]
    vs = {v.claim: v for v in check_claims(traj, Setup(problem.Z, problem.max_margin, EXP, W0, "gf"))}
    assert vs["gf.risk_to_zero"].status == Status.NOT_APPLICABLE and "A1.2" in vs["gf.risk_to_zero"].reason
