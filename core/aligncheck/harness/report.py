"""The per-claim report of a conjecture session: the recorded examples, their tallies and the JSON.

A :class:`Recorder` keeps one plain record per example (its verdicts as dicts, seeds, replay
command, assumptions, edge-case kinds) and one per negative control. Records are JSON-able, so
pytest-xdist workers send theirs to the controller (aligncheck.harness.plugin), which merges them:
every tally is computed from the records, and lists are sorted, so a report does not depend on
which process ran which example, nor in what order.

A claim passes when no example violated it AND at least one example showed it holding; a claim
whose examples were all inconclusive or not applicable has shown nothing, so it fails with a
note saying so (a finite run never proves a limit, but a session that never reached the phase
where the claim can be judged is not evidence either).

Measured rates (:func:`measured_rates`): the decay exponents the limit judges fitted over each
run's late window (``Verdict.exponent``), per claim and per depth, next to the exponent each
verdict expected (``Verdict.expected_exponent``, its source in the registry's ``Claim.rate``). A
depth whose median exponent is off the expected one by more than RATE_TOLERANCE (relative) is a
finding of the report, never a verdict: it changes no status.

Plots (aligncheck.harness.report_plots): the panel data of each claim's worst and typical example,
kept while judging, stored under "plots" for the HTML page (aligncheck.harness.html_report).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligncheck.claims.registry import PAPERS, REGISTRY
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.harness.report_plots import PlotKeeper

STATUSES = tuple(s.value for s in Status)
# A measured median exponent off the expected one by more than this fraction of it is a finding.
RATE_TOLERANCE = 0.25
# Fewer runs with a measured exponent than this (at a depth) are listed, not compared.
MIN_RATE_RUNS = 3


@dataclass
class ClaimTally:
    """A claim's verdicts over a session, by status, with its worst judged value and violations.

    ``backends``: the arithmetic behind each judged verdict; ``confirmations``: the high-precision
    second looks at float64 violations ("confirmed at N digits" / "float64 artefact");
    ``certificates``: ball-arithmetic certificates; ``judged_later``: verdicts judged from a later
    start (A1.2 failed at t = 0 and held later)."""

    id: str
    counts: Counter = field(default_factory=Counter)
    worst: float | None = None  # over judged verdicts (holds, violated) only
    threshold: float | None = None  # the threshold of the verdict that gave ``worst``
    worst_inconclusive: float | None = None  # over inconclusive verdicts: where runs stopped short, apart
    violations: list[dict] = field(default_factory=list)
    backends: Counter = field(default_factory=Counter)
    confirmations: Counter = field(default_factory=Counter)
    certificates: Counter = field(default_factory=Counter)
    judged_later: int = 0

    @property
    def examples(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        return "pass" if self.counts[Status.VIOLATED.value] == 0 and self.counts[Status.HOLDS.value] > 0 else "fail"

    def note(self) -> str:
        if self.counts[Status.VIOLATED.value]:
            return f"{self.counts[Status.VIOLATED.value]} violation(s)"
        if not self.counts[Status.HOLDS.value]:
            return "no example reached the phase where the claim can be judged" if self.examples else "not exercised"
        return ""

    @property
    def direction(self) -> str:
        """Which end of the measured values is the worst: "max" (a gap) or "min" (a margin)."""
        return REGISTRY[self.id].worse if self.id in REGISTRY else "max"

    def add(self, v: dict, example: dict) -> None:
        """Count one verdict (a Verdict.as_dict()) of ``example`` (a record)."""
        status = v["status"]
        self.counts[status] += 1
        if status != Status.NOT_APPLICABLE.value:
            self.backends[v["backend"]] += 1
        if "confirmation" in v:
            self.confirmations[v["confirmation"]] += 1
        if "certificate" in v:
            self.certificates[v["certificate"]] += 1
        if "judged_from" in v:
            self.judged_later += 1
        value = _number(v["value"])
        if value is not None and math.isfinite(value):
            pick = min if self.direction == "min" else max
            if status in (Status.HOLDS.value, Status.VIOLATED.value):
                if self.worst is None or pick(self.worst, value) != self.worst:
                    self.worst, self.threshold = value, _number(v["threshold"])
            elif status == Status.INCONCLUSIVE.value:
                self.worst_inconclusive = value if self.worst_inconclusive is None else pick(self.worst_inconclusive, value)
        if status == Status.VIOLATED.value:
            self.violations.append({k: example[k] for k in ("case", "seed", "init_seed", "replay")} | {"reason": v["reason"]})


def _number(x: float | str | None) -> float | None:
    """A verdict's JSON value as a float (non-finite values travel as strings)."""
    return None if x is None else float(x)


