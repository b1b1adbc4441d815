"""A second look at violations (aligncheck.harness.confirm): float64 artefacts disappear at high precision,
real violations stay."""

from __future__ import annotations

import dataclasses

import aligncheck.harness.confirm
import aligncheck.numerics.metrics
import numpy as np
import pytest
from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import check_claims
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.trajectory import Checkpoint, Trajectory
from aligncheck.harness.confirm import confirm, first_past_floor, replayed
from aligncheck.numerics.backends import FLOAT64, Mpmath
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.network import init_layers
from aligncheck.numerics.risk import evaluate


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(3, n=6, d=3, gamma=0.3, n_sv=3, sv_rank=3))


@pytest.fixture(scope="module")
def layers0(problem):
    return init_layers("gaussian", 3, (3,), 3, scale=0.3, mean_z=problem.Z.mean(axis=0))


@pytest.fixture(scope="module")
def genuine(problem, layers0):
    return gradient_flow(problem.Z, EXP, layers0, target_layer_norm=np.inf)  # to the float64 floor


def judge(problem, layers0, traj, ids):
    setup = Setup(problem.Z, problem.max_margin, EXP, layers0, "gf")
    float64 = check_claims(traj, setup, problem.max_margin.u_bar, ids)
    return {v.claim: v for v in float64}, {v.claim: v for v in confirm(traj, setup, problem.max_margin.u_bar, float64)}


# In float64, g + K + Y rounds to K + (g rounded to the spacing of doubles at 1e6, 1.2e-10):
# |Y| is below half that spacing, so (((g + K) + Y) − K) − Y stalls at −Y = 5e-11 once g is
# tiny, on every IEEE machine (scalar operations, no BLAS). At 50 digits (≥ 198 bits) the same
# expression returns g to ~1e-53.
_K, _Y = 1e6, -5e-11


def _cancelling_gap(a, b):
    """½‖a − sign·b‖² passed through a sum with terms of size 1e6 that cancel."""
    g = aligncheck.numerics.metrics._exact_gap(a, b)
    return (((g + _K) + _Y) - _K) - _Y


def test_gap_computed_by_cancellation_is_a_float64_artefact(problem, layers0, genuine, monkeypatch):
    # The true 1 − |⟨v_2, u_1⟩| falls like ‖W‖^-4, far below 5e-11: float64's cancelling formula
    # stalls at 5e-11, the same formula at 50 digits does not.
    monkeypatch.setattr(aligncheck.numerics.metrics, "_exact_gap", aligncheck.numerics.metrics._gap, raising=False)
    monkeypatch.setattr(aligncheck.numerics.metrics, "_gap", _cancelling_gap)
    f64, hi = judge(problem, layers0, genuine, ["gf.adjacent_alignment"])
    assert f64["gf.adjacent_alignment"].status == Status.VIOLATED
    v = hi["gf.adjacent_alignment"]
    assert v.confirmation == "float64 artefact" and v.status == Status.HOLDS
    assert v.backend == "mpmath-50" and v.float64_value == f64["gf.adjacent_alignment"].value
    assert "float64 artefact" in v.reason


def test_run_pushed_past_the_float64_floor_is_replayed(problem, layers0):
    # Past the floor the margins' rounding steers the flow. Planted: past the floor, the layers
    # are perturbed at a relative 1e-5, so the alignment gap (quadratic in the perturbation),
    # truly ≤ 1e-20 there, sits at ~1e-14 and stops decreasing. The replay re-integrates from the
    # last checkpoint before the floor in 50 digits, where it keeps decaying.
    past = gradient_flow(problem.Z, EXP, layers0, target_layer_norm=np.inf, margin_floor=1.0, max_evals=20_000)
    i = first_past_floor(past)
    assert i is not None and i >= 2
    rng = np.random.default_rng(0)
    cps = [cp if j < i else dataclasses.replace(cp, layers=tuple(W * (1 + 1e-5 * rng.standard_normal(W.shape)) for W in cp.layers))
           for j, cp in enumerate(past.checkpoints)]
    noisy = dataclasses.replace(past, checkpoints=cps)
    f64, hi = judge(problem, layers0, noisy, ["gf.adjacent_alignment"])
    assert f64["gf.adjacent_alignment"].status == Status.VIOLATED
    v = hi["gf.adjacent_alignment"]
    assert v.confirmation == "float64 artefact" and v.status != Status.VIOLATED, v
    assert "re-integrated past the float64 floor" in v.reason


