"""The data lemmas behind the max-margin theorem: α > 0 under Assumption 2.7 for almost all data,
and the sign lemma above its threshold (searched for counterexamples; see aligncheck.data.alpha and
aligncheck.data.sign_lemma). d ≥ 2: for d = 1, ū^⊥ = {0} and both lemmas are vacuous. The network
is depth 1 (the lemmas are about the data, the run is not used).
"""

import pytest

from aligncheck.claims.registry import ids
from aligncheck.testing.strategies import run_cases

CLAIMS = ids(group="data_lemmas")


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gf", max_depth=1, generic=True, min_d=2), CLAIMS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
