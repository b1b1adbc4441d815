"""Gradient descent: the exact one-step balancedness identity (derived, claims.md).

Δ_k(t+1) − Δ_k(t) = η_t² (G_{k+1}^T G_{k+1} − G_k G_k^T) for any step size: checked on every
recorded step to rounding.
"""

from hypothesis import given

from cases import assert_claims, gd_cases
from core.verdicts import Status

CLAIM_IDS = ("gd.balancedness_identity",)


def test_gd_balancedness_identity(check_case):
    seen = []

    @given(case=gd_cases())
    def example(case):
        verdicts, replay = check_case(*case, CLAIM_IDS)
        seen.append(verdicts)
        bad = [v for v in verdicts if v.status == Status.VIOLATED]
        assert not bad, "; ".join(f"{v.claim}: {v.reason}" for v in bad) + f"\nreplay: {replay}"

    example()
    assert_claims(seen, CLAIM_IDS)
