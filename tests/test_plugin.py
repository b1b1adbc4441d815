"""The pytest plugin (aligncheck.harness.plugin) end to end, in subprocesses: the same report serially
and under pytest-xdist, one test item per claim, selections that write a partial report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A small project: two groups of claims (two modules, so that -n 2 can split them), a control, and
# a minimal pytest configuration (the plugin is found through its entry point).
MODULES = {
    "test_small_gf.py": '''
        import pytest
        from hypothesis import settings
        from aligncheck.claims.registry import ids
        from aligncheck.testing.strategies import run_cases

        CLAIMS = ids(group="theorem1")

        @pytest.fixture(scope="module")
        def group(request, check_group):
            return check_group(request, run_cases(method="gf", max_depth=3), CLAIMS, budget=settings(max_examples=6))

        @pytest.mark.parametrize("claim", CLAIMS)
        def test_claim(group, claim):
            group.assert_claim(claim)
    ''',
    "test_small_lemma2.py": '''
        import pytest
        from hypothesis import settings
        from aligncheck.claims.registry import ids
        from aligncheck.testing.strategies import run_cases

        CLAIMS = ids(group="lemma2")

        @pytest.fixture(scope="module")
        def group(request, check_group):
            return check_group(request, run_cases(method="gf", max_depth=3), CLAIMS, budget=settings(max_examples=6))

        @pytest.mark.parametrize("claim", CLAIMS)
        def test_claim(group, claim):
            group.assert_claim(claim)

        def test_control(record_control):
            record_control("control.example", expected="flagged", observed="flagged", flagged=True)
    ''',
}
INI = "[pytest]\naligncheck_hypothesis_profile = ci\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small_project")
    (root / "pytest.ini").write_text(INI)
    for name, text in MODULES.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _run(project: Path, report: str, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--aligncheck-report={project / report}", *args],
                          cwd=project, capture_output=True, text=True, timeout=900)
    files = list((project / report).glob("conjectures*.json"))
    return proc, (json.loads(files[0].read_text()) if len(files) == 1 else None)


def _content(doc: dict) -> dict:
    """The report with its lists in a canonical order (the order of merging is not content), without
    the metadata of the session (date, wall time, arguments, workers)."""
    return json.loads(json.dumps({k: v for k, v in doc.items() if k != "metadata"}, sort_keys=True))


def test_the_same_report_serially_and_under_xdist(project):
    pytest.importorskip("xdist")
    serial, a = _run(project, "serial")
    parallel, b = _run(project, "parallel", "-n", "2")
    assert serial.returncode == 0, serial.stdout[-3000:]
    assert parallel.returncode == 0, parallel.stdout[-3000:]
    assert a is not None and b is not None
    assert _content(a) == _content(b)  # plots (worst and typical panels) and measured rates included
    limits = ("gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment")
    assert all(set(a["plots"][c]) == {"worst", "typical"} and a["plots"][c]["worst"]["panel"]["curves"] for c in limits)
    assert set(a["rates"]) == set(limits) and all(a["rates"][c]["runs"] > 0 and a["rates"][c]["expected"] for c in limits)
    # The page and the summary beside each JSON; the same but for the session's metadata.
    pages = [(project / d / "conjectures.html", project / d / "conjectures.md") for d in ("serial", "parallel")]
    assert all(p.exists() for pair in pages for p in pair)
    assert [md.read_text().split("\n", 3)[3] for _, md in pages] == [pages[0][1].read_text().split("\n", 3)[3]] * 2
    assert all(f'id="{c["id"]}"' in html.read_text() for html, _ in pages for c in a["claims"])
    assert "report pages written to" in parallel.stdout
    assert {c["id"] for c in a["claims"]} == {"gf.risk_to_zero", "gf.norms_diverge", "gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment",
                                            "gf.risk_monotone", "gf.balancedness", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound"}
    assert a["controls"] == [{"id": "control.example", "status": "flagged", "expected": "flagged", "observed": "flagged"}]
    assert "aligncheck: claims of Ji & Telgarsky" in parallel.stdout  # the controller prints the one table
    meta = b["metadata"]
    assert meta["aligncheck_version"] and meta["hypothesis_profile"] == a["metadata"]["hypothesis_profile"]
    assert meta["pytest_args"][-2:] == ["-n", "2"] and meta["wall_time_s"] > 0 and set(meta["status_vocabulary"]) == {"claims", "conjectures", "controls", "verdicts"}


def test_each_claim_is_an_item_and_a_selection_is_a_partial_report(project):
    proc, doc = _run(project, "selected", "-k", "gf.rank_one", f"--junitxml={project / 'junit.xml'}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert doc["partial"] is True and (project / "selected" / "conjectures-partial.json").exists()
    assert (project / "selected" / "conjectures-partial.html").exists() and (project / "selected" / "conjectures-partial.md").exists()
    assert not (project / "selected" / "conjectures.json").exists() and not (project / "selected" / "conjectures.html").exists()
    assert [c["id"] for c in doc["claims"]] == ["gf.rank_one"]  # only the selected claim was judged
    junit = (project / "junit.xml").read_text()
    assert junit.count("<testcase ") == 1 and 'name="test_claim[gf.rank_one]"' in junit


def test_a_selection_that_runs_no_claim_says_so(project):
    proc, doc = _run(project, "nothing", "-k", "no_such_claim")
    assert proc.returncode == 5 and doc is None  # pytest: no tests ran
    assert "aligncheck: the selection ran no claim, so no report was written" in proc.stdout
