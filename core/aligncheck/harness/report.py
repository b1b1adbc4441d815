"""The per-claim report of a conjecture session: tallies, a rich table and reports/conjectures.json.

A claim passes when no example violated it AND at least one example showed it holding; a claim
whose examples were all inconclusive or not applicable has shown nothing, so it fails with a
note saying so (a finite run never proves a limit, but a session that never reached the phase
where the claim can be judged is not evidence either).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aligncheck.claims.assumptions import ASSUMPTIONS
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status, Verdict


@dataclass
class ClaimTally:
    id: str
    counts: Counter = field(default_factory=Counter)
    worst: float | None = None
    violations: list[dict] = field(default_factory=list)
    # Per verdict: the arithmetic that produced it, the high-precision second look at float64
    # violations ("confirmed at N digits" / "float64 artefact") and ball-arithmetic certificates.
    backends: Counter = field(default_factory=Counter)
    confirmations: Counter = field(default_factory=Counter)
    certificates: Counter = field(default_factory=Counter)
    # Verdicts judged from a later start (A1.2 failed at t = 0 and held later; Verdict.judged_from).
    judged_later: int = 0

    @property
    def examples(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        return "pass" if self.counts[Status.VIOLATED] == 0 and self.counts[Status.HOLDS] > 0 else "fail"

    def note(self) -> str:
        if self.counts[Status.VIOLATED]:
            return f"{self.counts[Status.VIOLATED]} violation(s)"
        if not self.counts[Status.HOLDS]:
            return "no example reached the phase where the claim can be judged" if self.examples else "not exercised"
        return ""


@dataclass
class Recorder:
    """Collects verdicts from the conjecture tests, one call per example.

    ``patterns`` counts examples per assumption pattern; ``edge_cases`` counts, per edge-case kind
    (issue 3: collinear data, depth 8, ...), the examples that reached it and their verdicts over
    every claim judged (so a kind whose runs were only inconclusive shows as such).
    """

    tallies: dict[str, ClaimTally] = field(default_factory=dict)
    patterns: Counter = field(default_factory=Counter)
    controls: list[dict] = field(default_factory=list)
    edge_cases: dict[str, Counter] = field(default_factory=dict)

    def record_control(self, cid: str, *, expected: str, observed: str, flagged: bool) -> None:
        """A negative control: what the harness must report, what it reported, and whether it did."""
        self.controls.append({"id": cid, "status": "flagged" if flagged else "missed", "expected": expected, "observed": observed})

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
    ) -> None:
        """One example: its verdicts, the problem's label (``case``) and seed, the init seed, the
        replay command (for violations), the assumptions on its set-up and the edge-case kinds it
        reaches (each counted once)."""
        if assumptions is not None:
            self.patterns[" ".join(f"{a}{'+' if ok else '-'}" for a, (ok, _) in sorted(assumptions.items()))] += 1
        for kind in dict.fromkeys(edge_cases):
            tally = self.edge_cases.setdefault(kind, Counter())
            tally["examples"] += 1
            tally.update(v.status.value for v in verdicts)
        for v in verdicts:
            t = self.tallies.setdefault(v.claim, ClaimTally(v.claim))
            t.counts[v.status] += 1
            if v.status != Status.NOT_APPLICABLE:
                t.backends[v.backend] += 1
            if v.confirmation is not None:
                t.confirmations[v.confirmation] += 1
            if v.certificate is not None:
                t.certificates[v.certificate] += 1
            if v.judged_from is not None:
                t.judged_later += 1
            if v.value is not None and math.isfinite(v.value) and v.status != Status.NOT_APPLICABLE:
                pick = min if v.claim in REGISTRY and REGISTRY[v.claim].worse == "min" else max
                t.worst = v.value if t.worst is None else pick(t.worst, v.value)
            if v.status == Status.VIOLATED:
                t.violations.append({"case": case, "seed": seed, "init_seed": init_seed, "replay": replay, "reason": v.reason})

    def as_json(self) -> dict:
        claims, conjectures = [], []
        for cid in [c for c in REGISTRY if c in self.tallies] + [c for c in self.tallies if c not in REGISTRY]:
            t = self.tallies[cid]
            claim = REGISTRY.get(cid)
            entry = {
                "id": cid,
                "status": t.status,
                "examples": t.examples,
                "holds": t.counts[Status.HOLDS],
                "violated": t.counts[Status.VIOLATED],
                "inconclusive": t.counts[Status.INCONCLUSIVE],
                "not_applicable": t.counts[Status.NOT_APPLICABLE],
                "worst": t.worst,
                "violations": t.violations,
                "backends": dict(t.backends),
                "confirmations": dict(t.confirmations),
                "certificates": dict(t.certificates),
                "judged_from_later_start": t.judged_later,
                "note": t.note(),
                "statement": claim.statement if claim else "",
                "source": claim.source if claim else "",
                "kind": claim.kind if claim else "",
            }
            if claim is not None and claim.kind == "conjecture":
                # Evidence, not a pass/fail gate.
                entry["status"] = "counterexample found" if t.counts[Status.VIOLATED] else "supported" if t.counts[Status.HOLDS] else "open"
                conjectures.append(entry)
            else:
                claims.append(entry)
        edge_cases = {
            kind: {"examples": c["examples"], **{status.value: c[status.value] for status in (Status.HOLDS, Status.VIOLATED, Status.INCONCLUSIVE, Status.NOT_APPLICABLE)}}
            for kind, c in self.edge_cases.items()
        }
        return {
            "claims": claims,
            "conjectures": conjectures,
            "controls": self.controls,
            "assumption_patterns": dict(self.patterns.most_common()),
            "edge_cases": edge_cases,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n")

    def render(self, console: Console) -> None:
        table = Table(title="aligncheck: claims of Ji & Telgarsky (ICLR 2019)", show_lines=False)
        for col in ("claim", "kind", "examples", "holds", "violated", "inconclusive", "n/a", "worst", "backend", "status"):
            table.add_column(col, justify="left" if col in ("claim", "kind", "backend", "status") else "right")
        data = self.as_json()
        for c in data["claims"]:
            bad = c["status"] == "fail"
            worst = "" if c["worst"] is None else f"{c['worst']:.3g}"
            status = f"[bold red]FAIL[/] ({c['note']})" if bad else "[green]pass[/]"
            table.add_row(
                f"[red]{c['id']}[/]" if bad else c["id"], c["kind"], str(c["examples"]), str(c["holds"]),
                f"[bold red]{c['violated']}[/]" if c["violated"] else "0", str(c["inconclusive"]), str(c["not_applicable"]), worst, _backends(c), status,
            )
        if data["claims"]:
            console.print(table)
        if data["conjectures"]:
            conj = Table(title="conjectures beyond the paper (evidence, not theorems)")
            for col in ("conjecture", "examples", "holds", "violated", "inconclusive", "n/a", "worst", "status"):
                conj.add_column(col, justify="left" if col in ("conjecture", "status") else "right")
            for c in data["conjectures"]:
                worst = "" if c["worst"] is None else f"{c['worst']:.3g}"
                conj.add_row(c["id"], str(c["examples"]), str(c["holds"]), str(c["violated"]), str(c["inconclusive"]), str(c["not_applicable"]), worst, c["status"])
            console.print(conj)
        if data["controls"]:
            controls = Table(title="negative controls (the harness must flag these)")
            for col in ("control", "expected", "observed", "status"):
                controls.add_column(col)
            for c in data["controls"]:
                ok = c["status"] == "flagged"
                controls.add_row(c["id"], c["expected"], c["observed"], "[green]flagged[/]" if ok else "[bold red]MISSED[/]")
            console.print(controls)
        for c in data["claims"] + data["conjectures"]:
            for v in c["violations"]:
                console.print(f"[red]{c['id']} violated[/] (problem {v['case']}, seed {v['seed']}, init seed {v['init_seed']}): {v['reason']}\n  replay: [bold]{v['replay']}[/]")
        if data["edge_cases"]:
            edges = Table(title="edge cases reached (examples, and their verdicts over every claim judged)")
            for col in ("edge case", "examples", "holds", "violated", "inconclusive", "n/a"):
                edges.add_column(col, justify="left" if col == "edge case" else "right")
            for kind, c in data["edge_cases"].items():
                edges.add_row(kind, str(c["examples"]), str(c["holds"]), f"[bold red]{c['violated']}[/]" if c["violated"] else "0", str(c["inconclusive"]), str(c["not_applicable"]))
            console.print(edges)
        if data["assumption_patterns"]:
            console.print("examples per assumption pattern (+ holds, - fails): " + "; ".join(f"{p}: {n}" for p, n in data["assumption_patterns"].items()))
            console.print("assumptions: " + "; ".join(f"{a} = {text}" for a, text in ASSUMPTIONS.items()))


def _backends(entry: dict) -> str:
    """The arithmetic behind a claim's verdicts, with second looks, certificates and later starts,
    e.g. "float64 ×118, mpmath-50 ×2; float64 artefact ×2; certified ×120; from t₀ > 0 ×3"."""
    parts = [", ".join(f"{k} ×{n}" for k, n in d.items()) for d in (entry["backends"], entry["confirmations"], entry["certificates"]) if d]
    if entry.get("judged_from_later_start"):
        parts.append(f"from t₀ > 0 ×{entry['judged_from_later_start']}")
    return "; ".join(parts)
