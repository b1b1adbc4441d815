"""aligncheck's pytest plugin (entry point ``pytest11: aligncheck``): the fixtures that check cases and
record controls, the ``--aligncheck-report DIR`` option, and the session report, parallel-safe.

- The session's :class:`aligncheck.harness.report.Recorder` lives on the pytest config (its stash).
  Under pytest-xdist every worker sends its records to the controller when it finishes
  (``config.workeroutput``, as pytest-cov sends its coverage data), the controller merges them
  (``pytest_testnodedown``) and writes the one report and prints the one table.
- A group of claims (a theorem, a lemma) is checked by one module: a module-scoped fixture runs
  the group's examples once (:func:`check_group`), and every claim is its own test item
  (``test_claim[gf.rank_one]``), so ``-k``, ``--lf`` and ``--junitxml`` see claims. The examples
  judge only the claims selected in the module. Under xdist the default ``--dist load`` is
  scheduled by module (``LoadScopeScheduling``), so a group's items, and its runs, stay on one worker;
  the conjecture modules, the costliest units, are handed out first (:func:`_groups_first_scheduler`).
- Beside the JSON, the same report as a self-contained web page and a Markdown summary
  (aligncheck.harness.html_report: conjectures.html, conjectures.md; conjectures-partial.* for a
  partial report), rendered from the JSON alone: each claim's worst and typical convergence
  plots travel in it as panel data (aligncheck.harness.report_plots), kept while judging.
- A session that deselected any of the harness's items writes a partial report (its own file,
  marked "partial", with the selection), never replacing the full one.
- ``aligncheck_hypothesis_profile`` (an ini option; this project's pyproject sets "ci") is the
  hypothesis profile loaded by default; ``--hypothesis-profile`` and HYPOTHESIS_PROFILE override it.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import time
import traceback
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import example as pinned
from hypothesis import given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rich.console import Console

from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.planted import PlantedProblem, planted_case
from aligncheck.data.problem import Problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.harness import profiles
from aligncheck.harness.html_report import page_paths, write_pages
from aligncheck.harness.render import render_report
from aligncheck.harness.report import Recorder
from aligncheck.harness.runner import replay_command, run_checked, save_case

RECORDER = pytest.StashKey[Recorder]()
PARTIAL = pytest.StashKey[list]()
STARTED = pytest.StashKey[float]()
REPORT = "conjectures.json"
PARTIAL_REPORT = "conjectures-partial.json"
# Fixtures whose items feed the report: deselecting one of them makes the report partial.
HARNESS_FIXTURES = ("check_case", "check_group", "record_control")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aligncheck", "aligncheck: theorem checks and their report")
    group.addoption("--aligncheck-report", metavar="DIR", default=None,
                    help="directory of the session report (default: reports/ under the rootdir)")
    parser.addini("aligncheck_hypothesis_profile", "hypothesis profile loaded by default (before --hypothesis-profile)", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: before hypothesis's own configure, which applies --hypothesis-profile after this.
    profiles.register(config.getini("aligncheck_hypothesis_profile") or None)
    config.stash[RECORDER] = Recorder()
    config.stash[PARTIAL] = []
    config.stash[STARTED] = time.perf_counter()
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Xdist(), "aligncheck-xdist")


def report_dir(config: pytest.Config) -> Path:
    """Where the report goes: --aligncheck-report, else reports/ under the rootdir."""
    given_dir = config.getoption("--aligncheck-report")
    return Path(given_dir) if given_dir else Path(config.rootpath) / "reports"


def _groups_first_scheduler(config: pytest.Config, log):
    """xdist's LoadScopeScheduling (one module per work unit), with the conjecture modules first.

    LoadScopeScheduling hands out modules in order of their number of items, largest first. A
    conjecture module has a few items (one per claim) but runs its group's examples: the costliest
    units of the suite (1-2 min each in the ci profile, against seconds for most modules of tests/).
    Handed out last, they left one worker idle for a minute or more at the end; first, the many
    small modules fill the gaps (the longest-first rule of list scheduling). Then by item count."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupsFirst(LoadScopeScheduling):
        ordered = False

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:  # the work queue is complete at the first assignment: reorder it once
                scopes = list(self.workqueue)
                for scope in sorted(scopes, key=lambda sc: (not sc.startswith("conjectures/"), scopes.index(sc))):
                    self.workqueue.move_to_end(scope)
                self.ordered = True
            super()._assign_work_unit(node)

    return GroupsFirst(config, log)


class _Xdist:
    """The hooks that exist only with pytest-xdist."""

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") == "load":  # keep a group's items (and its runs) on one worker
            return _groups_first_scheduler(config, log)
        return None

    @pytest.hookimpl
    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", {})
        if "aligncheck" in output:
            node.config.stash[RECORDER].merge(output["aligncheck"])
            node.config.stash[PARTIAL].extend(output.get("aligncheck_partial", []))


