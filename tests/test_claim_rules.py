"""The rules behind the verdicts, each pinned on a synthetic run built to sit on one side of it:
thresholds, the growth conditions, how per-layer verdicts combine, the exact form of Lemma 2's
alignment bound, and the assumptions. (Each test would pass on a judge that had lost the rule
only by accident: they are what mutation testing of the verdict logic checks against.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aligncheck.claims.assumptions import Setup, a12_at
from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky.common import GAP_THRESHOLD, NORM_THRESHOLD, worst_of_layers
from aligncheck.claims.ji_telgarsky.lemma2 import lemma2_alignment_bound
from aligncheck.claims.ji_telgarsky.theorem1 import norms_diverge, rank_one
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.trajectory import Checkpoint, FlowInfo, Trajectory
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.metrics import trajectory_metrics
from aligncheck.numerics.network import init_layers
from aligncheck.data.problem import Problem
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status, Verdict


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(11, n=20, d=2, gamma=0.25, n_sv=2, sv_rank=2))


def _run(problem, layer_seq, times=None) -> RunRecord:
    cps = [Checkpoint(float(t), tuple(np.array(W, dtype=float) for W in layers)) for t, layers in zip(times if times is not None else range(len(layer_seq)), layer_seq)]
    traj = Trajectory("gf", problem.Z, EXP, cps, "planted", 0, 0.0, integrator=FlowInfo(rtol=1e-9, atol=1e-12, s_max=40.0, checkpoint_every=0.05))
    setup = Setup(problem.Z, problem.max_margin, EXP, cps[0].layers, "gf")
    return RunRecord(traj, trajectory_metrics(traj, problem.max_margin.u_bar), setup)


def _rank_gap_run(problem, end_gap: float) -> RunRecord:
    # W_1 = s·diag(1, e) with e = min(0.5, c/s), so 1 − σ_1/‖W_1‖_F ≈ e²/2 is constant, then decays
    # like ‖W_1‖^-2 (its rate constant settled), ending at end_gap; W_2 = s·(1, 0).
    s = np.geomspace(1.0, 1e4, 80)
    e = np.minimum(0.5, np.sqrt(2 * end_gap) * s[-1] / s)
    return _run(problem, [(si * np.diag([1.0, ei]), si * np.array([[1.0, 0.0]])) for si, ei in zip(s, e)])


def test_a_decaying_gap_above_gap_threshold_is_inconclusive(problem):
    above = rank_one(_rank_gap_run(problem, 5 * GAP_THRESHOLD))
    below = rank_one(_rank_gap_run(problem, 0.2 * GAP_THRESHOLD))
    assert above.status == Status.INCONCLUSIVE and f"still above {GAP_THRESHOLD:g}" in above.reason
    assert below.status == Status.HOLDS


def test_norms_above_the_threshold_must_still_grow(problem):
    W = (np.eye(2) * 2 * NORM_THRESHOLD, np.array([[2 * NORM_THRESHOLD, 0.0]]))
    slow = norms_diverge(_run(problem, [tuple((1 + 0.01 * j) * A for A in W) for j in range(40)]))
    fast = norms_diverge(_run(problem, [tuple((1.1**j) * A for A in W) for j in range(40)]))
    assert slow.status == Status.INCONCLUSIVE  # above NORM_THRESHOLD, but grew only 1.2x in the late half
    assert fast.status == Status.HOLDS
    small = norms_diverge(_run(problem, [tuple((1.1**j) * A / (8 * NORM_THRESHOLD) for A in W) for j in range(40)]))
    assert small.status == Status.INCONCLUSIVE  # growing fast, but ending below NORM_THRESHOLD


def test_per_layer_verdicts_combine_worst_first():
    v = lambda st, val: Verdict("gf.rank_one", st, val, 1e-3, st.value)
    assert worst_of_layers([v(Status.HOLDS, 1e-5), v(Status.INCONCLUSIVE, 1e-2), v(Status.VIOLATED, 1e-4)], "gf.rank_one", 1e-3).status == Status.VIOLATED
    assert worst_of_layers([v(Status.HOLDS, 1e-5), v(Status.INCONCLUSIVE, 1e-2)], "gf.rank_one", 1e-3).status == Status.INCONCLUSIVE
    combined = worst_of_layers([v(Status.HOLDS, 1e-5), v(Status.HOLDS, 1e-4)], "gf.rank_one", 1e-3)
    assert combined.status == Status.HOLDS and combined.value == 1e-4  # the worst value


def test_the_alignment_bound_is_on_one_minus_c_squared():
    # Lemma 2: ⟨v_{k+1}, u_k⟩² ≥ 1 − C/σ_{k+1}². Planted at one checkpoint of a genuine run:
    # v_2 turned away from u_1 so that 1 − c² = 1.5·(the bound) while 1 − |c| ≈ 0.75·(the bound).
    p = planted_case(planted_problem(11, n=20, d=3, gamma=0.25, n_sv=3, sv_rank=3))
    W0 = init_layers("gaussian", 3, [3], 5, mean_z=p.Z.mean(axis=0))
    traj = gradient_flow(p.Z, EXP, W0, target_layer_norm=100.0)
    setup = Setup(p.Z, p.max_margin, EXP, W0, "gf")
    run = RunRecord(traj, trajectory_metrics(traj, p.max_margin.u_bar), setup)
    assert lemma2_alignment_bound(run).status == Status.HOLDS
    tm = run.metrics
    sig = tm.stack("sigma")
    C = tm.D + tm.spec0_sq[1] + tm.spec0_sq[0]
    j = int(np.argmin(np.abs(C / sig[:, 1] ** 2 - 1e-3)))  # a checkpoint where the bound is ~1e-3
    W1, W2 = traj.checkpoints[j].layers
    u1 = np.linalg.svd(W1)[0][:, 0]
    perp = np.linalg.svd(np.eye(3) - np.outer(u1, u1))[0][:, 0]
    sin2 = 1.5 * C / np.linalg.norm(W2) ** 2
    W2_new = np.linalg.norm(W2) * (np.sqrt(1 - sin2) * u1 + np.sqrt(sin2) * perp)[None, :]
    cps = list(traj.checkpoints)
    cps[j] = dataclasses.replace(cps[j], layers=(W1, W2_new))
    bent = dataclasses.replace(traj, checkpoints=cps)
    v = lemma2_alignment_bound(RunRecord(bent, trajectory_metrics(bent, p.max_margin.u_bar), setup))
    assert v.status == Status.VIOLATED, v


def test_a12_fails_above_ell_zero_and_at_a_critical_point(problem):
    W = init_layers("gaussian", 2, [2], 0, mean_z=problem.Z.mean(axis=0))
    assert a12_at(problem.Z, EXP, W, slack=True)[0]
    assert not a12_at(problem.Z, EXP, (W[0], -W[1]), slack=True)[0]  # w_prod turned to −mean z: R > ℓ(0)
    assert not a12_at(problem.Z, EXP, tuple(np.zeros_like(A) for A in W), slack=True)[0]  # W ≡ 0: ∇R = 0
    w1zero = init_layers("w1zero", 2, [2], 0, mean_z=problem.Z.mean(axis=0))
    assert a12_at(problem.Z, LOGISTIC, w1zero, slack=True)[0]  # R = ℓ(0) exactly: admitted at the start
    assert not a12_at(problem.Z, LOGISTIC, w1zero, slack=False)[0]  # but not later (R < ℓ(0) needed)


def _generic(X, y) -> tuple[bool, str]:
    p = Problem.from_arrays(np.array(X, dtype=float), np.array(y, dtype=float))
    return Setup(p.Z, p.max_margin, EXP, init_layers("gaussian", p.d, [], 0), "gf").check()["generic"]


def test_generic_needs_independent_support_vectors_and_positive_duals():
    assert _generic([[0.5, 0.1], [0.1, 0.5]], [1, 1])[0]  # two independent SVs, both duals > 0
    # Three support vectors in R^2 (dependent), every dual > 0: not generic.
    ok, why = _generic([[0.5, 0.0], [0.0, 0.5], [0.25, 0.25]], [1, 1, 1])
    assert not ok and "3 support vectors of rank 2" in why
    # Independent support vectors but a zero dual coefficient: (0.5, 0) alone fixes the margin
    # direction; (0.5, 0.5) lies exactly on the margin with dual 0.
    ok, why = _generic([[0.5, 0.0], [0.5, 0.5]], [1, 1])
    assert not ok


def test_a_dual_coefficient_at_rounding_level_is_not_generic():
    from types import SimpleNamespace

    from aligncheck.claims.assumptions import GENERIC_DUAL_TOL

    Z = np.array([[0.5, 0.1], [0.1, 0.5]])
    for tiny, generic in ((0.1 * GENERIC_DUAL_TOL, False), (10 * GENERIC_DUAL_TOL, True)):
        mm = SimpleNamespace(support=np.array([0, 1]), sv_rank=2, alpha=np.array([1.0, tiny]), sv_span_full=True, sv_span_data=True)
        assert Setup(Z, mm, EXP, init_layers("gaussian", 2, [], 0), "gf").check()["generic"][0] is generic
