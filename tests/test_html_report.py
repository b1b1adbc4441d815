"""The report as a page (aligncheck.harness.html_report, md_report), its plots (report_plots) and
measured rates (report.measured_rates), and `aligncheck report`; the page is opened in a real
browser (Playwright driving the system chromium, headless).

The browser test skips only when no browser is installed AND the environment variable CI is not
set; in CI a missing browser (or Playwright) fails it."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.harness import report_plots
from aligncheck.harness.cli import main
from aligncheck.harness.html_report import write_pages
from aligncheck.harness.md_report import render_markdown
from aligncheck.harness.report import RATE_TOLERANCE, Recorder, measured_rates
from aligncheck.harness.runner import run_checked

# A few claims (drawing each one's plots is most of the page's time): a risk, two layer limits, a max-margin limit.
CLAIMS = ("gf.risk_to_zero", "gf.rank_one", "gf.adjacent_alignment", "gf.margin_corollary")
REPLAY = "aligncheck check reports/cases/planted-99.npz --depth 2 --loss exp --seed 0"


def _runs() -> list[tuple]:
    """Two real gradient-flow runs (depth 1 and 2) on a small planted problem: (outcome, seed, spec)."""
    out = []
    for seed, depth in ((12, 1), (11, 2)):
        spec = RunSpec(depth=depth, loss="exp", seed=seed)
        problem = planted_case(planted_problem(seed, n=12, d=3, gamma=0.25, n_sv=3, sv_rank=3))
        out.append((run_checked(problem, spec, CLAIMS), seed, spec))
    return out


def _record(rec: Recorder, runs: list[tuple]) -> None:
    for outcome, seed, spec in runs:
        rec.record(outcome.verdicts, seed=seed, init_seed=spec.seed, replay="", assumptions=outcome.assumptions, depth=spec.depth,
                   edge_cases=["small_n"] if spec.depth == 1 else (), outcome=outcome, key=f"planted-{seed}|{spec!r}")


@pytest.fixture(scope="module")
def runs() -> list[tuple]:
    return _runs()


@pytest.fixture(scope="module")
def doc(runs) -> dict:
    """A small report from real runs, with a (recorded, not run) violation and a control."""
    rec = Recorder()
    _record(rec, runs)
    rec.record([Verdict("gf.rank_one", Status.VIOLATED, 0.5, 1e-3, "stalled at 0.5 <&> (made up for the page)", exponent=0.1, expected_exponent=2.0)],
               seed=99, init_seed=0, replay=REPLAY, depth=2)
    rec.record_control("control.example", expected="flagged", observed="flagged", flagged=True)
    return {"metadata": {"git_commit": "0" * 40, "hypothesis_profile": "ci", "wall_time_s": 1.0, "pytest_args": []}, **rec.as_json()}


@pytest.fixture(scope="module")
def pages(doc, tmp_path_factory) -> tuple[Path, Path]:
    """The page and the summary of ``doc``, written once (drawing the plots is most of the time)."""
    out = tmp_path_factory.mktemp("pages")
    return write_pages(doc, out / "conjectures.html", out / "conjectures.md")


class _Page(HTMLParser):
    """The page's element ids, image sources and the claims table's cells (claim -> column -> text)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids, self.images, self.cells, self.links = [], [], {}, []
        self._row, self._col = None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag in ("link", "script", "iframe") or (tag == "a" and not a.get("href", "#").startswith("#")):
            self.links.append((tag, a))
        if tag == "tr" and "data-claim" in a:
            self._row = a["data-claim"]
        if tag == "td" and self._row and "data-col" in a:
            self._col = a["data-col"]
            self.cells.setdefault(self._row, {})[self._col] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._col = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row and self._col:
            self.cells[self._row][self._col] += data


