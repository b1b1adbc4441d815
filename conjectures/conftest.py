"""Conjecture harness: hypothesis profiles, the session-wide recorder and the end-of-session report.

Every example's verdicts go to one :class:`aligncheck.harness.report.Recorder`; at the end of the session the
per-claim table is printed and written to reports/conjectures.json. A violated verdict saves its
data under reports/cases/ so that the printed replay command reruns it exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from rich.console import Console

from aligncheck.harness.profiles import register
from aligncheck.data.problem import Problem
from aligncheck.harness.report import Recorder
from aligncheck.dynamics.spec import RunSpec
from aligncheck.harness.runner import replay_command, run_checked, save_case
from aligncheck.data.planted import PlantedProblem, planted_case
from aligncheck.claims.verdicts import Status, Verdict

register()

REPORTS = Path(__file__).resolve().parent.parent / "reports"
RECORDER = Recorder()


@pytest.fixture(scope="session")
def check_case():
    """Run one example, record its verdicts, and return (verdicts, replay command or "").

    ``case`` is a PlantedProblem (its seed and the label "planted" name it) or a ready Problem,
    which needs ``seed`` (the seed it was built from) and ``label`` (what it is, e.g. an edge
    case's kind and parameters). A violated verdict saves the data as reports/cases/LABEL-SEED.npz
    and returns the command that replays the run. ``edge_cases``: the edge-case kinds the example
    reaches, counted per kind in the report. The caller asserts.
    """

    def run(
        case: PlantedProblem | Problem,
        spec: RunSpec,
        claim_ids: tuple[str, ...],
        *,
        seed: int | None = None,
        label: str | None = None,
        edge_cases: Iterable[str] = (),
    ) -> tuple[list[Verdict], str]:
        if isinstance(case, PlantedProblem):
            if seed is not None and seed != case.seed:
                raise ValueError(f"seed {seed} given for planted problem {case.seed}")
            problem, seed, label = planted_case(case), case.seed, label or "planted"
        elif seed is None or label is None:
            raise ValueError("a ready Problem needs the seed it was built from and a label")
        else:
            problem = case
        outcome = run_checked(problem, spec, claim_ids)
        verdicts = outcome.verdicts
        replay = ""
        if any(v.status == Status.VIOLATED for v in verdicts):
            path = save_case(problem, REPORTS / "cases", f"{label}-{seed}")
            replay = replay_command(path, spec)
        RECORDER.record(
            verdicts, seed=seed, init_seed=spec.seed, replay=replay, assumptions=outcome.assumptions, case=label, edge_cases=edge_cases
        )
        return verdicts, replay

    return run


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    """The session's recorder (controls record into it directly)."""
    return RECORDER


def pytest_terminal_summary(terminalreporter):
    if not RECORDER.tallies and not RECORDER.controls:
        return
    RECORDER.write(REPORTS / "conjectures.json")
    console = Console(file=terminalreporter._tw._file, force_terminal=terminalreporter.hasmarkup, width=160)
    RECORDER.render(console)
    console.print(f"report written to {REPORTS / 'conjectures.json'}")
