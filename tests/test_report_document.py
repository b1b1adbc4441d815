"""The report document field by field (aligncheck.harness.report.Recorder.as_json), written out by
hand for a small session, and its round trips (a worker's records merged by the controller, the
JSON file). Mutation testing found every field of the document unpinned by the fast tests (they
were read only by the plugin's end-to-end tests): a renamed key, a dropped count or a wrong
pattern string passed."""

from __future__ import annotations

import json

from aligncheck.claims.registry import PAPERS, REGISTRY
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.harness.report import Recorder

RANK, CONJ = "gf.rank_one", "conj.max_margin_degenerate_sv"


def _session() -> Recorder:
    rec = Recorder()
    rec.record([Verdict(RANK, Status.HOLDS, 2e-4, 1e-3, "fine", backend="float64"),
                Verdict(CONJ, Status.HOLDS, 5e-5, 1e-3, "fine")],
               seed=1, init_seed=10, replay="", assumptions={"A1.2": (True, "ok"), "separable": (True, "ok")},
               edge_cases=["large_n", "depth 1", "large_n"])
    rec.record([Verdict(RANK, Status.VIOLATED, 3e-2, 1e-3, "went up", backend="mpmath-50", confirmation="confirmed at 50 digits",
                        float64_value=2.9e-2, certificate="refuted", judged_from=0.5)],
               seed=2, init_seed=20, replay="aligncheck check case.npz", assumptions={"A1.2": (False, "no"), "separable": (True, "ok")},
               case="edge:large_n", edge_cases=["large_n"])
    rec.record([Verdict(RANK, Status.INCONCLUSIVE, 7e-1, 1e-3, "short"), Verdict(RANK, Status.NOT_APPLICABLE, None, 1e-3, "L = 1")],
               seed=3, init_seed=30, replay="", assumptions={"A1.2": (True, "ok"), "separable": (True, "ok")})
    rec.record_control("control.zero_init", expected="inconclusive", observed="inconclusive", flagged=True)
    rec.record_control("control.bad", expected="violated", observed="holds", flagged=False)
    return rec


def test_every_field_of_a_claim_entry():
    doc = _session().as_json()
    assert [c["id"] for c in doc["claims"]] == [RANK] and [c["id"] for c in doc["conjectures"]] == [CONJ]
    rank = doc["claims"][0]
    claim = REGISTRY[RANK]
    expected = {
        "id": RANK, "paper": claim.paper, "status": "fail", "examples": 4,
        "holds": 1, "violated": 1, "inconclusive": 1, "not_applicable": 1,
        "worst": 3e-2, "worst_threshold": 1e-3, "worst_direction": "max", "worst_inconclusive": 7e-1,
        "violations": [{"case": "edge:large_n", "seed": 2, "init_seed": 20, "replay": "aligncheck check case.npz", "reason": "went up"}],
        "backends": {"float64": 2, "mpmath-50": 1},  # not_applicable verdicts have no arithmetic behind them
        "confirmations": {"confirmed at 50 digits": 1}, "certificates": {"refuted": 1},
        "judged_from_later_start": 1, "note": "1 violation(s)",
        "statement": claim.statement, "source": claim.source, "kind": "limit",
    }
    for key, value in expected.items():
        assert rank[key] == value, key


def test_conjecture_entry_and_the_session_sections():
    doc = _session().as_json()
    conj = doc["conjectures"][0]
    claim = REGISTRY[CONJ]
    for key, value in {"status": "supported", "examples": 1, "holds": 1, "worst": 5e-5, "paper": claim.paper,
                       "statement": claim.statement, "source": claim.source, "kind": "conjecture", "note": ""}.items():
        assert conj[key] == value, key
    assert doc["papers"] == {p.key: {"citation": p.citation, "title": p.title} for p in PAPERS.values()}
    assert doc["controls"] == [
        {"id": "control.bad", "status": "missed", "expected": "violated", "observed": "holds"},
        {"id": "control.zero_init", "status": "flagged", "expected": "inconclusive", "observed": "inconclusive"},
    ]
    assert doc["assumption_patterns"] == {"A1.2+ separable+": 2, "A1.2- separable+": 1}
    # each kind counted once per example, with the statuses of that example's verdicts
    assert doc["edge_cases"] == {
        "depth 1": {"examples": 1, "holds": 2, "violated": 0, "inconclusive": 0, "not_applicable": 0},
        "large_n": {"examples": 2, "holds": 2, "violated": 1, "inconclusive": 0, "not_applicable": 0},
    }


def test_rates_and_plots_of_a_session_without_runs_or_exponents():
    doc = _session().as_json()
    # no verdict carries an exponent and no example was recorded with its run (tests/test_html_report.py has both)
    assert doc["rates"] == {} and doc["rate_findings"] == [] and doc["plots"] == {}
    assert [ex["depth"] for ex in _session().examples] == [None, None, None]


