"""Gradient flow: the exact invariants and Lemma 2's finite-time bounds (submission Lemma 2).

gf.risk_monotone and gf.balancedness need no assumption; the Lemma 2 bounds need A1.1, A1.2.
"""

from hypothesis import given

from cases import assert_claims, gf_cases
from core.verdicts import Status

CLAIM_IDS = ("gf.risk_monotone", "gf.balancedness", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound")


def test_invariants_and_lemma2_bounds(check_case):
    seen = []

    @given(case=gf_cases())
    def example(case):
        verdicts, replay = check_case(*case, CLAIM_IDS)
        seen.append(verdicts)
        bad = [v for v in verdicts if v.status == Status.VIOLATED]
        assert not bad, "; ".join(f"{v.claim}: {v.reason}" for v in bad) + f"\nreplay: {replay}"

    example()
    assert_claims(seen, CLAIM_IDS)
