"""Gradient flow: the exact invariants and Lemma 2's finite-time bounds (submission Lemma 2).

gf.risk_monotone and gf.balancedness need no assumption; the Lemma 2 bounds need A1.1, A1.2.
"""

from cases import check_examples, run_cases

CLAIM_IDS = ("gf.risk_monotone", "gf.balancedness", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound")


def test_invariants_and_lemma2_bounds(check_case):
    check_examples(check_case, run_cases(method="gf"), CLAIM_IDS)
