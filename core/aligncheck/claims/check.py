"""Judging a run: the claims' predicates applied to a recorded run, after their assumptions.

:func:`check_claims` computes the run's metrics once, decides each claim's assumptions (a claim
whose assumptions fail on the run's set-up is ``not_applicable``, with the failing one named),
and judges the claims that need A1.2 on the run from the first checkpoint where it holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from aligncheck.claims.assumptions import Setup, a12_start
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.numerics.backends import Backend
from aligncheck.numerics.metrics import TrajectoryMetrics, restarted, trajectory_metrics

# Gradient descent has no integration error: its tolerances that scale with the integrator's
# rtol take this, the smallest rtol the flow's checks were calibrated at (tests/test_dynamics.py).
EXACT_RUN_RTOL = 1e-10


@dataclass(frozen=True)
class RunRecord:
    """A run as the predicates see it: the trajectory, its metrics and its set-up."""

    trajectory: object
    metrics: TrajectoryMetrics
    setup: Setup

    @property
    def rtol(self) -> float:
        """The integrator's relative tolerance, which the checks' allowances scale with."""
        rtol = self.trajectory.rtol
        return float(rtol) if rtol is not None else EXACT_RUN_RTOL


@dataclass(frozen=True)
class JudgedRun:
    """A run as its claims were judged: ``run`` (the whole run), ``later`` (the run from where A1.2
    first holds, as a run of its own; None when it holds at the start or never), ``verdicts`` in
    the order asked for."""

    run: RunRecord
    later: RunRecord | None
    verdicts: list[Verdict]
    judged: frozenset[str] = frozenset()  # the claims whose predicate ran (the others: not applicable)

    def record_for(self, cid: str) -> RunRecord:
        """The record the claim ``cid``'s predicate was given: ``later`` if it needs A1.2 and A1.2
        first held after the start, else the whole run."""
        return _record_for(REGISTRY[cid], self.run, self.later)

    def series(self, cid: str) -> list:
        """The LimitSeries / BoundSeries the claim ``cid`` judged on this run (see Claim.series):
        [] for a claim that exposes none, or whose predicate did not run (not asked for, about the
        other method, or an assumption failed)."""
        claim = REGISTRY[cid]
        if claim.series is None or cid not in self.judged:
            return []
        return list(claim.series(self.record_for(cid)))


def check_claims(
    trajectory,
    setup: Setup,
    u_bar: np.ndarray | None = None,
    ids: Iterable[str] | None = None,
    assumptions: dict[str, tuple[bool, str]] | None = None,
    bk: Backend | None = None,
) -> list[Verdict]:
    """Verdicts of the claims ``ids`` (default: all registered for the trajectory's method) on one run.

    ``assumptions``: ``run_assumptions(setup, trajectory)[0]``, if the caller already has it (A1.2
    judged at the first admissible checkpoint). A claim that needs A1.2 is judged on the run from
    that checkpoint on (D and the initial norms taken there; the verdict's ``judged_from`` says
    when, if not at the start). ``bk``: the arithmetic of the metrics (default: the trajectory's
    own backend); each verdict records it. :func:`judge_run` returns the records judged as well.
    """
    return judge_run(trajectory, setup, u_bar, ids, assumptions, bk).verdicts


def judge_run(
    trajectory,
    setup: Setup,
    u_bar: np.ndarray | None = None,
    ids: Iterable[str] | None = None,
    assumptions: dict[str, tuple[bool, str]] | None = None,
    bk: Backend | None = None,
) -> JudgedRun:
    """:func:`check_claims`, keeping the run records the predicates were given (metrics included),
    so that what a claim judged can be shown afterwards (:meth:`JudgedRun.series`)."""
    ids = list(ids) if ids is not None else [c.id for c in REGISTRY.values() if trajectory.method in c.methods]
    start = a12_start(trajectory, setup.loss)
    if assumptions is None:
        assumptions = {**setup.check(), "A1.2": (start.index is not None, start.reason)}
    bk = bk if bk is not None else trajectory.backend
    run = RunRecord(trajectory, trajectory_metrics(trajectory, u_bar, bk), setup)
    later = None
    if start.index:  # A1.2 first holds after t = 0: the run from there, as a run of its own
        rest = dataclasses.replace(trajectory, checkpoints=trajectory.checkpoints[start.index :])
        later = RunRecord(rest, restarted(run.metrics, trajectory, start.index, bk), setup)
    out = []
    verdicts, judged = _judge_all(run, later, ids, assumptions)
    for v in verdicts:
        if later is not None and "A1.2" in REGISTRY[v.claim].needs and v.status != Status.NOT_APPLICABLE:
            v = dataclasses.replace(v, judged_from=float(start.time), reason=f"{v.reason} [judged from {'step' if trajectory.method == 'gd' else 's'} = {start.time:.4g}, where A1.2 first holds]")
        out.append(dataclasses.replace(v, backend=bk.name))
    return JudgedRun(run, later, out, frozenset(judged))


def _record_for(claim, run: RunRecord, later: RunRecord | None) -> RunRecord:
    return later if later is not None and "A1.2" in claim.needs else run


def _judge_all(run: RunRecord, later: RunRecord | None, ids: list[str], assumptions: dict[str, tuple[bool, str]]) -> tuple[list[Verdict], list[str]]:
    """Each claim's verdict: not applicable where the method or an assumption does not fit, else
    its predicate on ``run``, or on ``later`` (the run from where A1.2 first holds) if it needs A1.2;
    and the ids of the claims whose predicate ran."""
    trajectory = run.trajectory
    out, judged = [], []
    for cid in ids:
        claim = REGISTRY[cid]
        if trajectory.method not in claim.methods:
            out.append(Verdict(cid, Status.NOT_APPLICABLE, None, None, f"about {'/'.join(claim.methods)}, run used {trajectory.method}"))
            continue
        failing = [a for a in claim.needs if not assumptions[a][0]]
        if failing:
            a = failing[0]
            out.append(Verdict(cid, Status.NOT_APPLICABLE, None, None, f"{a} fails: {assumptions[a][1]}"))
            continue
        out.append(claim.predicate(_record_for(claim, run, later)))
        judged.append(cid)
    return out, judged
