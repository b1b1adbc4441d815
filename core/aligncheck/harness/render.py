"""The session report in the terminal (rich): one table of claims per paper, the conjectures, the
negative controls, every violation with its replay command, the edge cases reached and the
assumption patterns. It renders the JSON document of aligncheck.harness.report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from aligncheck.claims.assumptions import ASSUMPTIONS


def render_report(data: dict, console: Console) -> None:
    """Print the report ``data`` (Recorder.as_json()) on ``console``."""
    for key, paper in data.get("papers", {}).items():
        rows = [c for c in data["claims"] if c.get("paper") == key]
        if rows:
            console.print(_claims_table(f"aligncheck: claims of {paper['citation']}", rows))
    if data["conjectures"]:
        conj = Table(title="conjectures beyond the papers (evidence, not theorems)")
        for col in ("conjecture", "examples", "holds", "violated", "inconclusive", "n/a", "worst", "status"):
            conj.add_column(col, justify="left" if col in ("conjecture", "status") else "right")
        for c in data["conjectures"]:
            conj.add_row(c["id"], str(c["examples"]), str(c["holds"]), str(c["violated"]), str(c["inconclusive"]), str(c["not_applicable"]), _worst(c), c["status"])
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
        console.print(_patterns_table(data["assumption_patterns"]))
        console.print("assumptions: " + "; ".join(f"{a} = {text}" for a, text in ASSUMPTIONS.items()))


def _patterns_table(patterns: dict[str, int]) -> Table:
    """Examples per assumption pattern: one row per pattern, one column per assumption (+ holds, − fails)."""
    rows = [(dict((tok[:-1], tok[-1]) for tok in p.split()), n) for p, n in patterns.items()]
    ids = [a for a in ASSUMPTIONS if any(a in r for r, _ in rows)] + sorted({a for r, _ in rows for a in r} - set(ASSUMPTIONS))
    table = Table(title="examples per assumption pattern (+ holds, − fails)")
    for a in ids:
        table.add_column(a, justify="center")
    table.add_column("examples", justify="right")
    for r, n in rows:
        table.add_row(*[("[green]+[/]" if r[a] == "+" else "[red]−[/]") if a in r else "" for a in ids], str(n))
    return table


def _claims_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("claim", "statement", "source", "kind", "examples", "holds", "violated", "inconclusive", "n/a", "worst (judged)", "backend", "status"):
        table.add_column(col, justify="left" if col in ("claim", "statement", "source", "kind", "backend", "status") else "right",
                         no_wrap=col == "claim")
    for c in rows:
        bad = c["status"] == "fail"
        status = f"[bold red]FAIL[/] ({c['note']})" if bad else "[green]pass[/]"
        table.add_row(
            f"[red]{c['id']}[/]" if bad else c["id"], c.get("statement", ""), _short_source(c.get("source", "")), c["kind"], str(c["examples"]), str(c["holds"]),
            f"[bold red]{c['violated']}[/]" if c["violated"] else "0", str(c["inconclusive"]), str(c["not_applicable"]), _worst(c), _backends(c), status,
        )
    return table


def _short_source(source: str) -> str:
    """The theorem or lemma a claim is from, without the slide and camera-ready details."""
    return source.split(";")[0].strip()


def _worst(entry: dict) -> str:
    """The worst value over judged verdicts, against its threshold ("2e-04 ≤ 0.001" for a gap,
    "≥" for a margin); blank when no verdict judged the claim."""
    if entry["worst"] is None:
        return ""
    thr = entry.get("worst_threshold")
    side = "≥" if entry.get("worst_direction") == "min" else "≤"
    return f"{entry['worst']:.3g}" + ("" if thr is None else f" {side} {thr:.3g}")


def _backends(entry: dict) -> str:
    """The arithmetic behind a claim's verdicts, with second looks, certificates and later starts,
    e.g. "float64 ×118, mpmath-50 ×2; float64 artefact ×2; certified ×120; from t₀ > 0 ×3"."""
    parts = [", ".join(f"{k} ×{n}" for k, n in d.items()) for d in (entry["backends"], entry["confirmations"], entry["certificates"]) if d]
    if entry.get("judged_from_later_start"):
        parts.append(f"from t₀ > 0 ×{entry['judged_from_later_start']}")
    return "; ".join(parts)
