"""Gradient flow with the low-rank Jacobian: Woodbury's solve, the Jacobian's parts, the same path as
the exact dense Jacobian, networks above the old 4000-parameter cap, and the caps that remain."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aligncheck.claims.ji_telgarsky.gd import SMOOTHNESS_SEARCH_MAX_PARAMETERS, gd_smoothness
from aligncheck.claims.verdicts import Status
from aligncheck.data.planted import planted_problem
from aligncheck.dynamics import late_phase
from aligncheck.dynamics.flow import FlowField
from aligncheck.dynamics.integrate import DENSE_JACOBIAN_MAX, gradient_flow
from aligncheck.dynamics.low_rank_bdf import LowRank, _factor, _Identity, _solve
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.network import MAX_JACOBIAN_ENTRIES, check_network_size, flatten, init_layers
from aligncheck.numerics.risk import evaluate, multilinear_hessian


def _planted_Z(seed: int, d: int, n: int = 30) -> np.ndarray:
    pp = planted_problem(seed, n=n, d=d, gamma=0.25, n_sv=d, sv_rank=d)
    return pp.X * pp.y[:, None]


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 40), r=st.integers(1, 6), c=st.floats(1e-3, 1e3), seed=st.integers(0, 2**32 - 1))
def test_woodbury_solve_is_the_dense_solve(N, r, c, seed):
    rng = np.random.default_rng(seed)
    J = LowRank(rng.standard_normal((N, r)), rng.standard_normal((N, r)) / N)
    M = np.eye(N) - c * (J.U @ J.V.T)
    if np.linalg.cond(M) > 1e8:  # an ill-conditioned draw: both solves lose the digits compared below
        return
    b = rng.standard_normal(N)
    x = _solve(_factor(_Identity() - c * J), b)  # the expression BDF evaluates: self.I - c * J
    # Tolerance: both are backward stable; the difference is ≤ a few eps·cond(M)·‖x‖ (cond ≤ 1e8).
    assert np.linalg.norm(M @ x - b) <= 1e-6 * np.linalg.norm(b)
    assert np.allclose(x, np.linalg.solve(M, b), rtol=1e-6, atol=1e-6 * np.linalg.norm(x))


@pytest.mark.parametrize("loss", [EXP, LOGISTIC])
@pytest.mark.parametrize("widths", [[], [3], [4, 2, 3]])
def test_low_rank_jacobian_is_the_dense_one_less_the_multilinear_term(loss, widths):
    # ∂F/∂θ = UVᵀ − (c/‖∇log R‖)(I − ĝĝᵀ)T exactly (the module docstring of aligncheck.dynamics.flow).
    d = 4
    Z = _planted_Z(3, d)
    layers = init_layers("gaussian", d, widths, 7, scale=0.8, mean_z=Z.mean(axis=0))
    theta = flatten(layers)
    field = FlowField(Z, loss, [W.shape for W in layers])
    J = field.jac(theta)
    lr = field.jac_low_rank(theta)
    ev, g, gn, _ = field.parts(theta)
    gh, c = g / gn, field.speed(theta)
    T = multilinear_hessian(layers, ev.grad_w)
    rest = -(c / gn) * (T - np.outer(gh, gh @ T))
    # Tolerance: the two sides round differently (products of ≤ L factors, sums of ≤ N terms).
    assert np.allclose(lr.U @ lr.V.T + rest, J, rtol=1e-10, atol=1e-10 * np.abs(J).max())
    assert lr.U.shape == (theta.size, d + 1) == lr.V.shape


@pytest.mark.parametrize("init", ["gaussian", "w1zero", "balanced"])
def test_low_rank_and_dense_jacobians_follow_the_same_path(init):
    # BDF's error control is on the step, not on the Jacobian: both runs are the same path to
    # within the integration tolerance (rtol 1e-9 per step; compared at 1e-6 after ~100 steps).
    d = 5
    Z = _planted_Z(11, d)
    layers0 = init_layers(init, d, [5, 5], 3, scale=0.5, mean_z=Z.mean(axis=0))
    runs = {j: gradient_flow(Z, EXP, layers0, s_max=4.0, jacobian=j) for j in ("dense", "low_rank")}
    a, b = runs["dense"], runs["low_rank"]
    assert a.stop_reason == b.stop_reason
    assert len(a.checkpoints) == len(b.checkpoints) > 50
    for ca, cb in zip(a.checkpoints, b.checkpoints):
        assert abs(ca.time - cb.time) <= 1e-6  # equal steps in s; the last one is the located stop
        x, y = flatten(ca.layers), flatten(cb.layers)
        assert np.linalg.norm(x - y) <= 1e-6 * max(1.0, np.linalg.norm(x))
    # and the evaluation counts stay alike (the low-rank Newton iteration converges as well here)
    assert b.grad_evals <= 1.5 * a.grad_evals


def test_a_network_above_the_dense_cap_runs_without_an_NxN_matrix():
    # N = 4,400 parameters (the old cap was 4,000): a dense Jacobian would be 155 MB alone.
    d, width = 20, 210
    Z = _planted_Z(5, d, n=40)
    layers0 = init_layers("gaussian", d, [width], 1, scale=0.5, mean_z=Z.mean(axis=0))
    N = flatten(layers0).size
    assert N > max(4000, DENSE_JACOBIAN_MAX)
    tracemalloc.start()
    try:
        traj = gradient_flow(Z, EXP, layers0, s_max=2.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < N * N * 8 / 4, f"peak {peak / 1e6:.0f} MB"  # numpy reports its buffers to tracemalloc
    assert traj.checkpoints[-1].time > 1.0 and traj.stop_reason == "s_max reached"
    start, end = (float(evaluate(Z, EXP, layers).log_risk) for layers in (layers0, traj.final))
    assert end < start - 1.0  # the risk fell by more than a factor e: the flow ran


def test_caps_that_remain_are_one_line_errors():
    check_network_size(64, [64])  # digits at depth 2: 4,160 parameters, accepted now
    with pytest.raises(ProblemError, match=r"Jacobian factors .* capped at"):
        check_network_size(3000, [30])  # 90,030 parameters × 3,001 > MAX_JACOBIAN_ENTRIES
    assert 90_030 * 3001 > MAX_JACOBIAN_ENTRIES
    with pytest.raises(ProblemError, match=r"at most 1000 parameters"):
        late_phase.check_size(late_phase.MAX_PARAMETERS + 1)
    late_phase.check_size(late_phase.MAX_PARAMETERS)


def test_gd_smoothness_is_inconclusive_above_its_search_size():
    class _Loss:
        beta = G = 1.0
        name = "exp"

    class _Cp:
        layers = (np.zeros((SMOOTHNESS_SEARCH_MAX_PARAMETERS + 1, 1)), np.zeros((1, SMOOTHNESS_SEARCH_MAX_PARAMETERS + 1)))

    class _Traj:
        loss, checkpoints, gd = _Loss(), [_Cp()], None

    class _Run:
        trajectory = _Traj()

    v = gd_smoothness(_Run())
    assert v.status == Status.INCONCLUSIVE and "not run above 4000 parameters" in v.reason
