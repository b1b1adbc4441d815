"""Gradient descent: the exact one-step balancedness identity (derived, claims.md).

Δ_k(t+1) − Δ_k(t) = η_t² (G_{k+1}^T G_{k+1} − G_k G_k^T) for any step size: checked on every
recorded step to rounding.
"""

from cases import check_examples, run_cases

CLAIM_IDS = ("gd.balancedness_identity",)


def test_gd_balancedness_identity(check_case):
    check_examples(check_case, run_cases(method="gd", min_depth=2), CLAIM_IDS)
