"""The data lemmas behind the max-margin theorem: α > 0 under Assumption 2.7 for almost all data,
and the sign lemma above its threshold (searched for counterexamples; see core/data_lemmas.py). d ≥ 2: for d = 1, ū^⊥ = {0} and both
lemmas are vacuous. The network is depth 1 (the lemmas are about the data, the run is not used).
"""

from cases import check_examples, run_cases

CLAIM_IDS = ("data.alpha_positive", "data.sign_lemma")


def test_data_lemmas(check_case):
    check_examples(check_case, run_cases(method="gf", max_depth=1, generic=True, min_d=2), CLAIM_IDS)