def test_a_real_violation_is_confirmed(problem, layers0, genuine):
    # A broken trajectory: from halfway on, the output layer is flipped (w_prod → −w_prod).
    half = len(genuine.checkpoints) // 2
    cps = [cp if j < half else dataclasses.replace(cp, layers=(cp.layers[0], -cp.layers[1])) for j, cp in enumerate(genuine.checkpoints)]
    broken = dataclasses.replace(genuine, checkpoints=cps)
    f64, hi = judge(problem, layers0, broken, ["gf.risk_to_zero", "gf.max_margin_product"])
    for cid in ("gf.risk_to_zero", "gf.max_margin_product"):
        assert f64[cid].status == Status.VIOLATED
        assert hi[cid].status == Status.VIOLATED and hi[cid].confirmation == "confirmed at 50 digits", hi[cid]
        assert hi[cid].backend == "float64"  # the reported verdict is float64's, confirmed


def test_verdicts_that_are_not_violations_are_left_alone(problem, layers0, genuine):
    f64, hi = judge(problem, layers0, genuine, ["gf.rank_one", "gf.balancedness"])
    assert f64 == hi


# ------------------------------------------------------------------ fast: hand-made runs of a few checkpoints
#
# Depth 2 on three points in R^2, W_1 = s·I, W_2 = s·vᵀ: a replay at 50 digits takes milliseconds,
# so the rules of the second look are checked here on runs built to sit on one side of each.


def _hand_run(scales, *, method: str = "gf", flip_last: bool = False, backend=None) -> tuple[Trajectory, Setup, np.ndarray]:
    Z = np.array([[1.0, 0.5], [0.5, 1.0], [1.0, 0.25]])
    v = np.array([1.0, 1.0]) / np.sqrt(2.0)
    cps = [Checkpoint(float(i), (s * np.eye(2), (-1.0 if flip_last and i == len(scales) - 1 else 1.0) * s * v[None, :]))
           for i, s in enumerate(scales)]
    extra = {"backend": backend} if backend is not None else {}
    traj = Trajectory(method, Z, EXP, cps, "hand-made", 0, 0.0, **extra)
    return traj, Setup(Z, None, EXP, cps[0].layers, method), v


RISING = _hand_run(np.geomspace(1.0, 30.0, 12), flip_last=True)  # log R jumps up at the last checkpoint
FALLING = _hand_run(np.geomspace(1.0, 30.0, 12))


def test_a_real_violation_is_confirmed_with_both_reasons():
    traj, setup, u = RISING
    (f64,) = check_claims(traj, setup, u, ["gf.risk_monotone"])
    assert f64.status == Status.VIOLATED
    (v,) = confirm(traj, setup, u, [f64], digits=30)
    assert (v.status, v.backend, v.value, v.float64_value, v.confirmation) == (Status.VIOLATED, "float64", f64.value, f64.value, "confirmed at 30 digits")
    assert v.reason.startswith(f"{f64.reason} [confirmed at 30 digits (same states, metrics recomputed): log R rose by 1.38e+03 ")


def test_a_violation_that_high_precision_does_not_see_is_a_float64_artefact():
    # confirm replays whatever float64 called violated: here a verdict the run (risk falling) does not bear out.
    traj, setup, u = FALLING
    said = Verdict("gf.risk_monotone", Status.VIOLATED, 1e-3, 0.0, "log R rose by 1e-3")
    (v,) = confirm(traj, setup, u, [said])
    (hi,) = check_claims(traj, setup, u, ["gf.risk_monotone"], bk=Mpmath(50))
    assert (v.status, v.backend, v.value, v.float64_value, v.confirmation) == (Status.HOLDS, "mpmath-50", hi.value, 1e-3, "float64 artefact")
    assert v.reason == f"float64 artefact: float64 reported it violated (log R rose by 1e-3); at 50 digits (same states, metrics recomputed): {hi.reason}"


def test_only_float64_violations_are_replayed_and_the_order_is_kept():
    traj, setup, u = FALLING
    mine = [Verdict("gf.balancedness", Status.HOLDS, 1e-12, 1e-9, "kept"),
            Verdict("gf.rank_one", Status.VIOLATED, 0.5, 1e-3, "already high precision", backend="mpmath-50"),
            Verdict("gf.risk_monotone", Status.VIOLATED, 1e-3, 0.0, "float64"),
            Verdict("gf.norms_diverge", Status.INCONCLUSIVE, 1.0, 10.0, "kept too")]
    out = confirm(traj, setup, u, mine)
    assert [v.claim for v in out] == [v.claim for v in mine]
    assert out[0] is mine[0] and out[1] is mine[1] and out[3] is mine[3]
    assert out[2].confirmation == "float64 artefact"
    assert confirm(traj, setup, u, mine[:2]) == mine[:2]  # nothing to replay


