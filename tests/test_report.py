"""The session report's tallies and pass rule (aligncheck.harness.report): a claim passes only when nothing
violated it and at least one example showed it holding."""

from __future__ import annotations

from aligncheck.harness.report import Recorder
from aligncheck.claims.verdicts import Status, Verdict


def _record(rec: Recorder, cid: str, *statuses: Status, **fields) -> None:
    for i, st in enumerate(statuses):
        rec.record([Verdict(cid, st, 1e-4 * (i + 1), 1e-3, st.value, **fields)], seed=i, init_seed=0, replay=f"replay {i}")


def _entry(rec: Recorder, cid: str) -> dict:
    data = rec.as_json()
    return next(c for c in data["claims"] + data["conjectures"] if c["id"] == cid)


def test_only_inconclusive_or_not_applicable_is_a_fail():
    rec = Recorder()
    _record(rec, "gf.rank_one", Status.INCONCLUSIVE, Status.NOT_APPLICABLE, Status.INCONCLUSIVE)
    e = _entry(rec, "gf.rank_one")
    assert e["status"] == "fail" and "no example reached" in e["note"]
    assert (e["examples"], e["holds"], e["inconclusive"], e["not_applicable"]) == (3, 0, 2, 1)


def test_one_violation_fails_whatever_holds():
    rec = Recorder()
    _record(rec, "gf.rank_one", Status.HOLDS, Status.HOLDS, Status.VIOLATED)
    e = _entry(rec, "gf.rank_one")
    assert e["status"] == "fail" and e["violated"] == 1
    assert e["violations"] == [{"case": "planted", "seed": 2, "init_seed": 0, "replay": "replay 2", "reason": "violated"}]


def test_holds_without_violations_passes():
    rec = Recorder()
    _record(rec, "gf.rank_one", Status.HOLDS, Status.INCONCLUSIVE, Status.NOT_APPLICABLE)
    assert _entry(rec, "gf.rank_one")["status"] == "pass"


def test_conjectures_are_evidence_not_a_gate():
    rec = Recorder()
    _record(rec, "conj.smoothed_margin_monotone", Status.HOLDS, Status.VIOLATED)
    _record(rec, "conj.max_margin_degenerate_sv", Status.HOLDS)
    _record(rec, "conj.gd_exp_max_margin", Status.INCONCLUSIVE)
    data = rec.as_json()
    assert not data["claims"]
    status = {c["id"]: c["status"] for c in data["conjectures"]}
    assert status == {"conj.smoothed_margin_monotone": "counterexample found", "conj.max_margin_degenerate_sv": "supported", "conj.gd_exp_max_margin": "open"}


def test_worst_ignores_not_applicable_and_follows_the_claims_direction():
    rec = Recorder()
    _record(rec, "gf.rank_one", Status.HOLDS, Status.HOLDS)
    rec.record([Verdict("gf.rank_one", Status.NOT_APPLICABLE, 99.0, None, "n/a")], seed=9, init_seed=0, replay="")
    assert _entry(rec, "gf.rank_one")["worst"] == 2e-4  # a gap: the largest
    _record(rec, "data.alpha_positive", Status.HOLDS, Status.HOLDS)
    assert _entry(rec, "data.alpha_positive")["worst"] == 1e-4  # a margin: the smallest


def test_later_starts_are_counted():
    rec = Recorder()
    _record(rec, "gf.rank_one", Status.HOLDS, judged_from=0.35)
    _record(rec, "gf.rank_one", Status.HOLDS)
    assert _entry(rec, "gf.rank_one")["judged_from_later_start"] == 1


def test_worst_is_over_judged_verdicts_and_inconclusive_ones_are_kept_apart():
    # An inconclusive run stopped short of the phase where the claim can be judged: its gap (0.5)
    # is not the claim's worst measured value, which comes from the verdicts that judged it.
    rec = Recorder()
    rec.record([Verdict("gf.rank_one", Status.HOLDS, 2e-4, 1e-3, "holds")], seed=0, init_seed=0, replay="")
    rec.record([Verdict("gf.rank_one", Status.INCONCLUSIVE, 0.5, 1e-3, "too short")], seed=1, init_seed=0, replay="")
    rec.record([Verdict("gf.rank_one", Status.HOLDS, 1e-5, 1e-3, "holds")], seed=2, init_seed=0, replay="")
    e = _entry(rec, "gf.rank_one")
    assert (e["worst"], e["worst_threshold"], e["worst_direction"], e["worst_inconclusive"]) == (2e-4, 1e-3, "max", 0.5)
    rec.record([Verdict("gf.rank_one", Status.VIOLATED, 0.1, 1e-3, "stalled")], seed=3, init_seed=0, replay="")
    assert _entry(rec, "gf.rank_one")["worst"] == 0.1
