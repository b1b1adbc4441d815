"""Hypothesis strategies for conjecture examples (a planted problem plus a run specification),
and the loop that checks a theorem group's claims over them."""

from __future__ import annotations

from hypothesis import example as pinned
from hypothesis import given
from hypothesis import strategies as st

from core.runner import RunSpec
from core.strategies import depths, generic_planted_problems, init_seeds, inits, planted_problems, widths
from core.verdicts import Status


@st.composite
def run_cases(draw, *, method: str = "gf", min_depth: int = 1, max_depth: int = 6, sv_span=None, generic: bool = False, min_d: int = 1, paper_step: bool = False):
    """(PlantedProblem, RunSpec): depth min_depth..max_depth, any init, both losses.

    ``generic``: problems in the max-margin theorems' 'almost all data' position (d independent
    support vectors spanning R^d). For GD, a short constant-step run (200 steps, η ∈ {0.01, 0.1, 0.5}),
    or with ``paper_step`` 2000 steps of the paper's step rule with the logistic loss.
    """
    d = st.integers(min_value=min_d, max_value=6)
    planted = draw(generic_planted_problems(d=d) if generic else planted_problems(d=d, sv_span=sv_span))
    depth = draw(depths(min_depth, max_depth))
    if paper_step:  # the paper's step rule (A3.5): logistic loss only, 2000 steps
        extra = {"gd_step": None, "gd_steps": 2000}
    elif method == "gd":
        extra = {"gd_step": draw(st.sampled_from([0.01, 0.1, 0.5])), "gd_steps": 200}
    else:
        extra = {}
    spec = RunSpec(
        depth=depth,
        loss="logistic" if paper_step else draw(st.sampled_from(["exp", "logistic"])),
        init=draw(inits()),
        seed=draw(init_seeds()),
        widths=tuple(draw(widths(planted.d, depth))),
        method=method,
        **extra,
    )
    return planted, spec


def check_examples(check_case, cases: st.SearchStrategy, claim_ids: tuple[str, ...], pins: tuple = (), settings=None) -> None:
    """Run every example: fail on any violated claim; afterwards, fail any claim never shown holding.

    A claim that was only ever inconclusive or not applicable has shown nothing, so the test
    must not pass on it. ``pins``: (PlantedProblem, RunSpec) pairs always run first (minimised
    failures found earlier, kept as regression examples). ``settings``: hypothesis settings
    for this property (default: the active profile).
    """
    seen = []

    def example(case):
        verdicts, replay = check_case(*case, claim_ids)
        seen.append(verdicts)
        bad = [v for v in verdicts if v.status == Status.VIOLATED]
        assert not bad, "; ".join(f"{v.claim}: {v.reason}" for v in bad) + f"\nreplay: {replay}"

    for case in pins:
        example = pinned(case=case)(example)
    example = given(case=cases)(example)
    if settings is not None:  # a smaller budget for expensive claims
        example = settings(example)
    example()
    for cid in claim_ids:
        statuses = [v.status for vs in seen for v in vs if v.claim == cid]
        assert Status.HOLDS in statuses, f"{cid}: no example showed it holding ({len(statuses)} examples: {sorted(s.value for s in set(statuses))})"