def test_the_report_carries_plots_and_rates_from_the_runs(doc):
    plots = doc["plots"]
    for cid in CLAIMS:
        assert plots[cid]["worst"]["panel"]["curves"], cid
        assert "typical" in plots[cid]
    # The worst plotted is the tally's worst (judged verdicts): here the made-up violation has no run, so no panel,
    # and gf.rank_one's plotted worst is the worst of the real runs.
    rank = next(c for c in doc["claims"] if c["id"] == "gf.rank_one")
    assert rank["worst"] == 0.5 and plots["gf.rank_one"]["worst"]["seed"] == 11
    assert all(len(c["x"]) <= 200 for e in plots.values() for c in e["worst"]["panel"]["curves"])
    rates = doc["rates"]
    assert rates["gf.margin_corollary"]["by_depth"]["1"]["expected"] == [1.0]  # min(2, L): per verdict, by depth
    assert rates["gf.margin_corollary"]["by_depth"]["2"]["expected"] == [2.0]
    assert rates["gf.adjacent_alignment"]["expected"] == [4.0] and "numerics notes" in rates["gf.adjacent_alignment"]["expected_source"]
    assert abs(rates["gf.adjacent_alignment"]["median"] - 4.0) < 0.1  # measured on the real run
    assert len(json.dumps(doc)) < 400_000


def _rate_examples(exponents: list[float], expected: float = 2.0, depth: int = 2, cid: str = "gf.rank_one") -> list[dict]:
    return [{"verdicts": [Verdict(cid, Status.HOLDS, 1e-5, 1e-3, "", exponent=e, expected_exponent=expected).as_dict()], "depth": depth}
            for e in exponents]


def test_measured_rates_median_quartiles_and_findings():
    agree = measured_rates(_rate_examples([1.9, 2.0, 2.1, 2.2, 2.05]))
    entry = agree["rates"]["gf.rank_one"]
    assert (entry["runs"], entry["median"], entry["q1"], entry["q3"]) == (5, 2.05, 2.0, 2.1)
    assert entry["agrees"] is True and agree["rate_findings"] == []
    off = 2.0 * (1 + RATE_TOLERANCE) + 0.1
    slow = measured_rates(_rate_examples([off] * 3) + _rate_examples([2.0] * 3, depth=1))
    assert slow["rates"]["gf.rank_one"]["by_depth"]["1"]["agrees"] is True
    assert slow["rates"]["gf.rank_one"]["by_depth"]["2"]["agrees"] is False
    assert len(slow["rate_findings"]) == 1 and "gf.rank_one at depth 2" in slow["rate_findings"][0] and "faster" in slow["rate_findings"][0]
    few = measured_rates(_rate_examples([9.0, 9.0]))  # fewer than MIN_RATE_RUNS: listed, not compared
    assert few["rates"]["gf.rank_one"]["agrees"] is None and few["rate_findings"] == []


def test_a_finding_is_not_a_verdict():
    rec = Recorder()
    rec.examples += [{**ex, "case": "planted", "seed": i, "init_seed": 0, "replay": "", "assumptions": None, "edge_cases": []}
                     for i, ex in enumerate(_rate_examples([0.5] * 4))]
    doc = rec.as_json()
    assert doc["rate_findings"] and doc["claims"][0]["status"] == "pass"


@pytest.mark.parametrize("sample", [5, 1])  # 1: a sample that must drop a candidate
def test_the_plots_do_not_depend_on_which_process_ran_what(runs, sample, monkeypatch):
    monkeypatch.setattr(report_plots, "SAMPLE", sample)
    serial = Recorder()
    _record(serial, runs)
    a, b = Recorder(), Recorder()
    _record(a, runs[:1])
    _record(b, runs[1:])
    for order in ((a, b), (b, a)):
        merged = Recorder()
        for r in order:
            merged.merge(json.loads(json.dumps(r.records())))  # as an xdist worker sends them
        assert json.dumps(merged.as_json(), sort_keys=True) == json.dumps(serial.as_json(), sort_keys=True)


