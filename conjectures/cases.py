"""Hypothesis strategies for conjecture examples (a planted problem plus a run specification),
and the loop that checks a theorem group's claims over them."""

from __future__ import annotations

import zlib

from hypothesis import example as pinned
from hypothesis import given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.runner import RunSpec
from core.strategies import depths, generic_planted_problems, init_seeds, inits, planted_problems, widths
from core.verdicts import Status


@st.composite
def run_cases(
    draw,
    *,
    method: str = "gf",
    min_depth: int = 1,
    max_depth: int = 6,
    sv_span=None,
    generic: bool = False,
    min_d: int = 1,
    paper_step: bool = False,
    gd_steps: int | None = None,
    loss: str | None = None,
    gd_step: float | None = None,
    init_scale: float = 1.0,
    max_others: int = 8,
):
    """(PlantedProblem, RunSpec): depth min_depth..max_depth, any init, both losses (or ``loss``).

    ``generic``: problems in the max-margin theorems' 'almost all data' position (d independent
    support vectors spanning R^d). For GD: with ``paper_step`` the paper's step rule and the
    logistic loss (default 2000 steps); with ``gd_step`` that constant step; otherwise a short
    constant-step run (200 steps, η ∈ {0.01, 0.1, 0.5}). ``gd_steps`` overrides the step count.
    ``init_scale``: the initialisation scale (small starts keep Lemma 2's D small).
    ``max_others``: at most this many non-support points in generic problems.
    """
    d = st.integers(min_value=min_d, max_value=6)
    planted = draw(generic_planted_problems(d=d, max_others=max_others) if generic else planted_problems(d=d, sv_span=sv_span))
    depth = draw(depths(min_depth, max_depth))
    if paper_step:  # the paper's step rule (A3.5): logistic loss only
        extra = {"gd_step": None, "gd_steps": gd_steps or 2000}
        loss = "logistic"
    elif method == "gd":
        step = gd_step if gd_step is not None else draw(st.sampled_from([0.01, 0.1, 0.5]))
        extra = {"gd_step": step, "gd_steps": gd_steps or 200}
    else:
        extra = {}
    spec = RunSpec(
        depth=depth,
        loss=loss or draw(st.sampled_from(["exp", "logistic"])),
        init=draw(inits()),
        seed=draw(init_seeds()),
        init_scale=init_scale,
        widths=tuple(draw(widths(planted.d, depth))),
        method=method,
        **extra,
    )
    return planted, spec


def check_examples(check_case, cases: st.SearchStrategy, claim_ids: tuple[str, ...], pins: tuple = (), settings=None) -> None:
    """Run every example: fail on any violated claim; afterwards, fail any claim never shown holding.

    A claim that was only ever inconclusive or not applicable has shown nothing, so the test
    must not pass on it. ``pins``: (PlantedProblem, RunSpec) pairs, or (Problem, RunSpec, {"seed":
    ..., "label": ...}) for given data, always run first (minimised failures found earlier, kept
    as regression examples). ``settings``: hypothesis settings for this property (default: the
    active profile).
    """
    seen = []

    def example(case):
        problem, spec, *named = case
        verdicts, replay = check_case(problem, spec, claim_ids, **(named[0] if named else {}))
        seen.append(verdicts)
        bad = [v for v in verdicts if v.status == Status.VIOLATED]
        assert not bad, "; ".join(f"{v.claim}: {v.reason}" for v in bad) + f"\nreplay: {replay}"

    for case in pins:
        example = pinned(case=case)(example)
    example = given(case=cases)(example)
    if settings is not None:  # a smaller budget for expensive claims
        example = settings(example)
    example = group_seed(claim_ids)(example)
    example()
    for cid in claim_ids:
        statuses = [v.status for vs in seen for v in vs if v.claim == cid]
        assert Status.HOLDS in statuses, f"{cid}: no example showed it holding ({len(statuses)} examples: {sorted(s.value for s in set(statuses))})"


def group_seed(claim_ids: tuple[str, ...]):
    """Under a derandomized profile, a seed fixed by the group's claim ids (so that the ci examples
    do not depend on the source of the function that runs them); otherwise nothing."""
    if not hsettings.default.derandomize:
        return lambda test: test
    return seed(zlib.crc32(",".join(claim_ids).encode()))
