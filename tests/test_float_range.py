"""The ends of float64's range (issue 8): log-domain formatting, norms without over/underflow, the
states the float64 engine accepts, and the runs and claims that used to overflow near them.

Every test runs with warnings turned into errors, so an overflow that is only *reported* (a
RuntimeWarning on stderr) fails as surely as one that raises.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest

from aligncheck.claims.ji_telgarsky import conjectures as conj_claims
from aligncheck.claims.ji_telgarsky import gd as gd_claims
from aligncheck.numerics.magnitudes import format_from_log, log_norm, robust_norm
from aligncheck.dynamics.float_range import beyond_range, check_start
from aligncheck.dynamics.gd import MAX_GD_STEPS
from aligncheck.dynamics.gd import gradient_descent
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.trajectory import Checkpoint, Trajectory
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC, POLY
from aligncheck.numerics.network import MAX_PARAMETERS, check_network_size, init_layers
from aligncheck.dynamics.gd import paper_step_gd
from aligncheck.numerics.risk import risk_gradients
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture(scope="module")
def Z() -> np.ndarray:
    pp = planted_problem(0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)  # ‖x_i‖ ≤ 1
    return pp.Z


def _z_norm(Z: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(Z, axis=1)))


# ---------------------------------------------------------------------------
# numerics helpers (aligncheck.numerics.backends)


@pytest.mark.parametrize("log_x", [0.0, 1.5, -700.0, 709.0, -708.0, math.log(1e308)])
def test_format_from_log_in_range_is_plain_format(log_x):
    assert format_from_log(log_x) == format(math.exp(log_x), ".6g")


@pytest.mark.parametrize("log_x", [800.0, -800.0, 1e6, -1e6, 123456.789])
def test_format_from_log_beyond_range_gives_mantissa_and_exponent(log_x):
    ctx = mpmath.MPContext()
    ctx.dps = 40
    exact = ctx.exp(ctx.mpf(log_x))  # log_x is exact as a float; e^log_x at 40 digits
    exponent = int(ctx.floor(ctx.log10(exact)))
    mantissa = float(exact / ctx.mpf(10) ** exponent)
    text = format_from_log(log_x)
    m, e = text.split("e")
    assert int(e) == exponent
    # 6 significant digits, and log_x's own rounding moves the mantissa by ≤ eps·|log_x| relative
    assert float(m) == pytest.approx(mantissa, rel=5e-6 + 4 * 2.0**-53 * abs(log_x))


def test_format_from_log_special_values():
    assert format_from_log(1.2e149) == "exp(1.2e+149)"  # no digit of the mantissa is known
    assert format_from_log(-math.inf) == "0"
    assert format_from_log(math.inf) == "inf"
    assert format_from_log(math.nan) == "nan"


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-160, 1.0, 1e160, 1e200, 1e300])
def test_robust_norm_and_log_norm_have_full_accuracy_at_any_scale(scale):
    v = np.array([3.0, -4.0, 12.0]) * scale  # ‖v‖ = 13·scale
    assert robust_norm(v) == pytest.approx(13.0 * scale, rel=4e-16)
    assert log_norm(v) == pytest.approx(math.log(13.0) + math.log(scale), abs=4e-16 * 700)


def test_robust_norm_is_numpys_norm_in_the_plain_range():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.standard_normal((3, 4)) * 10.0 ** rng.uniform(-100, 100)
        # the same bits, also for views in another memory order (numpy sums those in memory order)
        for view in (a, a.T, a[:, ::2], a.ravel()):
            assert robust_norm(view) == float(np.linalg.norm(view))


def test_norms_of_zero_and_non_finite_arrays():
    assert robust_norm(np.zeros(3)) == 0.0 and log_norm(np.zeros(3)) == -math.inf
    assert robust_norm(np.array([1.0, np.inf])) == math.inf and log_norm(np.array([1.0, np.inf])) == math.inf
    assert math.isnan(log_norm(np.array([1.0, np.nan])))


# ---------------------------------------------------------------------------
# the states the float64 engine accepts (aligncheck.dynamics.float_range.check_start)


@pytest.mark.parametrize("init", ["gaussian", "balanced"])
@pytest.mark.parametrize("scale", [1e100, 1e308, 1.7976931348623157e308])
def test_huge_starts_are_refused_with_advice(Z, init, scale):
    layers = init_layers(init, 3, [3], 0, scale=scale, mean_z=Z.mean(axis=0))
    with pytest.raises(ProblemError, match=r"beyond the float64 engine's range.*use a smaller --init-scale") as info:
        check_start(Z, EXP, layers)
    assert "\n" not in str(info.value)


def test_tiny_starts_are_refused_when_every_gradient_underflows(Z):
    # depth 3 at 1e-300: layer gradients ~1e-600 (a product of two layers), rounded to 0
    layers = init_layers("gaussian", 3, [3, 3], 0, scale=1e-300, mean_z=Z.mean(axis=0))
    with pytest.raises(ProblemError, match=r"layer gradients are at most .*e-60\d.*use a larger --init-scale"):
        check_start(Z, LOGISTIC, layers)


@pytest.mark.parametrize(
    "init, depth, scale",
    [("gaussian", 2, 1e-300), ("gaussian", 1, 1e-320), ("gaussian", 2, 1e3), ("gaussian", 3, 1e45), ("balanced", 2, 1e70),
     ("w1zero", 2, 1.0), ("w1zero", 3, 1e-100), ("zero", 2, 1.0), ("zero", 3, 1.0), ("zero", 1, 1.0)],
)
def test_accepted_starts(Z, init, depth, scale):
    layers = init_layers(init, 3, [3] * (depth - 1), 0, scale=scale, mean_z=Z.mean(axis=0))
    check_start(Z, LOGISTIC, layers)  # no error: W ≡ 0 and W_1 = 0 keep working


def test_the_upper_end_counts_the_data_scale(Z):
    layers = init_layers("gaussian", 3, [3], 0, scale=1e60, mean_z=Z.mean(axis=0))
    assert beyond_range(layers, _z_norm(Z)) is None
    assert "> 1e+150" in beyond_range(layers, 1e40)  # the same layers, data of norm 1e40: margins ~1e160


def test_the_mean_margin_sign_does_not_depend_on_the_scale(Z):
    # The sign of W_L is chosen from ⟨w_prod, mean z⟩, which over- or underflows at these scales.
    for seed in range(10):
        ref = init_layers("gaussian", 3, [3], seed, scale=1.0, mean_z=Z.mean(axis=0))
        for scale in (1e-200, 1e200):
            layers = init_layers("gaussian", 3, [3], seed, scale=scale, mean_z=Z.mean(axis=0))
            assert np.array_equal(np.sign(layers[-1]), np.sign(ref[-1]))


def test_network_size_is_checked_before_allocating():
    check_network_size(3, [3, 3])
    with pytest.raises(ProblemError, match=rf"at most {MAX_PARAMETERS} are supported.*use smaller widths"):
        check_network_size(3, [10**9])  # 3·10^9 + 10^9 parameters: refused without allocating
    with pytest.raises(ProblemError, match=r"parameters"):
        check_network_size(1, [1] * (MAX_PARAMETERS + 1))


# ---------------------------------------------------------------------------
# runs near the ends of the range


def test_gradient_flow_from_a_tiny_start_stops_cleanly(Z):
    # depth 2 at 1e-300: the gradient (~1e-300) is representable, its numpy norm underflowed to 0
    layers = init_layers("gaussian", 3, [3], 0, scale=1e-300, mean_z=Z.mean(axis=0))
    traj = gradient_flow(Z, LOGISTIC, layers)
    assert traj.stop_reason.startswith("approaching a critical point at the start")
    assert len(traj.checkpoints) == 1


def test_gradient_flow_stops_at_the_edge_of_the_range(Z):
    # W_1 = 0 next to a layer of norm ~1e100: within one step W_1 grows to ~1e90 and the margins
    # to ~1e190; the run ends at the last state whose products of layer norms are within range.
    layers = init_layers("w1zero", 3, [3], 0, scale=1e100, mean_z=Z.mean(axis=0))
    traj = gradient_flow(Z, EXP, layers, target_layer_norm=100.0)
    assert traj.stop_reason.startswith(("float64 range", "float64 floor", "integrator failed"))
    assert all(beyond_range(cp.layers, _z_norm(Z)) is None for cp in traj.checkpoints)
    traj = gradient_flow(Z, LOGISTIC, layers, target_layer_norm=100.0)
    assert traj.stop_reason.startswith(("float64 range", "float64 floor", "integrator failed"))
    assert all(beyond_range(cp.layers, _z_norm(Z)) is None for cp in traj.checkpoints)


def test_gradient_flow_with_a_singular_newton_matrix_fails_cleanly():
    # Rows of norm 1e-149 next to one of 1e140: Hessian entries ~1e280 swamp BDF's I − hγJ.
    X = np.array([[1e-149, 1e-149], [1e-149, 1e-149], [1e-149, 1e-149], [1e140, 1e140]])
    layers = init_layers("w1zero", 2, [2, 2], 0, mean_z=X.mean(axis=0))
    traj = gradient_flow(X, POLY, layers)
    assert traj.stop_reason.startswith(("integrator failed", "float64", "approaching", "target"))
    assert all(np.all(np.isfinite(W)) for cp in traj.checkpoints for W in cp.layers)


@pytest.mark.parametrize("step", [1e200, 1e308, 1.7976931348623157e308])
def test_gradient_descent_with_a_huge_step_ends_inside_the_range(Z, step):
    layers = init_layers("gaussian", 3, [3], 0, mean_z=Z.mean(axis=0))
    traj = gradient_descent(Z, LOGISTIC, layers, step=step, steps=5)
    assert traj.stop_reason.startswith("diverged: step 0 produced an iterate outside float64's range")
    assert all(beyond_range(cp.layers, _z_norm(Z)) is None for cp in traj.checkpoints)


def test_paper_gd_from_a_tiny_start_is_not_a_false_critical_point(Z):
    # ‖∇log R‖² underflows to 0 at layers of 1e-200 while the gradient itself (~1e-200) does not.
    layers = init_layers("gaussian", 3, [3], 0, scale=1e-200, mean_z=Z.mean(axis=0))
    traj = paper_step_gd(Z, LOGISTIC, layers, steps=3)
    assert traj.stop_reason == "step budget"
    assert np.all(np.isfinite(traj.gd.log_grad_sq))


def test_gd_steps_are_capped(Z):
    layers = init_layers("gaussian", 3, [3], 0, mean_z=Z.mean(axis=0))
    with pytest.raises(ProblemError, match=r"at most 1,000,000 GD steps"):
        gradient_descent(Z, EXP, layers, step=0.1, steps=MAX_GD_STEPS + 1)
    with pytest.raises(ProblemError, match=r"at most 1,000,000 GD steps"):
        paper_step_gd(Z, LOGISTIC, layers, steps=10**30)


# ---------------------------------------------------------------------------
# claims that overflowed (items 4 and 6)


def test_gd_identity_with_a_step_whose_square_overflows(Z):
    # η = 1e200 (η² = 1e400 overflows, as a Python float it raised) on layers of 1e-110, so that
    # the update η·G ~ 1e90 and the new iterate are finite: the identity is formed from η·G.
    layers = tuple(W.copy() for W in init_layers("gaussian", 3, [3], 0, scale=1e-110, mean_z=Z.mean(axis=0)))
    eta = 1e200
    nxt = tuple(W - eta * G for W, G in zip(layers, risk_gradients(Z, EXP, layers)))
    assert all(np.all(np.isfinite(W)) for W in nxt) and 1e80 < max(np.abs(W).max() for W in nxt) < 1e100
    traj = Trajectory("gd", Z, EXP, [Checkpoint(0.0, layers, nxt, eta), Checkpoint(1.0, nxt)], "step budget", 1, 0.0)
    v = gd_claims.gd_balancedness_identity(SimpleNamespace(trajectory=traj))
    assert v.status == Status.HOLDS, v.reason


def _smoothed_margin_run(log_risk: np.ndarray) -> SimpleNamespace:
    n = 4
    frob = np.outer(np.linspace(1.0, 4.0, len(log_risk)), [1.0, 1.0])
    metrics = SimpleNamespace(times=np.arange(len(log_risk), dtype=float), stack=lambda f: {"log_risk": log_risk, "frob": frob}[f])
    trajectory = SimpleNamespace(rtol=1e-9, final=(np.eye(2), np.eye(2)))
    return SimpleNamespace(metrics=metrics, trajectory=trajectory, setup=SimpleNamespace(Z=np.zeros((n, 2)), loss=LOGISTIC), rtol=1e-9)


def test_smoothed_margin_ignores_the_checkpoints_before_the_late_phase_without_overflow():
    # n·R = e^800 at the first checkpoints (a start of scale 1e3): expm1(n·R) overflowed there,
    # where ℓ^{-1}(nR) is never used (n·R ≥ ℓ(0)). The verdict is that of the used part alone.
    late = np.array([-1.0, -3.0, -6.0, -10.0, -15.0, -25.0])
    v = conj_claims.smoothed_margin_monotone(_smoothed_margin_run(np.concatenate([[800.0, 50.0, 5.0], late])))
    ref = conj_claims.smoothed_margin_monotone(_smoothed_margin_run(np.concatenate([[0.5, 0.4, 0.3], late])))
    assert (v.status, v.value, v.reason) == (ref.status, ref.value, ref.reason)


def test_mpmath_flow_from_a_tiny_start_stops_cleanly(Z):
    # At 1e-300 the Newton matrices I − hJ are numerically singular for mpmath's LU (J ~ 1e300):
    # each such step is rejected, and the run stops as stalled instead of raising.
    from aligncheck.dynamics.late_phase import gradient_flow_mp

    layers = init_layers("gaussian", 3, [3], 0, scale=1e-300, mean_z=Z.mean(axis=0))
    traj = gradient_flow_mp(Z, LOGISTIC, layers, digits=16, s_span=1.0)
    assert traj.stop_reason.startswith("stalled")
    assert traj.integrator.steps_rejected > 0


def test_metrics_of_layers_whose_balancedness_squares_overflow(Z):
    # ‖W_1‖_F ~ 1e148 (within the range): Δ_1 has entries ~1e296, and its Frobenius norm (in the
    # drift, D and the GD identity's residual) squared them again to inf.
    from aligncheck.numerics.metrics import trajectory_metrics

    layers = init_layers("w1zero", 3, [3], 0, scale=1e-160, mean_z=Z.mean(axis=0))
    traj = gradient_descent(Z, EXP, layers, step=1e308, steps=1)
    assert traj.stop_reason == "step budget" and 1e140 < np.linalg.norm(traj.final[0]) < 1e150
    tm = trajectory_metrics(traj)
    assert np.all(np.isfinite(tm.drift))
    v = gd_claims.gd_balancedness_identity(SimpleNamespace(trajectory=traj))
    assert v.status == Status.HOLDS, v.reason
