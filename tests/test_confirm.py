"""A second look at violations (aligncheck.harness.confirm): float64 artefacts disappear at high precision,
real violations stay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import aligncheck.numerics.metrics
from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import check_claims
from aligncheck.harness.confirm import confirm, first_past_floor
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.network import init_layers
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status


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
