"""Hypothesis strategies for conjecture examples: a planted problem plus a run specification."""

from __future__ import annotations

from hypothesis import strategies as st

from core.runner import RunSpec
from core.strategies import depths, init_seeds, inits, planted_problems, widths


@st.composite
def gf_cases(draw, *, max_depth: int = 6, sv_span=None):
    """(PlantedProblem, RunSpec) for a gradient-flow run: depth 1..max_depth, any init, both losses."""
    planted = draw(planted_problems(sv_span=sv_span))
    depth = draw(depths(1, max_depth))
    spec = RunSpec(
        depth=depth,
        loss=draw(st.sampled_from(["exp", "logistic"])),
        init=draw(inits()),
        seed=draw(init_seeds()),
        widths=tuple(draw(widths(planted.d, depth))),
        method="gf",
    )
    return planted, spec


@st.composite
def gd_cases(draw, *, max_depth: int = 6):
    """(PlantedProblem, RunSpec) for a short constant-step gradient-descent run (depth ≥ 2)."""
    planted = draw(planted_problems())
    depth = draw(depths(2, max_depth))
    spec = RunSpec(
        depth=depth,
        loss=draw(st.sampled_from(["exp", "logistic"])),
        init=draw(inits()),
        seed=draw(init_seeds()),
        widths=tuple(draw(widths(planted.d, depth))),
        method="gd",
        gd_step=draw(st.sampled_from([0.01, 0.1, 0.5])),
        gd_steps=200,
    )
    return planted, spec


def assert_claims(all_verdicts: list, claim_ids: tuple[str, ...]) -> None:
    """After the examples: every claim was shown holding at least once (not only inconclusive)."""
    from core.verdicts import Status

    for cid in claim_ids:
        statuses = [v.status for vs in all_verdicts for v in vs if v.claim == cid]
        assert Status.HOLDS in statuses, f"{cid}: no example showed it holding ({len(statuses)} examples: {sorted(s.value for s in set(statuses))})"
