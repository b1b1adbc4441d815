"""The large-n path (issue 8): what makes ``check`` on 10^5 points finish in seconds, checked for
correctness, never for speed (benchmarks measure speed: tests/bench/test_bench_large_n.py).

- float64 exp computed only where it does not underflow (aligncheck.numerics.backends.EXP_ZERO_BELOW), and the
  logistic loss and softplus set exactly where their exp vanishes: the same bits as the plain
  formulas, pinned here on the platform facts they rest on and on whole runs at n = 20,000;
- the gradient flow's evaluation cache and the Hessian reusing it: same trajectory, same counts;
- the sign-lemma search's point-evaluation budget: a cut search is a prefix of the full one;
- the up-front note of the command line (aligncheck.harness.cost).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import aligncheck.numerics.backends as backends
import aligncheck.dynamics.flow as flow_field
import aligncheck.dynamics.integrate as integrate
from aligncheck.numerics.backends import EXP_ZERO_BELOW, FLOAT64, softplus
from aligncheck.harness.cli import main
from aligncheck.harness.cost import up_front_note
from aligncheck.claims.ji_telgarsky.data import sign_lemma_verdict
from aligncheck.data.sign_lemma import _sign_parts, sign_lemma_quantity, sign_lemma_search
from aligncheck.data.alpha import alpha
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.numerics.losses import EXP, LOGISTIC, risk_and_weights
from aligncheck.numerics.network import init_layers
from aligncheck.data.problem import Problem
from aligncheck.numerics.risk import evaluate, hessian
from aligncheck.harness.runner import RunSpec, run_checked
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status

N_LARGE = 20_000  # large enough for every fast path (EXP_SELECT_MIN_SIZE = 1024), a few seconds per run


def bits(a) -> np.ndarray:
    """The float64 bit patterns of ``a``, every NaN mapped to one pattern (np.abs may clear a NaN's
    sign bit; NaN margins are rejected before any run, so only 'is NaN' matters)."""
    a = np.array(a, dtype=np.float64)
    out = a.view(np.int64).copy()
    out[np.isnan(a)] = 0x7FF8000000000000
    return out


@lru_cache(maxsize=None)
def planted_large(d: int = 5, n: int = N_LARGE) -> Problem:
    pp = planted_problem(8, n=n, d=d, gamma=0.2, n_sv=d, sv_rank=d)
    return Problem.from_arrays(pp.X, pp.y)


# ---------------------------------------------------------------- the platform facts


def test_numpy_exp_is_exactly_zero_below_the_cutoff():
    # the proof in aligncheck.numerics.backends: e^x < 2^-1075 (half the smallest subnormal) for x < -745.1332
    x = -np.concatenate([np.linspace(-EXP_ZERO_BELOW, 800.0, 100_001), np.geomspace(800.0, 1e308, 10_000), [np.inf]])
    assert np.all(np.exp(x) == 0.0)
    assert np.exp(-745.0) > 0  # the cutoff is not absurdly early: subnormals above it survive


@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 1023, 1024, 1025, 4097, 20_011])
def test_numpy_exp_is_elementwise(n):
    """np.exp of a subset gives the same bits as the subset of np.exp (SIMD lanes and the scalar
    tail compute the same function), including results in the subnormal range."""
    rng = np.random.default_rng(n)
    x = rng.uniform(-800.0, 40.0, n)
    x[: n // 3] = rng.uniform(-750.0, -700.0, n // 3)  # subnormal results and the slow path
    idx = np.flatnonzero(rng.uniform(size=n) < 0.3)
    np.testing.assert_array_equal(bits(np.exp(x)[idx]), bits(np.exp(x[idx])))


@pytest.mark.parametrize("shape", [(5000,), (300, 7), (2000,)])
def test_float64_exp_is_numpy_exp_bit_for_bit(shape):
    rng = np.random.default_rng(1)
    a = rng.uniform(-2000.0, 50.0, shape)
    flat = a.reshape(-1)
    flat[:6] = [np.nan, -np.inf, np.inf, -745.2, -745.1, EXP_ZERO_BELOW]
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(bits(FLOAT64.exp(a)), bits(np.exp(a)))
    assert FLOAT64.exp(a).shape == a.shape


def _margins(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.concatenate([rng.uniform(-800, 800, n // 4), rng.standard_normal(n // 4) * 20, rng.uniform(700, 1e10, n // 4), -rng.uniform(700, 1e6, n // 4)])
    m[:8] = [0.0, -0.0, 750.0, -750.0, 750.0000001, 5e-324, np.inf, -np.inf]
    return rng.permutation(m)


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_and_softplus_shortcuts_are_the_formulas(seed):
    """Where e^{-|m|} vanishes, log ℓ is −m and softplus is m or 0, exactly as the formula gives."""
    m = _margins(8000, seed)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(bits(LOGISTIC.log_ell(m)), bits(LOGISTIC._log_ell(m, FLOAT64)))
        np.testing.assert_array_equal(bits(softplus(FLOAT64, m)), bits(backends._softplus(FLOAT64, m)))
        np.testing.assert_array_equal(bits(LOGISTIC.log_ddell(m)), bits(-backends._softplus(FLOAT64, m) - backends._softplus(FLOAT64, -m)))


def _slow(monkeypatch) -> None:
    """Switch every float64 fast path off (the plain formulas over every point)."""
    monkeypatch.setattr(backends, "EXP_SELECT_MIN_SIZE", 10**12)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
@pytest.mark.parametrize("scale", [1.0, 30.0, 3000.0])
def test_evaluate_and_hessian_match_the_slow_path(monkeypatch, loss, scale):
    P = planted_large()
    layers = tuple(W * scale for W in init_layers("gaussian", P.d, (P.d,), 0, mean_z=P.Z.mean(axis=0)))
    fast = evaluate(P.Z, loss, layers), hessian(P.Z, loss, layers), risk_and_weights(loss, P.Z @ P.max_margin.u_bar * scale)
    _slow(monkeypatch)
    slow = evaluate(P.Z, loss, layers), hessian(P.Z, loss, layers), risk_and_weights(loss, P.Z @ P.max_margin.u_bar * scale)
    for a, b in [(fast[0].log_risk, slow[0].log_risk), (fast[0].grad_w, slow[0].grad_w), (fast[0].margins, slow[0].margins), (fast[1], slow[1]), (fast[2][0], slow[2][0]), (fast[2][1], slow[2][1])]:
        np.testing.assert_array_equal(bits(a), bits(b))


# ---------------------------------------------------------------- whole runs at n = 20,000


@pytest.mark.parametrize("loss,depth", [(EXP, 2), (LOGISTIC, 1)], ids=["exp-L2", "logistic-L1"])
def test_gradient_flow_matches_the_slow_path(monkeypatch, loss, depth):
    """The same trajectory bit for bit and the same evaluation count with the fast paths (the
    exp selection, the loss shortcuts, the evaluation cache) as with the plain formulas and
    every evaluation recomputed. n = 5,000: above EXP_SELECT_MIN_SIZE, so every fast path is taken
    (a quarter of the default problem's cost, the same paths)."""
    P = planted_large(n=5000)
    layers0 = init_layers("gaussian", P.d, (P.d,) * (depth - 1), 0, mean_z=P.Z.mean(axis=0))
    calls = {"n": 0}
    real = flow_field.evaluate

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    class Forgetful(flow_field.FlowField):
        def evaluate(self, theta):
            self._last = None
            return super().evaluate(theta)

    monkeypatch.setattr(flow_field, "evaluate", counting)
    fast = gradient_flow(P.Z, loss, layers0, target_layer_norm=50.0)
    cached_calls = calls["n"]
    monkeypatch.undo()
    _slow(monkeypatch)
    monkeypatch.setattr(integrate, "FlowField", Forgetful)
    slow = gradient_flow(P.Z, loss, layers0, target_layer_norm=50.0)
    assert fast.stop_reason == slow.stop_reason == "target reached"
    assert fast.grad_evals == slow.grad_evals  # the cache still counts every request
    assert cached_calls < fast.grad_evals  # ... and answers some of them from memory
    assert len(fast.checkpoints) == len(slow.checkpoints)
    for a, b in zip(fast.checkpoints, slow.checkpoints):
        assert a.time == b.time
        for Wa, Wb in zip(a.layers, b.layers):
            np.testing.assert_array_equal(bits(Wa), bits(Wb))


def test_check_at_n_20000_gives_the_known_answers():
    """A planted problem (ū, γ known by construction): every claim holds or does not apply, and
    the max-margin claims hold against the planted ū."""
    P = planted_large(3)
    ids = ["gf.risk_to_zero", "gf.rank_one", "gf.adjacent_alignment", "gf.balancedness", "gf.lemma2_rank_bound",
           "gf.max_margin_v1", "gf.max_margin_product", "gf.margin_corollary", "data.alpha_positive"]
    out = run_checked(P, RunSpec(depth=2, loss="exp"), ids)
    status = {v.claim: v.status for v in out.verdicts}
    assert all(s is Status.HOLDS for s in status.values()), [(v.claim, v.status, v.reason) for v in out.verdicts]


# ---------------------------------------------------------------- the sign-lemma search


def _problem_for_search():
    pp = planted_problem(4, n=3000, d=4, gamma=0.3, n_sv=4, sv_rank=4)
    Z = np.array(pp.Z)
    P = Problem.from_arrays(pp.X, pp.y)
    return Z, P.max_margin, alpha(Z, P.max_margin).alpha


def test_sign_parts_are_sign_lemma_quantity():
    Z, mm, _ = _problem_for_search()
    rng = np.random.default_rng(3)
    for a in (0.0, 3.0, 300.0):
        p = rng.standard_normal(Z.shape[1])
        p -= (p @ mm.u_bar) * mm.u_bar
        p *= 50.0
        s, sn, _ = sign_lemma_quantity(Z, mm.u_bar, EXP, a, p)
        s2, sn2, _, _ = _sign_parts(Z, Z @ mm.u_bar, EXP, a, p)
        assert (s, sn) == (s2, sn2)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_budgeted_search_is_a_prefix_of_the_full_one(loss):
    Z, mm, a = _problem_for_search()
    n = Z.shape[0]
    full = sign_lemma_search(Z, mm, loss, a, seed=0, tries=60, local=3)
    roomy = sign_lemma_search(Z, mm, loss, a, seed=0, tries=60, local=3, point_budget=n * (full.evaluations + 1))
    assert not full.budget_cut and not roomy.budget_cut
    assert (roomy.min_value, roomy.evaluations, roomy.reason) == (full.min_value, full.evaluations, full.reason)
    for evals in (30, 60, 400):  # cut inside the random starts, right after them, inside a local search
        cut = sign_lemma_search(Z, mm, loss, a, seed=0, tries=60, local=3, point_budget=n * evals)
        assert cut.budget_cut and cut.evaluations == evals
        assert cut.min_value >= full.min_value  # the best of a prefix of the same search
        assert not cut.violated and sign_lemma_verdict(cut).status is Status.HOLDS
        assert f"{evals} evaluations over n = {n} points" in cut.reason and "budget" in cut.reason


def test_budgeted_search_still_finds_a_counterexample():
    # the negative control (no norm threshold) within a small budget
    Z, mm, a = _problem_for_search()
    res = sign_lemma_search(Z, mm, EXP, a, seed=0, tries=60, local=3, threshold=0.0, point_budget=Z.shape[0] * 300)
    assert res.budget_cut and res.violated and sign_lemma_verdict(res).status is Status.VIOLATED


# ---------------------------------------------------------------- the up-front note


def test_up_front_note_only_when_something_takes_long():
    assert up_front_note(40, 3) is None
    assert up_front_note(300, 3, late_phase=True) is None
    note = up_front_note(100_000, 5)
    assert note is not None and "50 digits" in note and "min" in note
    note = up_front_note(100_000, 5, precision=30)
    assert note is not None and "--precision 30" in note and " h" in note
    assert "float64 run" in up_front_note(1_000_000, 5)


def test_cli_prints_the_note_on_stderr_before_the_run(capsys, tmp_path, monkeypatch):
    import aligncheck.harness.cli as cli

    pp = planted_problem(1, n=12, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    path = tmp_path / "p.npz"
    np.savez(path, X=pp.X, y=pp.y)
    seen = {}

    def fake_run(problem, spec, ids=None):  # the note must be out before the run starts
        seen["err"] = capsys.readouterr().err
        raise SystemExit(0)

    monkeypatch.setattr(cli, "up_front_note", lambda n, d, **kw: f"note: {n} points take long")
    monkeypatch.setattr(cli, "run_checked", fake_run)
    with pytest.raises(SystemExit):
        main(["check", str(path), "--depth", "2", "--loss", "exp"])
    assert seen["err"] == "aligncheck: note: 12 points take long\n"


# ---------------------------------------------------------------- the second look's metrics


def test_mpmath_snapshot_computes_the_data_part_only_when_asked(monkeypatch):
    """In mpmath, log R and the margins (the part that costs ~50 µs per point) are computed on
    first use, at the precision the backend had when the snapshot was taken."""
    import aligncheck.numerics.metrics as metrics
    from aligncheck.numerics.backends import Mpmath

    pp = planted_problem(2, n=40, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    Z = np.array(pp.Z)
    layers = tuple(W * 40.0 for W in init_layers("gaussian", 3, (3,), 1, mean_z=Z.mean(axis=0)))
    eager = metrics.snapshot(Z, LOGISTIC, layers, np.array(pp.u_bar), Mpmath(30))
    expect = (eager.log_risk, eager.min_margin, eager.max_abs_margin)
    calls = {"n": 0}
    real = metrics.log_risk_of_margins

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "log_risk_of_margins", counting)
    bk = Mpmath(30)
    lazy = metrics.snapshot(Z, LOGISTIC, layers, np.array(pp.u_bar), bk)
    assert calls["n"] == 0 and lazy.rank_gap.tolist() == eager.rank_gap.tolist()
    bk.ensure_headroom(1e40)  # a later precision change must not change what the snapshot says
    assert (lazy.log_risk, lazy.min_margin, lazy.max_abs_margin) == expect and calls["n"] == 1
    assert lazy.log_risk == lazy.log_risk and calls["n"] == 1  # computed once
    f64 = metrics.snapshot(Z, LOGISTIC, layers, np.array(pp.u_bar))
    assert calls["n"] == 2  # float64: computed with the snapshot, as before
    assert f64.log_risk == pytest.approx(expect[0], rel=1e-14)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_mpmath_flow_on_the_points_that_carry_it(monkeypatch, loss):
    """The high-precision continuation past the float64 floor evaluated on the points within
    prec·ln 2 + ln n + 20 of the smallest margin (aligncheck.dynamics.flow.FlowField._rows) follows the same
    path as on every point, to far below the working precision (measured: the same digits)."""
    import math

    import aligncheck.dynamics.late_phase as late_phase

    pp = planted_problem(3, n=80, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    P = Problem.from_arrays(pp.X, pp.y)
    layers0 = init_layers("gaussian", 3, (3,), 0, mean_z=P.Z.mean(axis=0))
    head = gradient_flow(P.Z, loss, layers0, target_layer_norm=math.inf)
    full = late_phase.continue_in_mpmath(head, digits=30, s_span=0.15)
    monkeypatch.setattr(flow_field, "SUBSET_MIN_POINTS", 0)
    rows = {"dropped": 0}
    real = flow_field.FlowField._rows

    def counting(self, layers):
        keep, B = real(self, layers)
        rows["dropped"] = max(rows["dropped"], 0 if keep is None else len(self.Z) - len(keep))
        return keep, B

    monkeypatch.setattr(flow_field.FlowField, "_rows", counting)
    sub = late_phase.continue_in_mpmath(head, digits=30, s_span=0.15)
    assert rows["dropped"] > 0  # the path was taken
    assert [c.time for c in sub.checkpoints] == [c.time for c in full.checkpoints]
    assert sub.late_phase.stepper.steps_accepted == full.late_phase.stepper.steps_accepted
    for a, b in zip(full.checkpoints, sub.checkpoints):
        for Wa, Wb in zip(a.layers, b.layers):
            Wa, Wb = np.asarray(Wa, dtype=object).ravel(), np.asarray(Wb, dtype=object).ravel()
            assert max(abs(x - y) for x, y in zip(Wa, Wb)) <= 1e-28 * max(abs(x) for x in Wa)


def test_mpmath_max_abs_margin_is_over_every_point():
    from aligncheck.numerics.backends import Mpmath
    from aligncheck.numerics.network import flatten

    P = planted_large(3)
    bk = Mpmath(30)
    layers = tuple(W * 1e4 for W in init_layers("gaussian", 3, (3,), 0, mean_z=P.Z.mean(axis=0)))
    flow = flow_field.FlowField(P.Z[:3000], EXP, [W.shape for W in layers], bk)
    theta = bk.asarray(flatten(layers))
    margins = evaluate(flow.Z, EXP, tuple(bk.asarray(W) for W in layers), bk).margins
    assert flow.max_abs_margin(theta) == float(max(abs(m) for m in margins))  # the same value, bit for bit
