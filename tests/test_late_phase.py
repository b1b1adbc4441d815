"""The high-precision gradient flow (aligncheck.dynamics.late_phase): past the float64 floor, its invariants, and
agreement with the float64 integrator where both work."""

from __future__ import annotations

import numpy as np
import pytest

from aligncheck.numerics.backends import Mpmath
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.errors import ProblemError
from aligncheck.dynamics.late_phase import continue_in_mpmath, gradient_flow_mp
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.metrics import balancedness, trajectory_metrics
from aligncheck.numerics.network import init_layers, product
from aligncheck.data.planted import planted_case, planted_problem


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(3, n=6, d=3, gamma=0.3, n_sv=3, sv_rank=3))


def _drift(bk: Mpmath, layers, ref) -> float:
    """max_k ‖Δ_k(layers) − Δ_k(ref)‖_F / max_j ‖W_j‖_F², in the backend's precision (float64
    layers are converted exactly first, so Δ is not formed in float64)."""
    ctx = bk.ctx
    layers, ref = [bk.asarray(W) for W in layers], [bk.asarray(W) for W in ref]
    num = max(ctx.sqrt(np.sum((a - b) ** 2)) for a, b in zip(balancedness(layers), balancedness(ref)))
    return float(num / max(np.sum(W * W) for W in layers))


@pytest.fixture(scope="module")
def late(problem):
    # An unbalanced Gaussian start (scale 0.01, D ≈ 4e-4): Lemma 2's rank gap D/‖W‖² is below
    # 1e-20 once ‖W_k‖_F > 2e8, about 7.5 units of s past the float64 floor (‖W_k‖_F ≈ 1.1e5).
    L0 = init_layers("gaussian", 3, (3,), 3, scale=1e-2, mean_z=problem.Z.mean(axis=0))
    f64 = gradient_flow(problem.Z, EXP, L0, target_layer_norm=np.inf)
    return f64, continue_in_mpmath(f64, digits=50, s_span=8.0)


def test_float64_stops_at_its_floor_where_mpmath_goes_on(problem, late):
    f64, mp = late
    assert f64.stop_reason.startswith("float64 floor")
    last64 = trajectory_metrics(f64, problem.max_margin.u_bar).snaps[-1]
    # float64's last state: the rank gap of the square layer is ~6e-15 (measured 5.7e-15).
    assert 1e-16 < last64.rank_gap[0] < 1e-13
    bk = Mpmath(50)
    tm = trajectory_metrics(mp, problem.max_margin.u_bar, bk)
    end = tm.snaps[-1]
    assert mp.backend.name == "mpmath-50" and "float64 floor" in mp.late_phase.because
    assert end.frob.min() > 100 * last64.frob.min()  # followed the flow far past the float64 floor
    assert max(end.rank_gap) < 1e-20 and max(end.adj_gap) < 1e-20
    bits = [b for _, b in mp.late_phase.stepper.precision_bits]
    assert bits[-1] > bits[0]  # raised with the margins
    # Along the mpmath segment, the invariant holds to 1e-25 relative to ‖W‖²: every step of the
    # form θ1 = θ0 − 2J(m)ᵀu conserves it exactly (late_phase's docstring), so only rounding at
    # ≥ 198 bits is left (measured ~1e-70); 1e-25 is the bar, far above it.
    switch = len(f64.checkpoints) - 1
    ref = tuple(bk.asarray(W) for W in mp.checkpoints[switch].layers)
    assert max(_drift(bk, cp.layers, ref) for cp in mp.checkpoints[switch:]) < 1e-25


def test_balancedness_at_50_digits_and_in_float64(problem):
    L0 = init_layers("gaussian", 3, (3,), 1, mean_z=problem.Z.mean(axis=0))
    bk = Mpmath(50)
    mp = gradient_flow_mp(problem.Z, EXP, L0, digits=50, s_span=1.0)
    ref = tuple(bk.asarray(W) for W in L0)
    assert max(_drift(bk, cp.layers, ref) for cp in mp.checkpoints) < 1e-30
    f64 = gradient_flow(problem.Z, EXP, L0, s_max=mp.checkpoints[-1].time)
    # BDF at rtol 1e-9 keeps it only to ~1e-12..1e-9: what the float64 integrator can promise.
    drift64 = trajectory_metrics(f64).drift.max()
    assert 1e-16 < drift64 < 1e-7


def test_early_phase_agrees_with_float64(problem):
    # Where float64 works, the two integrators follow the same path. Tolerance 1e-4 on the
    # direction and 1e-3 on the norm at the same s: the midpoint stepper controls its tangential
    # error to 1e-6 per step (~20 steps here) but not its radial error (a shift along the path).
    L0 = init_layers("gaussian", 3, (3,), 2, mean_z=problem.Z.mean(axis=0))
    mp = gradient_flow_mp(problem.Z, EXP, L0, digits=30, s_span=1.0, checkpoint_every=0.5)
    s_end = mp.checkpoints[-1].time
    f64 = gradient_flow(problem.Z, EXP, L0, s_max=s_end, checkpoint_every=s_end)
    a = np.concatenate([Mpmath(30).to_float(W).ravel() for W in mp.final])
    b = np.concatenate([np.asarray(W).ravel() for W in f64.final])
    assert abs(np.linalg.norm(a) / np.linalg.norm(b) - 1) < 1e-3
    assert np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b)) < 1e-4


