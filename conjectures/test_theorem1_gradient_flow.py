"""Gradient flow, Theorem 1 (submission) / §2 (camera-ready): risk → 0, norms → ∞, rank one, alignment.

Assumptions A1.1 and A1.2 (claims.md); examples where A1.2 fails are recorded as not applicable.
"""

from cases import check_examples, run_cases

CLAIM_IDS = ("gf.risk_to_zero", "gf.norms_diverge", "gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment")


def test_gradient_flow_limits(check_case):
    check_examples(check_case, run_cases(method="gf"), CLAIM_IDS)