def test_records_travel_and_merge_into_the_same_document(tmp_path):
    rec = _session()
    assert rec and not Recorder()
    merged = Recorder()
    merged.merge(json.loads(json.dumps(rec.records())))  # what an xdist worker sends
    assert merged.as_json() == rec.as_json()
    assert merged.records() == {"examples": rec.examples, "controls": rec.controls, "plots": {"worst": {}, "sample": {}}}
    path = tmp_path / "two" / "levels" / "report.json"  # missing parents are made
    rec.write(path)
    # indented, non-ASCII kept as such (the statements' ‖, →, ū), one final newline
    assert path.read_text() == json.dumps(rec.as_json(), indent=2, ensure_ascii=False) + "\n"
    rec.write(path, {"given": 1})
    assert json.loads(path.read_text()) == {"given": 1}


def test_tallies_counts_order_and_unregistered_claims():
    rec = Recorder()
    assert not rec
    rec.record_control("control.zero_init", expected="inconclusive", observed="inconclusive", flagged=True)
    assert rec  # controls alone are something to report
    for seed, value in enumerate([5e-1, 9e-1, 2e-1]):
        rec.record([Verdict(RANK, Status.INCONCLUSIVE, value, 1e-3, "short")], seed=seed, init_seed=0, replay="")
    for seed in (7, 5):  # recorded out of order: the report sorts them
        rec.record([Verdict(RANK, Status.VIOLATED, 1.0, 1e-3, "up", confirmation="confirmed at 50 digits", float64_value=1.0,
                            certificate="refuted", judged_from=1.0)], seed=seed, init_seed=0, replay=f"replay {seed}")
    rec.record([Verdict("zz.custom", Status.HOLDS, 1.0, 2.0, "mine")], seed=1, init_seed=0, replay="",
               assumptions={"b": (True, ""), "a": (True, "")})
    for seed in (2, 3):
        rec.record([Verdict("aa.custom", Status.HOLDS, 1.0, 2.0, "mine")], seed=seed, init_seed=0, replay="",
                   assumptions={"a": (False, ""), "b": (True, "")})
    tallies = rec.tallies()
    assert list(tallies) == [RANK, "aa.custom", "zz.custom"]  # registry order, then unregistered ids sorted
    rank = tallies[RANK]
    assert rank.worst_inconclusive == 9e-1  # the largest gap among the inconclusive ones, not the last
    assert rank.confirmations == {"confirmed at 50 digits": 2} and rank.certificates == {"refuted": 2} and rank.judged_later == 2
    assert [v["seed"] for v in rank.violations] == [5, 7]
    doc = rec.as_json()
    custom = next(c for c in doc["claims"] if c["id"] == "zz.custom")
    assert (custom["paper"], custom["statement"], custom["source"], custom["kind"]) == ("", "", "", "")
    # the most frequent pattern first (then by name), not alphabetical
    assert list(doc["assumption_patterns"].items()) == [("a- b+", 2), ("a+ b+", 1)]


def test_a_claim_with_no_examples_says_it_was_not_exercised():
    from aligncheck.harness.report import ClaimTally

    assert ClaimTally(RANK).note() == "not exercised" and ClaimTally(RANK).status == "fail"


def test_the_notes_a_reader_sees():
    from aligncheck.harness.report import ClaimTally

    shown_nothing = ClaimTally(RANK)
    shown_nothing.add(Verdict(RANK, Status.INCONCLUSIVE, 0.5, 1e-3, "short").as_dict(), {})
    assert shown_nothing.note() == "no example reached the phase where the claim can be judged"
    held = ClaimTally(RANK)
    held.add(Verdict(RANK, Status.HOLDS, 1e-5, 1e-3, "fine").as_dict(), {})
    assert held.note() == "" and held.status == "pass"


def test_the_file_puts_lists_of_numbers_on_one_line(tmp_path):
    doc = {"plots": {"q": [1.0, -2.5e-07, None, 3], "scale": [1e+20]}, "names": ["a", "b"], "empty": []}
    path = tmp_path / "report.json"
    Recorder().write(path, doc)
    text = path.read_text()
    assert json.loads(text) == doc
    assert '"q": [1.0, -2.5e-07, null, 3]' in text
    assert '"scale": [1e+20]' in text
    assert '"names": [\n    "a",\n    "b"\n  ]' in text  # lists of strings keep one item a line
    assert text.endswith("}\n") and text.startswith('{\n  "plots": {\n    "q"')


def test_assumption_patterns_of_equal_counts_are_in_name_order():
    rec = Recorder()
    for flags in ({"b": (True, "")}, {"a": (True, "")}):
        rec.record([Verdict(RANK, Status.HOLDS, 1e-5, 1e-3, "fine")], seed=0, init_seed=0, replay="", assumptions=flags)
    assert list(rec.as_json()["assumption_patterns"]) == ["a+", "b+"]