def test_bad_settings_are_rejected(problem):
    L0 = init_layers("gaussian", 3, (3,), 2)
    with pytest.raises(ProblemError):
        gradient_flow_mp(problem.Z, EXP, L0, digits=8)
    with pytest.raises(ProblemError):
        gradient_flow_mp(problem.Z, EXP, L0, s_span=0.0)
    gd = gradient_flow(problem.Z, EXP, L0, s_max=0.2)
    with pytest.raises(ProblemError):
        continue_in_mpmath(type(gd)("gd", gd.Z, gd.loss, gd.checkpoints, "", 0, 0.0))



def test_a_critical_point_stops_cleanly(problem):
    zero = tuple(np.zeros(shape) for shape in [(3, 3), (1, 3)])  # W ≡ 0: ∇R = 0 for L ≥ 2
    mp = gradient_flow_mp(problem.Z, EXP, zero, digits=20, s_span=1.0)
    assert mp.stop_reason.startswith("critical point") and len(mp.checkpoints) == 1


def test_a_precision_run_is_extended_in_high_precision(problem):
    # --precision runs that stop with a limit claim inconclusive are followed further, at the same
    # digits, as float64 runs are (aligncheck.harness.runner): a higher precision goes at least as far.
    from aligncheck.dynamics.integrate import extend_flow
    from aligncheck.dynamics.late_phase import extend_mp

    W0 = init_layers("gaussian", problem.d, [problem.d], 0, mean_z=problem.Z.mean(axis=0))
    head = gradient_flow_mp(problem.Z, EXP, W0, digits=20, s_span=5.0, target_layer_norm=3.0)
    assert head.stop_reason == "target reached"
    longer = extend_mp(head, target_layer_norm=6.0)
    assert longer.backend.name == "mpmath-20" and longer.stop_reason.startswith("target reached (run extended from s = ")
    assert longer.checkpoints[: len(head.checkpoints)] == head.checkpoints
    times = [cp.time for cp in longer.checkpoints]
    assert times == sorted(times) and times[-1] > times[len(head.checkpoints) - 1]
    assert min(float(np.linalg.norm(np.asarray(W, dtype=float))) for W in longer.final) >= 6.0
    assert longer.integrator.steps_accepted > head.integrator.steps_accepted and longer.grad_evals > head.grad_evals
    with pytest.raises(ProblemError):
        extend_flow(head, target_layer_norm=6.0)  # the float64 extension refuses an mpmath run
    with pytest.raises(ProblemError):
        extend_mp(gradient_flow(problem.Z, EXP, W0, target_layer_norm=3.0), target_layer_norm=6.0)


def test_flint_and_mpmath_kernels_give_the_same_late_phase(problem):
    # Jacobians and Newton systems in python-flint (the default) or in mpmath (the reference):
    # the same run to far below float64. Tolerance: the Newton iteration stops at a correction below
    # 10^(1-digits)·‖θ‖ (late_phase.gradient_flow_mp), so two solvers that differ at rounding level
    # may end their iterations one correction apart: 1e-40 relative is 1e9 times that bound at 50
    # digits, and 1e24 times below float64's resolution.
    W0 = init_layers("gaussian", problem.d, [problem.d], 0, mean_z=problem.Z.mean(axis=0))
    # One unit of s: 26 accepted steps and 9 checkpoints to compare, a third of the cost of two.
    a = gradient_flow_mp(problem.Z, EXP, W0, digits=50, s_span=1.0)
    b = gradient_flow_mp(problem.Z, EXP, W0, digits=50, s_span=1.0, kernels="mpmath")
    assert a.integrator.steps_accepted >= 20
    assert [cp.time for cp in a.checkpoints] == [cp.time for cp in b.checkpoints]
    assert a.integrator.steps_accepted == b.integrator.steps_accepted
    bk = Mpmath(50)
    for Wa, Wb in zip(a.final, b.final):
        rel = bk.norm((Wa - Wb).ravel()) / bk.norm(Wb.ravel())
        assert rel < 1e-40, float(rel)


def test_the_stiff_phase_goes_on_where_the_midpoint_rule_stalled():
    # d = 5, L = 3 (55 parameters): Newton's iteration on the implicit midpoint equations stalled
    # at margins 2.75e14, 54 s into the run (README, the stepper before this one). With the weights
    # at each step's end point once stiff, 5 units of s past the float64 floor reach margins
    # ~3e16 (measured 3.1e16, 7.5 s) with the balancedness still exact.
    p = planted_case(planted_problem(0, n=10, d=5, gamma=0.3, n_sv=5, sv_rank=5))
    W0 = init_layers("gaussian", 5, [5, 5], 0, mean_z=p.Z.mean(axis=0))
    f64 = gradient_flow(p.Z, EXP, W0, target_layer_norm=np.inf)
    mp = continue_in_mpmath(f64, digits=30, s_span=5.0)
    assert mp.stop_reason.startswith("s budget")
    stepper = mp.late_phase.stepper
    assert stepper.endpoint_weights_from_s is not None  # stiff from the floor on (rtol·max|m| ≥ 1)
    bk = Mpmath(30)
    assert float(max(abs(x) for x in p.Z @ product(mp.final))) > 1e16
    switch = len(f64.checkpoints) - 1
    ref = tuple(bk.asarray(W) for W in mp.checkpoints[switch].layers)
    assert max(_drift(bk, cp.layers, ref) for cp in mp.checkpoints[switch:]) < 1e-25
