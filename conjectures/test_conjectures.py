"""Conjectures beyond the paper's hypotheses (claims.md): evidence, not theorems.

A conjecture's examples are recorded with their verdicts (a counterexample is reported with its
replay command) but never fail the suite; the test fails only if no example could judge the
conjecture at all (everything inconclusive or not applicable), since then it has no evidence.
"""

from hypothesis import given, settings

from cases import group_seed, run_cases
from core.profiles import examples
from core.verdicts import Status


def _collect(check_case, cases, cid, budget=None):
    seen = []

    @given(case=cases)
    def example(case):
        verdicts, _ = check_case(*case, (cid,))
        seen.extend(v.status for v in verdicts)

    group_seed((cid,))(budget(example) if budget is not None else example)()
    assert {Status.HOLDS, Status.VIOLATED} & set(seen), f"{cid}: no example could judge it ({sorted(s.value for s in set(seen))})"


def test_max_margin_with_degenerate_support_vectors(check_case):
    # Support vectors spanning a proper subspace (= span of the data, or smaller).
    _collect(check_case, run_cases(method="gf", sv_span="data", min_d=2), "conj.max_margin_degenerate_sv")


def test_smoothed_margin_monotone(check_case):
    _collect(check_case, run_cases(method="gf"), "conj.smoothed_margin_monotone")


def test_gd_exp_max_margin(check_case):
    # Outside A3.x (ℓ' unbounded): GD with a constant step 0.1 from a small start, 20,000 steps
    # (about 1-2 s each: the "long" budget); support vectors only, as in
    # test_gd_limits.py (GD does not reach the support-vector phase past non-support points).
    cases = run_cases(method="gd", generic=True, max_depth=3, loss="exp", gd_step=0.1, gd_steps=20_000, init_scale=0.1, max_others=0)
    _collect(check_case, cases, "conj.gd_exp_max_margin", settings(max_examples=examples("long")))
