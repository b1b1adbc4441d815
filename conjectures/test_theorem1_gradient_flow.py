"""Gradient flow, Theorem 1 (submission) / §2 (camera-ready): risk → 0, norms → ∞, rank one, alignment.

Assumptions A1.1 and A1.2 (claims.md); examples where A1.2 fails are recorded as not applicable.
"""

from hypothesis import given

from cases import assert_claims, gf_cases
from core.verdicts import Status

CLAIM_IDS = ("gf.risk_to_zero", "gf.norms_diverge", "gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment")


def test_gradient_flow_limits(check_case):
    seen = []

    @given(case=gf_cases())
    def example(case):
        verdicts, replay = check_case(*case, CLAIM_IDS)
        seen.append(verdicts)
        bad = [v for v in verdicts if v.status == Status.VIOLATED]
        assert not bad, "; ".join(f"{v.claim}: {v.reason}" for v in bad) + f"\nreplay: {replay}"

    example()
    assert_claims(seen, CLAIM_IDS)
