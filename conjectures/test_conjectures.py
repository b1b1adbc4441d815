"""Conjectures beyond the paper's hypotheses (claims.md): evidence, not theorems.

A conjecture's examples are recorded with their verdicts (a counterexample is reported with its
replay command) but never fail the suite; the test fails only if no example could judge the
conjecture at all (everything inconclusive or not applicable), since then it has no evidence.
"""

from hypothesis import given

from cases import run_cases
from core.verdicts import Status


def _collect(check_case, cases, cid):
    seen = []

    @given(case=cases)
    def example(case):
        verdicts, _ = check_case(*case, (cid,))
        seen.extend(v.status for v in verdicts)

    example()
    assert {Status.HOLDS, Status.VIOLATED} & set(seen), f"{cid}: no example could judge it ({sorted(s.value for s in set(seen))})"


def test_max_margin_with_degenerate_support_vectors(check_case):
    # Support vectors spanning a proper subspace (= span of the data, or smaller).
    _collect(check_case, run_cases(method="gf", sv_span="data", min_d=2), "conj.max_margin_degenerate_sv")


def test_smoothed_margin_monotone(check_case):
    _collect(check_case, run_cases(method="gf"), "conj.smoothed_margin_monotone")
