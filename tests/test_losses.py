"""Losses in the log domain: log ℓ, log(−ℓ'), log ℓ'' and risk_and_weights against a 50-digit oracle."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import EXP, LOGISTIC, LOSSES, get_loss, risk_and_weights

EPS = 2.0**-53  # unit roundoff of float64

# A private mpmath context (mp.prec is process-wide state): 50 significant digits, far more
# than the 16 of float64, so the oracle's own error is negligible in every comparison below.
MP = mpmath.MPContext()
MP.dps = 50

# Each of log ℓ, log(−ℓ'), log ℓ'' is a handful of correctly rounded float64 operations
# (exp, log1p, log, one add or divide), each adding at most one unit roundoff. Measured worst
# over the grid below: 1.8·eps. Errors are measured ABSOLUTELY where |value| < 1 and
# relatively above: an absolute error in log ℓ is the relative error in ℓ itself, which is what
# the risk needs, and log ℓ crosses 0 at m = −log(e − 1), where a relative error of log ℓ is
# meaningless (the condition number of log ℓ is infinite there).
LOSS_TOL = 4 * EPS


def oracle(name: str, m: float) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """(log ℓ, log(−ℓ'), log ℓ'') at the float m, from the direct formulas at 50 digits."""
    M = MP.mpf(m)
    if name == "exp":
        ell = MP.exp(-M)
        return MP.log(ell), MP.log(ell), MP.log(ell)  # ℓ = −ℓ' = ℓ'' = e^{−m}
    e = MP.exp(M)
    ell = MP.log1p(MP.exp(-M))  # ℓ = ln(1 + e^{−m})
    neg_dell = 1 / (1 + e)  # −ℓ' = 1/(1 + e^{m})
    ddell = e / (1 + e) ** 2  # ℓ'' = e^{m}/(1 + e^{m})²
    return MP.log(ell), MP.log(neg_dell), MP.log(ddell)


def scaled_error(got: float, want: mpmath.mpf) -> float:
    """|got − want| / max(1, |want|), in float."""
    return float(abs(MP.mpf(float(got)) - want) / max(MP.mpf(1), abs(want)))


GRID = np.concatenate(
    [
        -np.geomspace(1e-300, 700.0, 300),
        np.geomspace(5e-324, 1e6, 300),
        np.linspace(-40.0, 40.0, 161),
        np.random.default_rng(0).uniform(-700.0, 700.0, 100),
        [0.0, -0.0, -math.log(math.e - 1.0), 700.0, -700.0, 1e6],  # ℓ = 1 at m = −log(e − 1)
    ]
)


def evaluate_all(loss, m):
    return loss.log_ell(m), loss.log_neg_dell(m), loss.log_ddell(m)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_log_domain_values_match_oracle_on_grid(loss):
    got = evaluate_all(loss, GRID)
    worst = [0.0, 0.0, 0.0]
    for i, m in enumerate(GRID):
        want = oracle(loss.name, float(m))
        for j in range(3):
            worst[j] = max(worst[j], scaled_error(got[j][i], want[j]))
    assert max(worst) <= LOSS_TOL, f"worst scaled errors {[w / EPS for w in worst]} eps"


@settings(max_examples=150, deadline=None)
@given(m=st.floats(min_value=-700.0, max_value=1e6, allow_nan=False), name=st.sampled_from(["exp", "logistic"]))
@example(m=-0.5413248546129181, name="logistic")  # log ℓ ≈ 0: absolute, not relative, accuracy
@example(m=5e-324, name="logistic")
def test_log_domain_values_match_oracle_random(m, name):
    loss = get_loss(name)
    got = evaluate_all(loss, np.array([m]))
    want = oracle(name, m)
    for j in range(3):
        assert scaled_error(got[j][0], want[j]) <= LOSS_TOL, (j, m)


@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_extreme_margins_stay_finite_and_exact(loss):
    # |m| = 1e8 (and beyond): e^{∓m} over/underflows float64, so any formula that forms ℓ, ℓ'
    # or ℓ'' before taking the log would give ±inf, 0 or NaN. Intermediate UNDERFLOW to 0 is
    # part of the design (e^{−m} → 0 is handled explicitly), so only overflow, invalid
    # operations and division by zero are trapped; the results must then be finite and agree
    # with the oracle, e.g. log ℓ(1e8) = −1e8, not −inf.
    m = np.array([-1e12, -1e8, -1e6, 1e6, 1e8, 1e12])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = evaluate_all(loss, m)
    for j in range(3):
        assert np.all(np.isfinite(got[j])), (j, got[j])
        for i, mi in enumerate(m):
            assert scaled_error(got[j][i], oracle(loss.name, float(mi))[j]) <= LOSS_TOL, (j, mi)


def test_loss_constants():
    # Checked through the log-domain functions, so a wrong constant or a wrong formula shows.
    assert EXP.ell_at_zero == 1.0 and math.exp(EXP.log_ell(np.array([0.0]))[0]) == 1.0
    assert LOGISTIC.ell_at_zero == pytest.approx(math.exp(LOGISTIC.log_ell(np.array([0.0]))[0]), rel=4 * EPS)
    # Logistic: β = max ℓ'' = ℓ''(0) = 1/4 and G = sup |ℓ'| = 1 (approached as m → −∞).
    assert LOGISTIC.beta == 0.25 and LOGISTIC.G == 1.0
    m = np.linspace(-50, 50, 2001)
    assert np.max(LOGISTIC.log_ddell(m)) == pytest.approx(math.log(0.25), abs=4 * EPS)
    assert np.all(LOGISTIC.log_neg_dell(m) <= 0.0)
    assert EXP.beta is None and EXP.G is None  # exp fails A3.x: ℓ' unbounded
    assert EXP.satisfies_a11 and LOGISTIC.satisfies_a11


# --------------------------------------------------------------------------- risk_and_weights


def mp_ell(name, M):
    return MP.exp(-M) if name == "exp" else MP.log1p(MP.exp(-M))


def mp_neg_dell(name, M):
    return MP.exp(-M) if name == "exp" else 1 / (1 + MP.exp(M))


def _margin_cases():
    rng = np.random.default_rng(7)
    cases = [
        np.array([0.0]),
        np.array([-3.0, 3.0]),
        np.array([1e6, 1e6 + 0.5, 1e6 + 1.3, 2e6]),  # R ≈ e^{−1e6}: underflows if formed directly
        np.array([-700.0, 0.5, 700.0]),
        np.array([-1e3, 5.0]),
        np.array([1e8, 1e8 + 1.0]),
    ]
    for _ in range(30):
        n = int(rng.integers(1, 13))
        scale = float(rng.choice([1.0, 30.0, 700.0]))
        cases.append(rng.uniform(-scale, scale, n))
        cases.append(1e5 + rng.uniform(0.0, 20.0, n))  # near-ties at large margins
    return cases


MARGIN_CASES = _margin_cases()


@pytest.mark.parametrize("name", ["exp", "logistic"])
@pytest.mark.parametrize("case", range(len(MARGIN_CASES)))
def test_risk_and_weights_match_oracle(name, case):
    m = MARGIN_CASES[case]
    n = len(m)
    loss = get_loss(name)
    log_r, q = risk_and_weights(loss, m)
    M = [MP.mpf(float(x)) for x in m]
    S = MP.fsum(mp_ell(name, x) for x in M)
    want_log_r = MP.log(S / n)
    # log R = logsumexp(log ℓ_i) − log n: the inputs carry ≤ LOSS_TOL scaled error, the sum
    # of n exponentials ≤ n·eps relative (→ absolute in the log), and the final "top + log(sum)
    # − log n" rounds at the size of |log R| + log n. Measured worst: 5.3·eps·max(1, |log R|).
    tol_r = (n + 8) * EPS * max(1.0, abs(float(want_log_r)) + math.log(n))
    assert abs(float(log_r) - float(want_log_r)) <= tol_r
    # q_i = exp(log(−ℓ'_i) − logsumexp(log ℓ)): the exponent carries an absolute rounding error
    # of about eps·(|log(−ℓ'_i)| + |log R|) ≤ eps·(2 max|m| + n), which exp turns into a
    # RELATIVE error of q_i. That is inherent in float64 at large margins (the margins
    # themselves are only known to eps·|m|). Measured worst: 1.5·eps·(max|m| + n).
    tol_q = 8 * EPS * (n + 2 * max(1.0, float(np.max(np.abs(m)))))
    want_q = [mp_neg_dell(name, x) / S for x in M]
    tiny = np.finfo(float).tiny  # below the smallest normal, float64 has only absolute accuracy
    for qi, wi in zip(q, want_q):
        assert abs(float(qi) - float(wi)) <= tol_q * float(wi) + tiny
    # The weights sum as the formula says: Σ q_i = Σ(−ℓ'_i)/Σ ℓ_j, which is 1 for the exp loss
    # (−ℓ' = ℓ) and at most 1 for the logistic loss (σ(−m) < ln(1 + e^{−m}) for every m, with
    # ratio 1 − O(e^{−m}), so equal to 1 even at 50 digits once every margin is large).
    total = math.fsum(float(x) for x in q)
    want_total = float(MP.fsum(want_q))
    assert abs(total - want_total) <= tol_q * want_total + n * tiny
    if name == "exp":
        assert abs(total - 1.0) <= tol_q
    else:
        assert want_total <= 1.0 and total <= 1.0 + tol_q


def test_logistic_weight_sum_tends_to_one_at_large_margins():
    # σ(−m)/ln(1 + e^{−m}) → 1 as m → ∞: at m ≥ 50 the ratio is 1 − O(e^{−50}), far below eps.
    _, q = risk_and_weights(LOGISTIC, np.array([50.0, 60.0, 1e6]))
    assert abs(math.fsum(q) - 1.0) <= 8 * EPS * 1e6  # the large-margin q tolerance of the test above
    _, q = risk_and_weights(LOGISTIC, np.array([0.0, 0.0]))
    assert math.fsum(q) == pytest.approx(0.5 / math.log(2.0), rel=16 * EPS)  # σ(0)/ln 2


@pytest.mark.parametrize("bad", ["hinge", "", "EXP", "Logistic", "exp ", "square"])
def test_get_loss_rejects_unknown_names(bad):
    with pytest.raises(ProblemError, match="unknown loss") as info:
        get_loss(bad)
    assert "exp" in str(info.value) and "logistic" in str(info.value)  # names the choices


def test_get_loss_known_names():
    assert get_loss("exp") is EXP and get_loss("logistic") is LOGISTIC
    assert set(LOSSES) == {"exp", "logistic", "poly"}  # poly: the polynomial-tail control only


def test_logistic_float64_fast_path_has_the_generic_paths_bits():
    # FLOAT64 takes the log of every entry (log 1 = +0.0); another Float64 instance takes the
    # generic path, which skips the entries equal to 1. Same bits, signed zeros included.
    from aligncheck.numerics.backends import Float64

    rng = np.random.default_rng(1)
    for k in range(300):
        m = rng.standard_normal(int(rng.integers(1, 60))) * 10.0 ** rng.uniform(-20, 3.2)
        m[:: 2 + k % 3] = 0.0 if k % 2 else -0.0
        fast, generic = LOGISTIC.log_ell(m), LOGISTIC.log_ell(m, Float64())
        assert np.array_equal(fast.view(np.int64), generic.view(np.int64))