def test_first_past_floor_is_the_first_checkpoint_at_or_past_it():
    # eps·max|m_i| at each checkpoint (margins s²·⟨v, z_i⟩, growing with s), as first_past_floor reads it
    traj, _, _ = _hand_run([1.0, 2.0, 4.0, 8.0])
    m = [FLOAT64.eps * float(np.max(np.abs(evaluate(traj.Z, traj.loss, cp.layers).margins))) for cp in traj.checkpoints]
    assert m == sorted(m)
    assert first_past_floor(traj, floor=m[2]) == 2  # at the floor counts
    assert first_past_floor(traj, floor=m[2] * (1 + 1e-9)) == 3
    assert first_past_floor(traj, floor=2 * m[3]) is None


def _past_floor_run(first: int, **kw) -> Trajectory:
    """Checkpoints 0..5 whose eps·max|m_i| reaches FLOAT64_FLOOR at checkpoint ``first`` (margins ~1e10)."""
    s = np.where(np.arange(6) < first, 10.0, 1e6)
    return _hand_run(s * (1 + 0.01 * np.arange(6)), **kw)[0]


def test_replayed_reintegrates_gradient_flow_from_the_last_checkpoint_before_the_floor(monkeypatch):
    calls = []

    def continued(head, *, digits, s_span):
        calls.append((head, digits, s_span))
        return dataclasses.replace(head)

    monkeypatch.setattr(aligncheck.harness.confirm, "continue_in_mpmath", continued)
    for first in (2, 3):
        traj = _past_floor_run(first)
        assert first_past_floor(traj) == first
        out = replayed(traj, digits=30)
        head, digits, s_span = calls.pop()
        assert out is not traj and head.checkpoints == traj.checkpoints[:first]
        assert head.stop_reason == f"cut at the float64 floor (checkpoint {first})" and traj.stop_reason == "hand-made"
        assert digits == 30 and s_span == traj.checkpoints[-1].time - traj.checkpoints[first - 1].time == 6 - first
    # Left as they are: past the floor at checkpoint 1 (nothing before it to restart from), never
    # past it, gradient descent, and a run computed in high precision already.
    for same in (_past_floor_run(1), _past_floor_run(6), _past_floor_run(2, method="gd"), _past_floor_run(2, backend=Mpmath(30))):
        assert replayed(same) is same
    assert not calls


def test_confirm_says_how_it_replayed(monkeypatch):
    asked = []
    monkeypatch.setattr(aligncheck.harness.confirm, "continue_in_mpmath", lambda head, *, digits, s_span: asked.append(digits) or dataclasses.replace(head))
    traj = _past_floor_run(2)
    setup = Setup(traj.Z, None, EXP, traj.initial, "gf")
    said = Verdict("gf.risk_monotone", Status.VIOLATED, 1e-3, 0.0, "float64")
    (v,) = confirm(traj, setup, None, [said], digits=30)
    assert v.confirmation == "float64 artefact" and v.backend == "mpmath-30"
    assert "at 30 digits (re-integrated past the float64 floor): " in v.reason and asked == [30]


def test_large_networks_are_not_re_integrated(monkeypatch):
    # Past aligncheck.dynamics.late_phase.MAX_PARAMETERS the high-precision stepper's dense Newton
    # systems would take hours: the second look keeps the recorded states (and says so).
    from aligncheck.dynamics.late_phase import MAX_PARAMETERS

    d = 40
    Z = np.eye(d)[:3]
    big = (np.full((30, d), 1e4), np.full((1, 30), 1e4))  # N = 1,230 > MAX_PARAMETERS, far past the floor
    assert sum(W.size for W in big) > MAX_PARAMETERS
    traj = Trajectory("gf", Z, EXP, [Checkpoint(float(i), tuple(W * (i + 1) for W in big)) for i in range(4)], "hand-made", 0, 0.0)
    monkeypatch.setattr(aligncheck.harness.confirm, "continue_in_mpmath", lambda *a, **k: pytest.fail("re-integrated"))
    assert first_past_floor(traj) is not None and replayed(traj) is traj
