"""Gradient descent with the paper's step rule (Assumption 3.5, logistic loss): the finite-time
bounds of §3 (descent, the error budget), Lemma 5 (smoothness on B(R)) and Lemma 6 (a constant
step 1/β(R) leaves B(R)).

The limit claims of Theorems 3 and 4 (gd.risk_to_zero ... gd.margin_corollary) are not checked
here: with the paper's step (β(R) grows like R^{2L−2}) a CI-sized run stays in the early phase and
every one of them is inconclusive; `aligncheck check --method gd` reports them with how far the
run got.
"""

from hypothesis import settings

from cases import check_examples, run_cases
from aligncheck.harness.profiles import examples

# The smoothness hunt and the ball-leaving run cost seconds per example (the "search" budget).
FEWER = settings(max_examples=examples("search"))


def test_descent_and_error_budget(check_case):
    check_examples(check_case, run_cases(method="gd", min_depth=1, max_depth=4, paper_step=True), ("gd.descent", "gd.error_budget"))


def test_smoothness_and_leaving_the_ball(check_case):
    check_examples(check_case, run_cases(method="gd", min_depth=1, max_depth=3, paper_step=True), ("gd.smoothness", "gd.leaves_ball"), settings=FEWER)
