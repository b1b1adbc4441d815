"""Conjectures beyond the paper's hypotheses (claims.md): evidence, not theorems.

A conjecture's examples are recorded with their verdicts (a counterexample is reported with its
replay command) but never fail the suite; its item fails only if no example could judge the
conjecture at all (everything inconclusive or not applicable), since then it has no evidence.
"""

import pytest
from hypothesis import settings

from aligncheck.harness.profiles import examples
from aligncheck.testing.strategies import run_cases

DEGENERATE, GD_EXP = "conj.max_margin_degenerate_sv", "conj.gd_exp_max_margin"
# conj.smoothed_margin_monotone is judged on the runs of test_theorem1_gradient_flow.py (the same
# strategy: one set of runs instead of two).


@pytest.fixture(scope="module")
def degenerate(request, check_group):
    # Support vectors spanning a proper subspace (= span of the data, or smaller).
    return check_group(request, run_cases(method="gf", sv_span="data", min_d=2), (DEGENERATE,))


@pytest.fixture(scope="module")
def gd_exp(request, check_group):
    # Outside A3.x (ℓ' unbounded): GD with a constant step 0.1 from a small start, 20,000 steps
    # (about 1-2 s each: the "long" budget); support vectors only, as in test_gd_limits.py (GD
    # does not reach the support-vector phase past non-support points).
    cases = run_cases(method="gd", generic=True, max_depth=3, loss="exp", gd_step=0.1, gd_steps=20_000, init_scale=0.1, max_others=0)
    return check_group(request, cases, (GD_EXP,), budget=settings(max_examples=examples("long")))


@pytest.mark.parametrize("claim", [DEGENERATE])
def test_degenerate_support_vectors(degenerate, claim):
    degenerate.assert_evidence(claim)


@pytest.mark.parametrize("claim", [GD_EXP])
def test_gd_exp_max_margin(gd_exp, claim):
    gd_exp.assert_evidence(claim)
