"""Gradient descent with the paper's step rule (Assumption 3.5, logistic loss): the finite-time
bounds of §3 (descent, the error budget), Lemma 5 (smoothness on B(R)) and Lemma 6 (a constant
step 1/β(R) leaves B(R)).

The limit claims of Theorems 3 and 4 are checked in test_gd_limits.py, on longer runs.
"""

import pytest
from hypothesis import settings

from aligncheck.claims.registry import ids
from aligncheck.harness.profiles import examples
from aligncheck.testing.strategies import run_cases

DESCENT = ids(group="gd_descent")
LEMMAS_5_6 = ids(group="gd_lemmas56")

# The smoothness hunt and the ball-leaving run cost seconds per example (the "search" budget).
FEWER = settings(max_examples=examples("search"))


@pytest.fixture(scope="module")
def descent(request, check_group):
    return check_group(request, run_cases(method="gd", min_depth=1, max_depth=4, paper_step=True), DESCENT)


@pytest.fixture(scope="module")
def lemmas_5_6(request, check_group):
    return check_group(request, run_cases(method="gd", min_depth=1, max_depth=3, paper_step=True), LEMMAS_5_6, budget=FEWER)


@pytest.mark.parametrize("claim", DESCENT)
def test_descent_claim(descent, claim):
    descent.assert_claim(claim)


@pytest.mark.parametrize("claim", LEMMAS_5_6)
def test_smoothness_and_ball_claim(lemmas_5_6, claim):
    lemmas_5_6.assert_claim(claim)
