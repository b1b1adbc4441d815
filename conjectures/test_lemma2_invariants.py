"""Gradient flow: the exact invariants and Lemma 2's finite-time bounds (submission Lemma 2).

gf.risk_monotone and gf.balancedness need no assumption; the Lemma 2 bounds need A1.1, A1.2.
"""

import pytest

from aligncheck.claims.registry import ids
from aligncheck.testing.strategies import run_cases

CLAIMS = ids(group="lemma2")


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gf"), CLAIMS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
