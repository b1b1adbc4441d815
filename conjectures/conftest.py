"""Conjecture harness: hypothesis profiles, the session-wide recorder and the end-of-session report.

Every example's verdicts go to one :class:`core.report.Recorder`; at the end of the session the
per-claim table is printed and written to reports/conjectures.json. A violated verdict saves its
data under reports/cases/ so that the printed replay command reruns it exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from core.profiles import register
from core.report import Recorder
from core.runner import RunSpec, replay_command, run_checked, save_case
from core.strategies import PlantedProblem, planted_case
from core.verdicts import Status

register()

REPORTS = Path(__file__).resolve().parent.parent / "reports"
RECORDER = Recorder()


@pytest.fixture(scope="session")
def check_case():
    """Run one example, record its verdicts, and return them (the caller asserts)."""

    def run(planted: PlantedProblem, spec: RunSpec, claim_ids: tuple[str, ...]):
        problem = planted_case(planted)
        outcome = run_checked(problem, spec, claim_ids)
        verdicts = outcome.verdicts
        replay = ""
        if any(v.status == Status.VIOLATED for v in verdicts):
            path = save_case(problem, REPORTS / "cases", f"planted-{planted.seed}")
            replay = replay_command(path, spec)
        RECORDER.record(verdicts, seed=planted.seed, init_seed=spec.seed, replay=replay, assumptions=outcome.assumptions)
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