def pytest_deselected(items) -> None:
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in HARNESS_FIXTURES):
            item.config.stash[PARTIAL].append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: send the records to the controller
        config.workeroutput["aligncheck"] = config.stash[RECORDER].records()
        config.workeroutput["aligncheck_partial"] = config.stash[PARTIAL]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    recorder = config.stash[RECORDER]
    if not recorder:
        if config.stash[PARTIAL]:  # every harness item deselected: say so, rather than nothing
            terminalreporter.write_line(f"aligncheck: the selection ran no claim, so no report was written "
                                        f"({len(set(config.stash[PARTIAL]))} harness item(s) deselected; `aligncheck claims` lists the ids)")
        return
    doc = {"metadata": session_metadata(config), **recorder.as_json()}
    deselected = sorted(set(config.stash[PARTIAL]))
    name = REPORT
    if deselected:
        doc = {"partial": True, "deselected": deselected, "selection": " ".join(config.invocation_params.args), **doc}
        name = PARTIAL_REPORT
    path = report_dir(config) / name
    recorder.write(path, doc)
    console = Console(file=terminalreporter._tw._file, force_terminal=terminalreporter.hasmarkup, width=160)
    render_report(doc, console)
    console.print(f"report written to {path}" + (f" (partial: {len(deselected)} item(s) deselected; {REPORT} left as it was)" if deselected else ""))
    started = time.perf_counter()
    try:  # the page and the summary beside the JSON (aligncheck report JSON re-renders them)
        html, md = write_pages(doc, *page_paths(path))
    except Exception as exc:  # the JSON is written: a page that fails must not hide it
        console.print(f"[red]aligncheck: the HTML/Markdown report could not be written[/]: {type(exc).__name__}: {exc}")
    else:
        console.print(f"report pages written to {html} and {md} ({time.perf_counter() - started:.1f} s)")


# The status words of each section of the report, as the JSON documents them.
STATUS_VOCABULARY = {
    "claims": {"pass": "nothing violated the claim and at least one example showed it holding", "fail": "a violation, or no example judged it"},
    "conjectures": {"supported": "held where judged, no counterexample", "counterexample found": "an example violated it",
                    "open": "no example judged it"},
    "controls": {"flagged": "the harness reported the negative control as it must", "missed": "it did not"},
    "verdicts": {st.value: doc for st, doc in (
        (Status.HOLDS, "judged, and the claim holds on the run"), (Status.VIOLATED, "judged, and the run contradicts the claim"),
        (Status.INCONCLUSIVE, "the run did not reach the phase where the claim can be judged"),
        (Status.NOT_APPLICABLE, "an assumption fails, or the claim is true by construction"))},
}


def session_metadata(config: pytest.Config) -> dict:
    """What a report needs to be read and replayed later: versions, the git commit, the hypothesis
    profile and seed, the date, the wall time, the pytest selection, and the status words."""
    from hypothesis import settings as current

    from aligncheck import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.rootpath, capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import numpy

    return {
        "aligncheck_version": __version__,
        "git_commit": commit,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "hypothesis_profile": current.get_current_profile_name(),
        "hypothesis_seed": config.getoption("hypothesis_seed", None),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.perf_counter() - config.stash[STARTED], 1),
        "pytest_args": list(config.invocation_params.args),
        "workers": config.getoption("numprocesses", None) or 0,
        "status_vocabulary": STATUS_VOCABULARY,
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def check_case(pytestconfig: pytest.Config):
    """Run one example, record its verdicts, and return (verdicts, replay command or "").

    ``case`` is a PlantedProblem (its seed and the label "planted" name it) or a ready Problem,
    which needs ``seed`` (the seed it was built from) and ``label`` (what it is, e.g. an edge
    case's kind and parameters). A violated verdict saves the data as REPORT_DIR/cases/LABEL-SEED.npz
    and returns the command that replays the run. ``edge_cases``: the edge-case kinds the example
    reaches, counted per kind in the report. ``record``: False runs without recording. The caller asserts.
    """
    recorder, cases_dir = pytestconfig.stash[RECORDER], report_dir(pytestconfig) / "cases"

    def run(case: PlantedProblem | Problem, spec: RunSpec, claim_ids: Iterable[str], *, seed: int | None = None,
            label: str | None = None, edge_cases: Iterable[str] = (), record: bool = True) -> tuple[list[Verdict], str]:
        if isinstance(case, PlantedProblem):
            if seed is not None and seed != case.seed:
                raise ValueError(f"seed {seed} given for planted problem {case.seed}")
            problem, seed, label = planted_case(case), case.seed, label or "planted"
        elif seed is None or label is None:
            raise ValueError("a ready Problem needs the seed it was built from and a label")
        else:
            problem = case
        outcome = run_checked(problem, spec, tuple(claim_ids))
        replay = ""
        if any(v.status == Status.VIOLATED for v in outcome.verdicts):
            replay = replay_command(save_case(problem, cases_dir, f"{label}-{seed}"), spec)
        if record:
            recorder.record(outcome.verdicts, seed=seed, init_seed=spec.seed, replay=replay, assumptions=outcome.assumptions,
                            case=label, edge_cases=edge_cases, depth=spec.depth, outcome=outcome, key=f"{label}-{seed}|{spec!r}")
        return outcome.verdicts, replay

    return run