def test_the_page_has_every_section_and_the_tables_counts(doc, pages):
    html = pages[0].read_text()
    page = _Page()
    page.feed(html)
    every = [c["id"] for c in doc["claims"] + doc["conjectures"]]
    assert set(every) <= set(page.ids)
    assert {"claims-table", "controls", "edge-cases", "assumptions", "rates", "conjectures"} <= set(page.ids)
    for c in doc["claims"]:
        assert {k: int(page.cells[c["id"]][k]) for k in ("examples", "holds", "violated", "inconclusive")} == {
            k: c[k] for k in ("examples", "holds", "violated", "inconclusive")}
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.links == []  # self-contained: no stylesheet, script or page outside it
    assert REPLAY in html and "stalled at 0.5 &lt;&amp;&gt;" in html  # the violation, escaped, with its replay command


def test_the_markdown_summary(doc, pages):
    md = pages[1].read_text()
    assert md == render_markdown(doc)
    assert md.split("## Violations")[0].count("\n| `gf.") == len(doc["claims"])
    assert f"replay: `{REPLAY}`" in md and "## Measured rates" in md and "| `gf.adjacent_alignment` | 1 | 4 | 4 – 4 | 4 | 2: 4 |" in md


def test_aligncheck_report_rerenders_from_the_json(doc, pages, tmp_path, capsys):
    src = tmp_path / "conjectures.json"
    Recorder().write(src, doc)  # the JSON as the plugin writes it: the page is the same from it
    assert main(["report", str(src), "--html", str(tmp_path / "b.html")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "b.html"), str(tmp_path / "b.md")]
    assert (tmp_path / "b.html").read_text() == pages[0].read_text() and (tmp_path / "b.md").read_text() == pages[1].read_text()
    (tmp_path / "junk.json").write_text('{"claims": []}')
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "broken.json").write_text(json.dumps({**doc, "claims": [{"id": "gf.rank_one"}]}))
    for bad in [[str(tmp_path / name)] for name in ("missing.json", "junk.json", "text.json", "broken.json", "")] + [
            [str(src), "--html", str(tmp_path / "no_dir" / "x.html")], [str(src), "--html", str(tmp_path / "x.html"), "--md", str(tmp_path / "x.html")]]:
        assert main(["report", *bad]) == 2, bad
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("aligncheck: error: ") and "Traceback" not in err, (bad, err)


def _browser() -> str | None:
    return os.environ.get("ALIGNCHECK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_in_a_real_browser(doc, pages):
    exe = _browser()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if exe is None or sync_playwright is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {'no chromium' if exe is None else 'no playwright'} is installed: the page must be opened in a browser")
        pytest.skip("no chromium or playwright (install: apt-get install chromium; pip install playwright)")
    html = pages[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(html.as_uri(), wait_until="load")
            # loaded (complete, naturalWidth > 0) and decodable (garbage data is not; chromium draws a truncated PNG in part)
            images = page.evaluate("""() => Promise.all(Array.from(document.images).map(i => i.decode().then(
                () => [i.complete, i.naturalWidth, i.alt], () => [false, i.naturalWidth, i.alt])))""")
            sections = page.evaluate("ids => ids.filter(id => !document.getElementById(id))", [c["id"] for c in doc["claims"] + doc["conjectures"]])
            table = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('#claims-table tr[data-claim]')).map(tr =>
                [tr.dataset.claim, Object.fromEntries(Array.from(tr.querySelectorAll('td[data-col]')).map(td => [td.dataset.col, td.innerText.trim()]))]))""")
        finally:
            browser.close()
    assert images and all(ok and width > 0 for ok, width, _ in images), [alt for ok, width, alt in images if not (ok and width > 0)]
    assert sections == []
    assert set(table) == {c["id"] for c in doc["claims"]}
    for c in doc["claims"]:
        assert {k: int(table[c["id"]][k]) for k in ("examples", "holds", "violated", "inconclusive", "not_applicable")} == {
            k: c[k] for k in ("examples", "holds", "violated", "inconclusive", "not_applicable")}
        assert table[c["id"]]["status"] == c["status"]
    assert requests == []  # nothing fetched from a network


def test_the_json_keeps_the_plots_numbers_compact(doc, tmp_path):
    path = tmp_path / "r.json"
    Recorder().write(path, doc)
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert re.search(r'"x": \[[-0-9.e+]+, [-0-9.e+]+', text)  # one line per list of numbers