@dataclass
class Recorder:
    """The session's records: ``examples`` (one dict per example, see :meth:`record`) and
    ``controls`` (one dict per negative control, see :meth:`record_control`); ``plots``: the
    panels of each claim's worst and typical-candidate examples (aligncheck.harness.report_plots)."""

    examples: list[dict] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    plots: PlotKeeper = field(default_factory=PlotKeeper)

    def record(
        self,
        verdicts: list[Verdict],
        *,
        seed: int,
        init_seed: int,
        replay: str,
        assumptions: dict[str, tuple[bool, str]] | None = None,
        case: str = "planted",
        edge_cases: Iterable[str] = (),
        depth: int | None = None,
        outcome=None,
        key: str = "",
    ) -> None:
        """One example: its verdicts, the problem's label (``case``) and seed, the init seed, the
        replay command (for violations), the assumptions on its set-up, the edge-case kinds it
        reaches (each counted once) and the network's depth. ``outcome``: the run (a RunOutcome
        with its judged run), offered to the plots under the example's ``key`` (unique per run)."""
        self.examples.append({
            "verdicts": [v.as_dict() for v in verdicts],
            "case": case, "seed": int(seed), "init_seed": int(init_seed), "replay": replay,
            "assumptions": None if assumptions is None else {a: bool(ok) for a, (ok, _) in assumptions.items()},
            "edge_cases": list(dict.fromkeys(edge_cases)),
            "depth": None if depth is None else int(depth),
        })
        if outcome is not None:
            self.plots.offer(outcome, self.examples[-1], key or f"{case}|{seed}|{init_seed}|{depth}")

    def record_control(self, cid: str, *, expected: str, observed: str, flagged: bool) -> None:
        """A negative control: what the harness must report, what it reported, and whether it did."""
        self.controls.append({"id": cid, "status": "flagged" if flagged else "missed", "expected": expected, "observed": observed})

    def records(self) -> dict:
        """Everything recorded, as JSON-able data (what a pytest-xdist worker sends)."""
        return {"examples": self.examples, "controls": self.controls, "plots": self.plots.records()}

    def merge(self, records: dict) -> None:
        """Add another recorder's :meth:`records`."""
        self.examples.extend(records["examples"])
        self.controls.extend(records["controls"])
        self.plots.merge(records.get("plots", {}))

    def __bool__(self) -> bool:
        return bool(self.examples or self.controls)

    def tallies(self) -> dict[str, ClaimTally]:
        """Per claim (registry order first, then any unregistered id), its tally over the examples."""
        out: dict[str, ClaimTally] = {}
        for ex in self.examples:
            for v in ex["verdicts"]:
                out.setdefault(v["id"], ClaimTally(v["id"])).add(v, ex)
        order = [c for c in REGISTRY if c in out] + sorted(c for c in out if c not in REGISTRY)
        for t in out.values():
            t.violations.sort(key=lambda x: (x["case"], x["seed"], x["init_seed"], x["replay"], x["reason"]))
        return {c: out[c] for c in order}

    def as_json(self) -> dict:
        """The report: claims and conjectures (each with its paper), controls, assumption patterns
        and edge cases."""
        claims, conjectures = [], []
        for cid, t in self.tallies().items():
            claim = REGISTRY.get(cid)
            entry = {
                "id": cid,
                "paper": claim.paper if claim else "",
                "status": t.status,
                "examples": t.examples,
                **{s: t.counts[s] for s in STATUSES},
                "worst": t.worst,
                "worst_threshold": t.threshold,
                "worst_direction": t.direction,
                "worst_inconclusive": t.worst_inconclusive,
                "violations": t.violations,
                "backends": dict(sorted(t.backends.items())),
                "confirmations": dict(sorted(t.confirmations.items())),
                "certificates": dict(sorted(t.certificates.items())),
                "judged_from_later_start": t.judged_later,
                "note": t.note(),
                "statement": claim.statement if claim else "",
                "source": claim.source if claim else "",
                "kind": claim.kind if claim else "",
            }
            if claim is not None and claim.kind == "conjecture":
                # Evidence, not a pass/fail gate.
                entry["status"] = "counterexample found" if t.counts[Status.VIOLATED.value] else "supported" if t.counts[Status.HOLDS.value] else "open"
                conjectures.append(entry)
            else:
                claims.append(entry)
        patterns: Counter = Counter()
        edge: dict[str, Counter] = {}
        for ex in self.examples:
            if ex["assumptions"] is not None:
                patterns[" ".join(f"{a}{'+' if ok else '-'}" for a, ok in sorted(ex["assumptions"].items()))] += 1
            for kind in ex["edge_cases"]:
                tally = edge.setdefault(kind, Counter())
                tally["examples"] += 1
                tally.update(v["status"] for v in ex["verdicts"])
        return {
            "papers": {p.key: {"citation": p.citation, "title": p.title} for p in PAPERS.values()},
            "claims": claims,
            "conjectures": conjectures,
            "controls": sorted(self.controls, key=lambda c: (c["id"], c["observed"])),
            "assumption_patterns": dict(sorted(patterns.items(), key=lambda kv: (-kv[1], kv[0]))),
            "edge_cases": {kind: {"examples": c["examples"], **{s: c[s] for s in STATUSES}} for kind, c in sorted(edge.items())},
            **measured_rates(self.examples),
            "plots": self.plots.choose(_values(self.examples)),
        }

    def write(self, path: Path, doc: dict | None = None) -> None:
        """Write the report (``doc``, default :meth:`as_json`) to ``path`` as JSON (indented; the
        plots' lists of numbers on one line each)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.as_json() if doc is None else doc, indent=2, ensure_ascii=False)
        path.write_text(_NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n")


_NUMBER_LIST = re.compile(r"\[((?:\s*(?:-?[0-9][0-9.eE+-]*|null),)*\s*(?:-?[0-9][0-9.eE+-]*|null)\s*)\]")


def _values(examples: list[dict]) -> dict[str, dict[str, list[float]]]:
    """claim -> tier ("1": holds or violated, "0": inconclusive) -> the finite values of its verdicts."""
    out: dict[str, dict[str, list[float]]] = {}
    for ex in examples:
        for v in ex["verdicts"]:
            value = _number(v["value"])
            if value is not None and math.isfinite(value) and v["status"] != Status.NOT_APPLICABLE.value:
                tier = "1" if v["status"] in (Status.HOLDS.value, Status.VIOLATED.value) else "0"
                out.setdefault(v["id"], {}).setdefault(tier, []).append(value)
    return out


def _spread(xs: list[float]) -> dict:
    q1, med, q3 = (float(x) for x in np.percentile(np.asarray(xs, float), [25, 50, 75]))
    return {"runs": len(xs), "median": med, "q1": q1, "q3": q3, "min": min(xs), "max": max(xs)}


def measured_rates(examples: list[dict]) -> dict:
    """The measured decay exponents of the session (see the module docstring): {"rates": {claim:
    {runs, median, q1, q3, min, max, expected (the distinct expected exponents), expected_source,
    by_depth: {L: {runs, median, q1, q3, min, max, expected, agrees}}, agrees}}, "rate_findings":
    [one line per depth whose median is off the expected exponent]}."""
    found: dict[str, list[tuple[float, float | None, int | None]]] = {}
    for ex in examples:
        for v in ex["verdicts"]:
            e = _number(v.get("exponent"))
            if e is not None and math.isfinite(e):
                found.setdefault(v["id"], []).append((e, _number(v.get("expected_exponent")), ex.get("depth")))
    rates, findings = {}, []
    for cid in [c for c in REGISTRY if c in found] + sorted(c for c in found if c not in REGISTRY):
        rows = found[cid]
        by_depth = {}
        for depth in sorted({d for _, _, d in rows}, key=lambda d: (d is None, d or 0)):
            xs = [e for e, _, d in rows if d == depth]
            expected = sorted({x for _, x, d in rows if d == depth and x is not None})
            entry = {**_spread(xs), "expected": expected, "agrees": None}
            if len(xs) >= MIN_RATE_RUNS and len(expected) == 1:
                entry["agrees"] = abs(entry["median"] - expected[0]) <= RATE_TOLERANCE * expected[0]
                if not entry["agrees"]:
                    pace = "faster" if entry["median"] > expected[0] else "slower"
                    findings.append(f"{cid}{'' if depth is None else f' at depth {depth}'}: median measured exponent {entry['median']:.3g} "
                                    f"(quartiles {entry['q1']:.3g}-{entry['q3']:.3g}, {len(xs)} runs), expected {expected[0]:g}: decays {pace} than expected")
            by_depth["?" if depth is None else str(depth)] = entry
        verdicts = [e["agrees"] for e in by_depth.values() if e["agrees"] is not None]
        rates[cid] = {**_spread([e for e, _, _ in rows]), "expected": sorted({x for _, x, _ in rows if x is not None}),
                      "expected_source": REGISTRY[cid].rate if cid in REGISTRY else "", "by_depth": by_depth,
                      "agrees": all(verdicts) if verdicts else None}
    return {"rates": rates, "rate_findings": findings}