@pytest.fixture(scope="session")
def record_control(pytestconfig: pytest.Config):
    """``record_control(cid, expected=..., observed=..., flagged=...)``: a negative control's outcome."""
    return pytestconfig.stash[RECORDER].record_control


@dataclass
class GroupResult:
    """What a group's examples showed: every verdict per claim, and the first violation of a theorem
    claim (hypothesis's minimal failing example when the profile stops at it)."""

    claims: tuple[str, ...]
    statuses: dict[str, list[Status]] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)
    failure: str = ""

    def assert_claim(self, cid: str) -> None:
        """Fail unless no example violated ``cid`` and at least one showed it holding."""
        assert cid in self.claims, f"{cid} is not one of this group's claims {self.claims}"
        bad = self.violations.get(cid, [])
        assert not bad, f"{cid}: {len(bad)} violation(s):\n" + "\n".join(bad) + (f"\n{self.failure}" if self.failure else "")
        statuses = self.statuses.get(cid, [])
        assert Status.HOLDS in statuses, f"{cid}: no example showed it holding ({len(statuses)} examples: {sorted(s.value for s in set(statuses))})"

    def assert_evidence(self, cid: str) -> None:
        """A conjecture's check: fail only if no example could judge it (neither holds nor violated)."""
        statuses = set(self.statuses.get(cid, []))
        assert {Status.HOLDS, Status.VIOLATED} & statuses, f"{cid}: no example could judge it ({sorted(s.value for s in statuses)})"


def selected_claims(request: pytest.FixtureRequest, claim_ids: Iterable[str]) -> tuple[str, ...]:
    """The claims of ``claim_ids`` whose items (parametrized by ``claim``) are selected in the
    requesting module; all of them when the module has no such items."""
    claim_ids = tuple(claim_ids)
    chosen = {it.callspec.params["claim"] for it in request.session.items
              if it.module is request.module and hasattr(it, "callspec") and "claim" in it.callspec.params}
    return tuple(c for c in claim_ids if c in chosen) or claim_ids


@pytest.fixture(scope="session")
def check_group(check_case):
    """``check_group(request, cases, claim_ids, pins=(), budget=None) -> GroupResult``: judge the
    claims selected in the requesting module over the examples of the strategy ``cases`` (each a
    (case, RunSpec) pair, or (case, RunSpec, {"seed":..., "label":...}) for given data); ``pins``
    run first. ``budget``: a hypothesis settings object for this group (default: the profile's).

    A violated theorem claim ends the group (hypothesis then shrinks it to a minimal example, which
    the claim's item reports; the runs of the shrinking are not recorded), except under the
    ``campaign`` profile, which runs every example and records every violation. Conjectures are
    evidence: they never end a group."""

    def run(request: pytest.FixtureRequest, cases: st.SearchStrategy, claim_ids: Iterable[str], pins: tuple = (), budget=None) -> GroupResult:
        claim_ids = tuple(claim_ids)
        claims = selected_claims(request, claim_ids)
        result = GroupResult(claims)
        stop = hsettings.get_current_profile_name() != "campaign"
        failed = []

        def one(case) -> None:
            problem, spec, *named = case
            verdicts, replay = check_case(problem, spec, claims, record=not failed, **(named[0] if named else {}))
            theorem_bad = [v for v in verdicts if v.status == Status.VIOLATED and REGISTRY[v.claim].kind != "conjecture"]
            if not failed:
                for v in verdicts:
                    result.statuses.setdefault(v.claim, []).append(v.status)
                for v in theorem_bad:
                    result.violations.setdefault(v.claim, []).append(f"{v.reason}\n  replay: {replay}")
            if theorem_bad and stop:
                failed.append(True)
                raise AssertionError("; ".join(f"{v.claim}: {v.reason}" for v in theorem_bad) + f"\nreplay: {replay}")

        test = one
        for case in reversed(pins):  # the outermost @example runs first: pins run in order
            test = pinned(case=case)(test)
        test = given(case=cases)(test)
        if budget is not None:
            test = budget(test)
        if hsettings.default.derandomize:
            # The ci examples of a group follow from its claim ids alone (not from the source of
            # the function that runs them, nor from which of its claims are selected).
            test = seed(zlib.crc32(",".join(claim_ids).encode()))(test)
        try:
            test()
        except Exception as exc:  # the group's minimal failing example, from hypothesis
            if not failed:
                raise  # not a violation: a bug, reported as such
            result.failure = "".join(traceback.format_exception_only(exc)) + "\n".join(getattr(exc, "__notes__", []))
        return result

    return run
