"""What a judged run keeps (aligncheck.claims.check.JudgedRun) and the bookkeeping of a later A1.2
start (aligncheck.claims.assumptions), on a hand-made run: A1.2 fails at t = 0 (w_prod points
away from the data) and holds from checkpoint 2 on. Built by hand so that each check takes
milliseconds (the flow-based tests in test_claims_vacuous.py take seconds)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from aligncheck.claims import assumptions
from aligncheck.claims.assumptions import (
    Setup,
    a12_start,
    register_assumption,
    run_assumptions,
)
from aligncheck.claims.check import check_claims, judge_run
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import BoundSeries, LimitSeries, Status
from aligncheck.data.problem import Problem
from aligncheck.dynamics.trajectory import Checkpoint, FlowInfo, Trajectory
from aligncheck.numerics.losses import EXP, LOGISTIC

START = 2  # the first checkpoint where A1.2 holds
TIMES = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]


def _problem() -> Problem:
    return Problem.from_arrays(np.array([[1.0, 0.5], [0.5, 1.0], [-1.0, -0.25]]), np.array([1.0, 1.0, -1.0]))


def late_start_run(method: str = "gf") -> tuple[Trajectory, Setup, np.ndarray]:
    """Depth 2, W_1 = s·I, W_2 = s·vᵀ: v = −ū (R > ℓ(0)) before checkpoint START, v = ū from there,
    while s grows x100."""
    p = _problem()
    u = p.max_margin.u_bar
    cps = [Checkpoint(t, (s * np.eye(2), s * (u if i >= START else -u)[None, :]))
           for i, (t, s) in enumerate(zip(TIMES, np.geomspace(1.0, 100.0, len(TIMES))))]
    info = FlowInfo(rtol=1e-9, atol=1e-12, s_max=40.0, checkpoint_every=0.05) if method == "gf" else None
    traj = Trajectory(method, p.Z, EXP, cps, "hand-made", 0, 0.0, integrator=info)
    return traj, Setup(p.Z, p.max_margin, EXP, cps[0].layers, method), u


def test_a12_start_names_the_time_in_the_methods_unit():
    gf, _, _ = late_start_run()
    start = a12_start(gf, EXP)
    assert (start.index, start.time) == (START, TIMES[START])
    assert start.reason.startswith("fails at the start (R(W(0)) = ")
    assert f"holds from s = {TIMES[START]:.4g} (checkpoint {START}): R(W(t₀)) = " in start.reason
    gd = dataclasses.replace(gf, method="gd", integrator=None)
    assert f"holds from step = {TIMES[START]:.4g} (checkpoint {START})" in a12_start(gd, EXP).reason


def test_run_assumptions_judges_a12_at_the_first_admissible_checkpoint():
    traj, setup, _ = late_start_run()
    assert not setup.check()["A1.2"][0]  # at W(0) only
    found, start = run_assumptions(setup, traj)
    assert found["A1.2"] == (True, start.reason) and start.index == START
    assert {k: v for k, v in found.items() if k != "A1.2"} == {k: v for k, v in setup.check().items() if k != "A1.2"}


def test_claims_that_need_a12_are_judged_on_the_rest_of_the_run():
    traj, setup, u = late_start_run()
    judged = judge_run(traj, setup, u, ["gf.rank_one", "gf.balancedness", "gf.risk_to_zero"])
    assert judged.later is not None and judged.later.trajectory.checkpoints == traj.checkpoints[START:]
    assert judged.record_for("gf.rank_one") is judged.later  # needs A1.2
    assert judged.record_for("gf.balancedness") is judged.run  # needs nothing: the whole run
    vs = {v.claim: v for v in judged.verdicts}
    assert vs["gf.rank_one"].judged_from == TIMES[START] and vs["gf.rank_one"].reason.endswith(f"[judged from s = {TIMES[START]:.4g}, where A1.2 first holds]")
    assert vs["gf.balancedness"].judged_from is None and "judged from" not in vs["gf.balancedness"].reason
    assert judged.judged == {"gf.rank_one", "gf.balancedness", "gf.risk_to_zero"}


def test_series_are_those_of_the_record_each_claim_was_given():
    traj, setup, u = late_start_run()
    judged = judge_run(traj, setup, u, ["gf.rank_one", "gf.balancedness", "gf.risk_to_zero"])
    rank = judged.series("gf.rank_one")
    assert rank and all(isinstance(s, LimitSeries) for s in rank)
    assert all(list(s.times) == TIMES[START:] for s in rank)  # from where A1.2 first holds
    balanced = judged.series("gf.balancedness")
    assert balanced and all(isinstance(s, BoundSeries) and list(s.times) == TIMES for s in balanced)
    assert judged.series("gf.risk_to_zero") == []  # judged, but exposes no series
    assert judged.series("gf.max_margin_v1") == []  # exposes series, but was not asked for


def test_no_series_for_a_claim_whose_assumption_failed():
    traj, setup, u = late_start_run()
    never = dataclasses.replace(traj, checkpoints=traj.checkpoints[:START])  # A1.2 holds nowhere
    judged = judge_run(never, setup, u, ["gf.rank_one", "gf.balancedness"])
    assert judged.later is None and judged.judged == {"gf.balancedness"}
    assert judged.verdicts[0].status == Status.NOT_APPLICABLE and judged.verdicts[0].reason.startswith("A1.2 fails: ")
    assert judged.series("gf.rank_one") == [] and judged.series("gf.balancedness")
    assert judged.record_for("gf.rank_one") is judged.run  # no later start: the whole run


def test_a_registered_assumption_is_decided_on_every_setup(monkeypatch):
    monkeypatch.setattr(assumptions, "ASSUMPTIONS", dict(assumptions.ASSUMPTIONS))
    monkeypatch.setattr(assumptions, "_REGISTERED", dict(assumptions._REGISTERED))
    _, setup, _ = late_start_run()

    def wide(s: Setup) -> tuple[bool, str]:
        return s.Z.shape[1] > 5, f"d = {s.Z.shape[1]}"

    register_assumption("wide", "the data have more than 5 features", wide)
    assert assumptions.ASSUMPTIONS["wide"] == "the data have more than 5 features"
    assert setup.check()["wide"] == (False, "d = 2")
    register_assumption("wide", "the data have more than 5 features", wide)  # the same check again: no-op
    with pytest.raises(ValueError, match="assumption 'wide' is already registered"):
        register_assumption("wide", "another", lambda s: (True, ""))
    with pytest.raises(ValueError, match="assumption 'A1.2' is already registered"):
        register_assumption("A1.2", "built in", wide)
    assert assumptions.ASSUMPTIONS["wide"] == "the data have more than 5 features"


def test_the_predicate_is_given_the_rest_of_the_run():
    # Lemma 2's D is taken where the record starts: the rest of the run (from checkpoint START,
    # where the layers are larger) gives another value than the whole run; the verdict is the former.
    traj, setup, u = late_start_run()
    judged = judge_run(traj, setup, u, ["gf.lemma2_rank_bound"])
    claim = REGISTRY["gf.lemma2_rank_bound"]
    on_rest, on_whole = claim.predicate(judged.later), claim.predicate(judged.run)
    assert on_rest.value != on_whole.value  # the two records are different evidence
    (v,) = judged.verdicts
    assert (v.status, v.value) == (on_rest.status, on_rest.value)


def test_a_claim_about_the_other_method_is_not_applicable():
    traj, setup, u = late_start_run()
    v, w = judge_run(traj, setup, u, ["gd.descent", "gf.rank_one"]).verdicts  # and the next claim is judged
    assert (v.claim, v.status) == ("gd.descent", Status.NOT_APPLICABLE)
    assert v.reason == "about gd, run used gf"
    assert w.claim == "gf.rank_one" and w.status != Status.NOT_APPLICABLE


def test_a_gd_run_is_judged_from_a_step():
    # The same hand-made run as a GD run (logistic loss, data in the unit ball, the paper's step
    # rule: A3.x and A3.5 hold): the claims that need A1.2 say from which step they were judged.
    traj, setup, u = late_start_run("gd")
    Z = traj.Z / 1.2
    traj = dataclasses.replace(traj, Z=Z, loss=LOGISTIC)
    setup = dataclasses.replace(setup, Z=Z, loss=LOGISTIC, step_rule="paper")
    (v,) = judge_run(traj, setup, u, ["gd.risk_to_zero"]).verdicts
    assert v.status != Status.NOT_APPLICABLE and v.judged_from == TIMES[START]
    assert v.reason.endswith(f"[judged from step = {TIMES[START]:.4g}, where A1.2 first holds]")


def test_check_claims_uses_the_assumptions_it_is_given():
    traj, setup, u = late_start_run()
    told = {**run_assumptions(setup, traj)[0], "A1.2": (False, "told so")}
    (v,) = check_claims(traj, setup, u, ["gf.rank_one"], assumptions=told)
    assert v.status == Status.NOT_APPLICABLE and v.reason == "A1.2 fails: told so"
    (v,) = check_claims(traj, setup, u, ["gf.rank_one"])  # decided from the run: A1.2 holds from START
    assert v.status != Status.NOT_APPLICABLE


def _run_of(layer_list: list, method: str = "gf") -> Trajectory:
    p = _problem()
    cps = [Checkpoint(float(i), layers) for i, layers in enumerate(layer_list)]
    return Trajectory(method, p.Z, EXP, cps, "hand-made", 0, 0.0)


def test_a12_at_the_start_allows_equality_later_checkpoints_need_a_strict_fall():
    u = _problem().max_margin.u_bar
    zero_first = (np.zeros((2, 2)), u[None, :])  # W_1 = 0: R = ℓ(0) exactly, ∇R ≠ 0
    away, toward = (np.eye(2), -u[None, :]), (np.eye(2), u[None, :])  # R > ℓ(0), R < ℓ(0)
    start = a12_start(_run_of([zero_first, away]), EXP)
    assert (start.index, start.time) == (0, 0.0) and start.reason.startswith("R(W(0)) = ") and "≤ ℓ(0), ∇R ≠ 0" in start.reason
    # later, R = ℓ(0) is not yet a start (the theorems need R(W(t₀)) < ℓ(0) there, beyond rounding)
    start = a12_start(_run_of([away, zero_first, toward]), EXP)
    assert (start.index, start.time) == (2, 2.0) and "< ℓ(0), ∇R ≠ 0; the claims that need it are judged from there" in start.reason
    Z = _problem().Z
    assert assumptions.a12_at(Z, EXP, zero_first, slack=False, label="W(t₀)") == (False, "R(W(t₀)) = 1 ≥ ℓ(0) = 1")
    never = a12_start(_run_of([away, zero_first]), EXP)
    assert never.index is None and never.time is None
    assert never.reason.endswith("at the start, and at no later checkpoint R < ℓ(0) with ∇R ≠ 0") and never.reason.startswith("R(W(0)) = ")


def test_separability_is_named_in_the_assumptions():
    traj, setup, _ = late_start_run()
    assert setup.check()["separable"] == (True, "linearly separable")
    assert dataclasses.replace(setup, max_margin=None).check()["separable"] == (False, "no separating direction")


def test_the_assumptions_of_a_setup_name_what_they_found():
    # Setup.check()'s statuses and reasons, on data whose answers are known by hand.
    traj, setup, _ = late_start_run()
    found = setup.check()
    assert found["A2.7"] == (True, "support vectors span R^d")
    gone = dataclasses.replace(setup, max_margin=None).check()  # not separable
    assert gone["A2.7"] == (False, "no max-margin direction (not separable)")
    assert gone["generic"] == (False, "no support vectors (not separable)")
    three = np.array([[1.0, 0, 0], [3, 3, 0], [3, -3, 0]])  # one support vector, rank 1; the data span 2 dimensions
    p = Problem.from_arrays(three, np.ones(3))
    a27 = Setup(p.Z, p.max_margin, EXP, (np.ones((1, 3)),), "gf").check()["A2.7"]
    assert a27 == (False, "support vectors span a proper subspace (1 support vectors of rank 1 < d = 3; smaller than the span of the data)")
    p = Problem.from_arrays(np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0]]), np.ones(3))  # 2 support vectors span the data's plane
    a27 = Setup(p.Z, p.max_margin, EXP, (np.ones((1, 3)),), "gf").check()["A2.7"]
    assert a27 == (False, "support vectors span a proper subspace (2 support vectors of rank 2 < d = 3; = span of the data)")


def test_every_assumption_of_three_setups_as_a_user_reads_it():
    # The whole of Setup.check() on the hand-made data: a gradient-flow run (exp loss, A1.2 fails at
    # W(0)), a paper-step GD run and a constant-step linear GD run (logistic loss, data scaled into
    # the unit ball). The statuses decide applicability; the reasons are what the report prints.
    traj, setup, u = late_start_run()
    assert setup.check() == {
        "separable": (True, "linearly separable"), "A1.1": (True, "exp loss"), "A1.2": (False, "R(W(0)) = 2.77075 > ℓ(0) = 1"),
        "A2.7": (True, "support vectors span R^d"), "generic": (True, "2 support vectors of rank 2, min dual coefficient 0.408"),
        "logistic": (False, "exp loss"), "exp|logistic": (True, "exp loss"), "A3.x": (False, "exp: β=None, G=None, max‖x_i‖=1.118"),
        "A3.5": (False, "method gf, step rule constant"), "linear": (False, "depth L = 2: the theorem is about a linear predictor"),
        "unique_offset": (True, "2 distinct support vectors z_i of rank 2 in R^2, min summed dual coefficient 0.408"),
        "soudry_step": (False, "not GD with a constant step"),
    }
    Z = traj.Z / 1.2
    paper = dataclasses.replace(setup, Z=Z, loss=LOGISTIC, method="gd", step_rule="paper", layers0=(np.eye(2), u[None, :]))
    common = {
        "separable": (True, "linearly separable"), "A1.1": (True, "logistic loss"), "A1.2": (True, "R(W(0)) = 0.356937 ≤ ℓ(0), ∇R ≠ 0"),
        "A2.7": (True, "support vectors span R^d"), "generic": (True, "2 support vectors of rank 2, min dual coefficient 0.408"),
        "logistic": (True, "logistic loss"), "exp|logistic": (True, "logistic loss"), "A3.x": (True, "logistic: β=0.25, G=1.0, max‖x_i‖=0.9317"),
        "unique_offset": (True, "2 distinct support vectors z_i of rank 2 in R^2, min summed dual coefficient 0.408"),
    }
    assert paper.check() == {**common, "A3.5": (True, "method gd, step rule paper"),
                             "linear": (False, "depth L = 2: the theorem is about a linear predictor"),
                             "soudry_step": (False, "not GD with a constant step")}
    constant = dataclasses.replace(paper, step_rule="constant", step=0.5, layers0=(u[None, :],))
    assert constant.check() == {**common, "A3.5": (False, "method gd, step rule constant"), "linear": (True, "depth L = 1"),
                                "soudry_step": (True, "η = 0.1667 on the sum loss < 2/(L(w(0))·σ_max²(X)) = 0.8631")}


def test_a3x_needs_a_smooth_loss_and_the_unit_ball_including_its_boundary():
    traj, setup, u = late_start_run()
    Z = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # max‖z_i‖ = 1 exactly: on the boundary, inside the ball
    assert np.max(np.linalg.norm(Z, axis=1)) == 1.0
    assert dataclasses.replace(setup, Z=Z, loss=LOGISTIC).check()["A3.x"][0]
    assert not dataclasses.replace(setup, Z=Z).check()["A3.x"][0]  # exp: β undefined, whatever the data
    assert not dataclasses.replace(setup, loss=LOGISTIC).check()["A3.x"][0]  # max‖z_i‖ = 1.118: outside the ball
