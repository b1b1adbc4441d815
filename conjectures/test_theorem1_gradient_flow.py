"""Gradient flow, Theorem 1 (submission) / §2 (camera-ready): risk → 0, norms → ∞, rank one,
alignment; with the exact invariants and Lemma 2's finite-time bounds (submission Lemma 2), the
lemma the theorem is proved from, and the conjecture conj.smoothed_margin_monotone (Lyu & Li 2020).

All three are judged on the same runs: the same examples (gradient flow on planted separable
problems, every depth, init and loss), which would otherwise be drawn and integrated three times
(two thirds of these runs' cost). Assumptions A1.1 and A1.2 (claims.md); examples where A1.2
never holds are recorded as not applicable for the claims that need it. gf.risk_monotone and
gf.balancedness need no assumption. The conjecture is evidence: its item fails only if no example
could judge it (see test_conjectures.py).
"""

import pytest

from aligncheck.claims.registry import ids
from aligncheck.testing.strategies import run_cases

THEOREM_1 = ids(group="theorem1")
LEMMA_2 = ids(group="lemma2")
SMOOTHED = "conj.smoothed_margin_monotone"


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gf"), THEOREM_1 + LEMMA_2 + (SMOOTHED,))


@pytest.mark.parametrize("claim", THEOREM_1 + LEMMA_2)
def test_claim(group, claim):
    group.assert_claim(claim)


@pytest.mark.parametrize("claim", [SMOOTHED])
def test_smoothed_margin_monotone(group, claim):
    group.assert_evidence(claim)
