"""Gradient flow, Theorem 2 (submission) and its corollary: the product turns to +ū, v_1 to ±ū,
and the normalised margin tends to γ, for the exp and logistic losses under A1.2 and A2.7.

Examples are drawn in the theorem's setting: d independent support vectors spanning R^d (A2.7,
'almost all data').
"""

from cases import check_examples, run_cases

CLAIM_IDS = ("gf.max_margin_v1", "gf.max_margin_product", "gf.margin_corollary")


def test_gradient_flow_max_margin(check_case):
    check_examples(check_case, run_cases(method="gf", generic=True), CLAIM_IDS)
