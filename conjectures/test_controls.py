"""Negative controls (claims.md): set-ups where the theory says the claims fail or do not apply.

Each test asserts that the harness reports what claims.md says it must, and records the outcome
in the report's controls section. A control the harness fails to flag is a failing test.
"""

from __future__ import annotations

import numpy as np

from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import RunRecord, check_claims
from aligncheck.claims.ji_telgarsky.theorem2 import margin_corollary, max_margin_product, max_margin_v1
from aligncheck.claims.registry import REGISTRY
from aligncheck.dynamics.gd import gradient_descent
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.numerics.losses import EXP, POLY
from aligncheck.numerics.metrics import trajectory_metrics
from aligncheck.numerics.network import init_layers
from aligncheck.data.problem import Problem
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.claims.verdicts import Status


def test_control_poly_tail(record_control):
    # Polynomial tail ℓ(m) = 1/m²: the max-margin theorem does not cover it, and the direction
    # indeed settles away from ū. The claims are not applicable (the loss assumption is named),
    # and the predicates, evaluated anyway, report the direction as violating them.
    p = planted_case(planted_problem(1, n=12, d=3, gamma=0.2, n_sv=3, sv_rank=3))
    W0 = init_layers("gaussian", 3, [3], 1, mean_z=p.Z.mean(axis=0))
    traj = gradient_flow(p.Z, POLY, W0, target_log_risk=-30.0, target_layer_norm=300.0)
    setup = Setup(p.Z, p.max_margin, POLY, W0, "gf")
    listed = {v.claim: v for v in check_claims(traj, setup, p.max_margin.u_bar)}
    run = RunRecord(traj, trajectory_metrics(traj, p.max_margin.u_bar), setup)
    forced = [f(run) for f in (max_margin_v1, max_margin_product, margin_corollary)]
    angle = run.metrics.stack("angle_ubar")[-1]
    flagged = all(listed[v.claim].status == Status.NOT_APPLICABLE and "exp|logistic" in listed[v.claim].reason for v in forced) and all(
        v.status == Status.VIOLATED for v in forced
    )
    record_control(
        "control.poly_tail",
        expected="max-margin claims not applicable (loss), and violated when judged anyway",
        observed=f"angle(w_prod, ū) settles at {angle:.3g}; " + ", ".join(f"{v.claim}: {v.status.value}" for v in forced),
        flagged=flagged,
    )
    assert flagged, forced


def test_control_bad_init(record_control):
    # d = 1, one point z = 1, L = 2 scalar layers a(0) = 2, b(0) = −2: R(W(0)) = e^4 > ℓ(0).
    # Plain small-step GD (the true dynamics; the normalised flow is singular at the critical
    # point 0 that this run approaches) shows the risk going to ℓ(0) = 1, not to 0.
    p = Problem.from_arrays(np.array([[1.0]]), np.array([1.0]))
    W0 = (np.array([[2.0]]), np.array([[-2.0]]))
    # Step 1e-3: the initial gradient is ~110, so larger steps overshoot. Along the path a = −b
    # (a² − b² = 0 is conserved) and R − ℓ(0) ≈ a² decays like 1/t: after t = 30 it is a few
    # percent, and it stays ≥ ℓ(0) (the product never turns positive).
    traj = gradient_descent(p.Z, EXP, W0, step=1e-3, steps=30000)
    risks = np.exp(trajectory_metrics(traj).stack("log_risk"))
    setup = Setup(p.Z, p.max_margin, EXP, W0, "gf")
    a12 = setup.check()["A1.2"]
    traj_gf = gradient_flow(p.Z, EXP, W0, s_max=1.0)
    risk_claim = {v.claim: v for v in check_claims(traj_gf, setup)}["gf.risk_to_zero"]
    to_l0 = bool(np.all(np.diff(risks) <= 0) and risks[-1] >= EXP.ell_at_zero and risks[-1] - EXP.ell_at_zero < 0.05)
    flagged = (not a12[0]) and risk_claim.status == Status.NOT_APPLICABLE and "A1.2" in risk_claim.reason and to_l0
    record_control(
        "control.bad_init",
        expected="A1.2 violated, gf.risk_to_zero not applicable, risk -> ℓ(0) = 1 (not 0)",
        observed=f"A1.2: {a12[1]}; gf.risk_to_zero: {risk_claim.status.value}; R: {risks[0]:.4g} -> {risks[-1]:.6f} after 30000 GD steps (η = 1e-3)",
        flagged=flagged,
    )
    assert flagged


def test_control_zero_init(record_control):
    # W ≡ 0 with L = 3: ∇R = 0, the flow stands still; A1.2 fails and no claim may hold.
    p = planted_case(planted_problem(2, n=10, d=3, gamma=0.3, n_sv=3, sv_rank=3))
    W0 = init_layers("zero", 3, [3, 3], 0)
    traj = gradient_flow(p.Z, EXP, W0)
    setup = Setup(p.Z, p.max_margin, EXP, W0, "gf")
    verdicts = check_claims(traj, setup, p.max_margin.u_bar)
    a12 = setup.check()["A1.2"]
    # The data lemmas are properties of the data, not of the run: they are left out here.
    holding = [v.claim for v in verdicts if v.status == Status.HOLDS and REGISTRY[v.claim].kind != "data"]
    flagged = (not a12[0]) and not holding and traj.stop_reason.startswith("critical point")
    record_control(
        "control.zero_init",
        expected="A1.2 violated (∇R = 0), no claim about the run marked as holding",
        observed=f"A1.2: {a12[1]}; stop: {traj.stop_reason}; holding: {holding or 'none'}",
        flagged=flagged,
    )
    assert flagged, holding


def test_control_non_separable(record_control):
    # XOR: no separating direction. Loading it as a problem is refused with a clear message;
    # accepted without the check, every claim that needs separability is not applicable.
    X = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]) / 2
    y = np.array([1.0, 1.0, -1.0, -1.0])
    try:
        Problem.from_arrays(X, y)
        refused = ""
    except ValueError as exc:
        refused = str(exc)
    p = Problem.from_arrays(X, y, require_separable=False)
    W0 = init_layers("gaussian", 2, [2], 0, mean_z=p.Z.mean(axis=0))
    traj = gradient_flow(p.Z, EXP, W0, s_max=2.0)
    verdicts = {v.claim: v for v in check_claims(traj, Setup(p.Z, p.max_margin, EXP, W0, "gf"))}
    needing = [cid for cid, c in REGISTRY.items() if "separable" in c.needs and "gf" in c.methods]
    wrong = [cid for cid in needing if not (verdicts[cid].status == Status.NOT_APPLICABLE and "separable" in verdicts[cid].reason)]
    flagged = "not linearly separable" in refused and not wrong
    record_control(
        "control.non_separable",
        expected="rejected with a clear message; every claim needing separability not applicable",
        observed=f"refused: {refused!r}; {len(needing) - len(wrong)}/{len(needing)} claims not applicable (separable)",
        flagged=flagged,
    )
    assert flagged, (refused, wrong)
