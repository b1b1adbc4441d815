"""Every predicate can fail: deliberately broken trajectories are flagged ``violated``.

Each test starts from a genuine gradient-flow (or GD) run on a planted problem, checks that the
claim holds on it (the control), breaks the trajectory in one stated way, and asserts that the
claims the break affects report ``violated``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import check_claims
from aligncheck.claims.registry import REGISTRY
from aligncheck.dynamics.gd import gradient_descent
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.trajectory import Checkpoint, FlowInfo, Trajectory
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.network import flatten, init_layers, unflatten
from aligncheck.numerics.risk import evaluate, risk_gradients
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status

GF_IDS = [c.id for c in REGISTRY.values() if "gf" in c.methods and c.kind != "conjecture"]


@pytest.fixture(scope="module")
def problem():
    return planted_case(planted_problem(11, n=20, d=3, gamma=0.25, n_sv=3, sv_rank=3))


@pytest.fixture(scope="module")
def layers0(problem):
    return init_layers("gaussian", problem.d, [3, 3], 5, mean_z=problem.Z.mean(axis=0))


@pytest.fixture(scope="module")
def good(problem, layers0):
    # Far into the late phase: the max-margin claims are judged only past ‖w_prod‖ ≈ 104 here
    # (where the support vectors carry the gradient, F̄ ≈ 5), and a direction broken halfway
    # must leave the judge a late window long enough to see its gap stop decaying.
    return gradient_flow(problem.Z, EXP, layers0, target_layer_norm=3000.0)


def verdicts(traj, problem, layers0, loss=EXP, ids=None):
    """The verdicts of the claims ``ids`` (default: every claim of the run's method) on ``traj``."""
    vs = check_claims(traj, Setup(problem.Z, problem.max_margin, loss, layers0, traj.method), problem.max_margin.u_bar, ids)
    return {v.claim: v for v in vs}


def broken(traj: Trajectory, fn, start: float = 0.5) -> Trajectory:
    """Apply fn(layers, j, frac) to every checkpoint after fraction ``start`` of the run (frac ∈ (0, 1])."""
    n = len(traj.checkpoints)
    j0 = int(start * n)
    cps = list(traj.checkpoints[:j0])
    for j, cp in enumerate(traj.checkpoints[j0:], start=j0):
        frac = (j - j0 + 1) / (n - j0)
        cps.append(dataclasses.replace(cp, layers=tuple(fn([W.copy() for W in cp.layers], j, frac))))
    return dataclasses.replace(traj, checkpoints=cps)


def _orth(v: np.ndarray, seed: int) -> np.ndarray:
    """A unit vector orthogonal to unit v."""
    x = np.random.default_rng(seed).standard_normal(len(v))
    x -= (x @ v) * v
    return x / np.linalg.norm(x)


def test_control_every_gf_claim_holds_on_the_genuine_run(good, problem, layers0):
    vs = verdicts(good, problem, layers0)
    assert {cid: vs[cid].status for cid in GF_IDS} == {cid: Status.HOLDS for cid in GF_IDS}


def test_risk_that_rises_is_flagged(good, problem, layers0):
    # From halfway on, the run shrinks back toward the origin: margins fall, so the risk rises.
    mid = good.checkpoints[len(good.checkpoints) // 2].layers
    bad = broken(good, lambda Ws, j, f: [W * (1 - 0.99 * f) ** (1 / len(Ws)) for W in mid])
    vs = verdicts(bad, problem, layers0)
    for cid in ("gf.risk_monotone", "gf.risk_to_zero", "gf.norms_diverge"):
        assert vs[cid].status == Status.VIOLATED, (cid, vs[cid])


def test_frozen_run_is_flagged(good, problem, layers0):
    # The run stops moving halfway: risk, norms and the product norm stall.
    frozen = good.checkpoints[len(good.checkpoints) // 2].layers
    bad = broken(good, lambda Ws, j, f: [W.copy() for W in frozen])
    vs = verdicts(bad, problem, layers0)
    assert vs["gf.risk_to_zero"].status == Status.VIOLATED
    assert vs["gf.product_alignment"].status == Status.VIOLATED


def test_invariant_that_drifts_is_flagged(good, problem, layers0):
    # A slowly growing extra term in W_1: Δ_1 = W_2^T W_2 − W_1 W_1^T drifts.
    E = np.random.default_rng(0).standard_normal(layers0[0].shape)

    def drift(Ws, j, f):
        Ws[0] = Ws[0] + 1e-4 * f * np.linalg.norm(Ws[0]) * E
        return Ws

    vs = verdicts(broken(good, drift), problem, layers0)
    assert vs["gf.balancedness"].status == Status.VIOLATED


def test_layer_that_stays_rank_two_is_flagged(good, problem, layers0):
    # A second singular direction of size 0.3·‖W_2‖_F in W_2: 1 − σ/‖W‖_F stops decaying, and
    # ‖W_2‖_F² − ‖W_2‖_2² outgrows Lemma 2's D.
    def rank_two(Ws, j, f):
        U, s, Vt = np.linalg.svd(Ws[1])
        Ws[1] = Ws[1] + 0.3 * np.linalg.norm(Ws[1]) * np.outer(U[:, 1], Vt[1])
        return Ws

    vs = verdicts(broken(good, rank_two), problem, layers0)
    assert vs["gf.rank_one"].status == Status.VIOLATED
    assert vs["gf.lemma2_rank_bound"].status == Status.VIOLATED


def test_misaligned_layers_are_flagged(good, problem, layers0):
    # Rotate W_2's input space by a fixed angle in the plane of v_2 and a vector ⊥ v_2:
    # |<v_2, u_1>| stays away from 1, and so does the product's alignment with v_1.
    def rotate(Ws, j, f):
        v = np.linalg.svd(Ws[1])[2][0]
        x = _orth(v, 1)
        th = 0.3
        R = np.eye(len(v)) + (math.cos(th) - 1) * (np.outer(v, v) + np.outer(x, x)) + math.sin(th) * (np.outer(x, v) - np.outer(v, x))
        Ws[1] = Ws[1] @ R
        return Ws

    vs = verdicts(broken(good, rotate), problem, layers0)
    for cid in ("gf.adjacent_alignment", "gf.product_alignment", "gf.lemma2_alignment_bound", "gf.balancedness"):
        assert vs[cid].status == Status.VIOLATED, (cid, vs[cid])


def _modified_flow(problem, layers0, modify, s_end=1.5):
    """Integrate the log-norm-time flow with a modified gradient, recording checkpoints (RK45, tight tolerance)."""
    shapes = [W.shape for W in layers0]

    def rhs(s, th):
        G = evaluate(problem.Z, EXP, unflatten(th, shapes)).grads
        g = flatten(modify(G))
        return -math.sqrt(1 + th @ th) * g / np.linalg.norm(g)

    grid = np.linspace(0, s_end, 31)
    sol = solve_ivp(rhs, (0, s_end), flatten(layers0), t_eval=grid, rtol=1e-10, atol=1e-12)
    cps = [Checkpoint(float(s), unflatten(th.copy(), shapes)) for s, th in zip(sol.t, sol.y.T)]
    return Trajectory("gf", problem.Z, EXP, cps, "test", 0, 0.0, integrator=FlowInfo(rtol=1e-10, atol=1e-12, s_max=40.0, checkpoint_every=0.05))


def test_wrong_sign_in_one_layer_is_flagged(problem, layers0):
    # Layer 2 climbs the gradient instead of descending it: ‖W_2‖ no longer grows in step
    # with its neighbours, so the balancedness invariants drift.
    def flip(G):
        G = list(G)
        G[1] = -G[1]
        return G

    vs = verdicts(_modified_flow(problem, layers0, flip), problem, layers0)
    assert vs["gf.balancedness"].status == Status.VIOLATED


def test_perturbed_gradient_is_flagged(problem, layers0):
    # A constant perturbation added to the gradient of W_1 (5% of the initial gradient's size).
    P = np.random.default_rng(3).standard_normal(layers0[0].shape)
    g0 = np.linalg.norm(evaluate(problem.Z, EXP, layers0).grads[0])

    def perturb(G):
        G = list(G)
        G[0] = G[0] + 0.05 * g0 * P / np.linalg.norm(P) * np.linalg.norm(G[0]) / g0
        return G

    vs = verdicts(_modified_flow(problem, layers0, perturb), problem, layers0)
    assert vs["gf.balancedness"].status == Status.VIOLATED


# Only the identity is judged on these GD runs: every GD claim would add the smoothness search
# and the 50,000-step run of gd.leaves_ball (47 s of this file's 60 s).
IDENTITY = ["gd.balancedness_identity"]


def test_gd_identity_flags_a_wrong_update(problem):
    L0 = init_layers("gaussian", problem.d, [3, 2], 2, mean_z=problem.Z.mean(axis=0))
    good = gradient_descent(problem.Z, LOGISTIC, L0, step=0.3, steps=50)
    assert verdicts(good, problem, L0, LOGISTIC, IDENTITY)["gd.balancedness_identity"].status == Status.HOLDS
    cps = []
    for cp in good.checkpoints:
        if cp.next_layers is not None:
            G = risk_gradients(problem.Z, LOGISTIC, cp.layers)
            wrong = list(cp.next_layers)
            wrong[1] = cp.layers[1] + cp.step_size * G[1]  # wrong sign in layer 2's update
            cp = dataclasses.replace(cp, next_layers=tuple(wrong))
        cps.append(cp)
    bad = dataclasses.replace(good, checkpoints=cps)
    assert verdicts(bad, problem, L0, LOGISTIC, IDENTITY)["gd.balancedness_identity"].status == Status.VIOLATED


def test_gd_identity_flags_a_perturbed_gradient(problem):
    L0 = init_layers("balanced", problem.d, [3, 3], 4, mean_z=problem.Z.mean(axis=0))
    good = gradient_descent(problem.Z, EXP, L0, step=0.1, steps=30)
    cps = []
    for cp in good.checkpoints:
        if cp.next_layers is not None:
            wrong = list(cp.next_layers)
            wrong[0] = wrong[0] + 1e-9 * np.linalg.norm(wrong[0])  # a perturbation far above rounding
            cp = dataclasses.replace(cp, next_layers=tuple(wrong))
        cps.append(cp)
    bad = dataclasses.replace(good, checkpoints=cps)
    assert verdicts(bad, problem, L0, EXP, IDENTITY)["gd.balancedness_identity"].status == Status.VIOLATED


def _tilt_first_layer(angle: float):
    """A break: W_1 composed with a fixed rotation by ``angle`` in the plane of ū and a vector ⊥ ū,
    so w_prod settles at that angle from ū instead of on it."""

    def tilt(problem):
        u = problem.max_margin.u_bar
        x = _orth(u, 2)
        R = np.eye(len(u)) + (math.cos(angle) - 1) * (np.outer(u, u) + np.outer(x, x)) + math.sin(angle) * (np.outer(x, u) - np.outer(u, x))

        def fn(Ws, j, f):
            Ws[0] = Ws[0] @ R
            return Ws

        return fn

    return tilt


def test_direction_that_misses_the_max_margin_direction_is_flagged(good, problem, layers0):
    vs = verdicts(broken(good, _tilt_first_layer(0.2)(problem)), problem, layers0)
    for cid in ("gf.max_margin_v1", "gf.max_margin_product", "gf.margin_corollary"):
        assert vs[cid].status == Status.VIOLATED, (cid, vs[cid])


def test_product_turned_to_minus_u_bar_is_flagged(good, problem, layers0):
    # w_prod → −ū: |<v_1, ū>| → 1 still holds (it is unsigned), but the signed claim must fail.
    def flip(Ws, j, f):
        Ws[-1] = -Ws[-1]
        return Ws

    vs = verdicts(broken(good, flip), problem, layers0)
    assert vs["gf.max_margin_v1"].status == Status.HOLDS
    assert vs["gf.max_margin_product"].status == Status.VIOLATED


def test_max_margin_claims_wait_for_the_support_vectors(problem, layers0):
    # A run stopped before the support vectors carry the gradient (‖w_prod‖ < (ln n + 7)/Δ) has
    # not reached the phase where the max-margin claims can be judged.
    short = gradient_flow(problem.Z, EXP, layers0, s_max=1.2)  # ‖w_prod‖ ≈ 50
    vs = verdicts(short, problem, layers0)
    for cid in ("gf.max_margin_v1", "gf.max_margin_product", "gf.margin_corollary"):
        assert vs[cid].status == Status.INCONCLUSIVE and "support vectors" in vs[cid].reason, vs[cid]
