"""Gradient flow, Theorem 1 (submission) / §2 (camera-ready): risk → 0, norms → ∞, rank one, alignment.

Assumptions A1.1 and A1.2 (claims.md); examples where A1.2 never holds are recorded as not applicable.
"""

import pytest

from aligncheck.claims.registry import ids
from aligncheck.testing.strategies import run_cases

CLAIMS = ids(group="theorem1")


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gf"), CLAIMS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
