"""The session report as a short Markdown summary (reports/conjectures.md), fit for a CI job summary
or a pull-request comment: the per-claim table, every violation with its replay command, the
missed negative controls and the measured rates. It renders the JSON of aligncheck.harness.report."""

from __future__ import annotations

import math

COUNTS = ("examples", "holds", "violated", "inconclusive", "not_applicable")


def fmt_value(x: float | str | None) -> str:
    """A report value for a table: 4 significant digits, "—" for none (non-finite ones travel as strings)."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def fmt_counter(c: dict) -> str:
    """{"float64": 3, "mpmath-50": 1} as "float64 ×3, mpmath-50 ×1" ("—" when empty)."""
    return ", ".join(f"{k} ×{n}" for k, n in c.items()) or "—"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claim_rows(doc: dict) -> list[dict]:
    """Every claim of the report, theorems first, then conjectures."""
    return list(doc.get("claims", [])) + list(doc.get("conjectures", []))


def render_markdown(doc: dict) -> str:
    """The Markdown summary of the report ``doc`` (Recorder.as_json(), with its metadata)."""
    meta = doc.get("metadata", {})
    rows = claim_rows(doc)
    failed = [c for c in doc.get("claims", []) if c["status"] != "pass"]
    out = ["# aligncheck: conjecture session", ""]
    head = f"{len(doc.get('claims', []))} claims, {len(failed)} not passing; {len(doc.get('conjectures', []))} conjectures"
    if meta:
        head += (f" — commit `{(meta.get('git_commit') or '?')[:12]}`, profile {meta.get('hypothesis_profile')}, "
                 f"{meta.get('wall_time_s')} s, {meta.get('workers') or 1} process(es)")
    out.append(head + ".")
    if doc.get("partial"):
        out.append(f"\n**Partial report**: {len(doc.get('deselected', []))} item(s) deselected (`{_cell(doc.get('selection', ''))}`).")
    out += ["", "| claim | status | examples | holds | violated | inconclusive | n/a | worst | threshold | backend | certificates |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    for c in rows:
        status = c["status"] if c["status"] in ("pass", "supported") else f"**{c['status']}**"
        out.append(f"| `{c['id']}` | {status} | " + " | ".join(str(c[k]) for k in COUNTS)
                   + f" | {fmt_value(c['worst'])} | {fmt_value(c['worst_threshold'])} | {_cell(fmt_counter(c['backends']))} | {_cell(fmt_counter(c['certificates']))} |")
    violations = [(c["id"], v) for c in rows for v in c["violations"]]
    out += ["", f"## Violations ({len(violations)})", ""]
    out += [f"- `{cid}` (problem {v['case']}, seed {v['seed']}, init seed {v['init_seed']}): {_cell(v['reason'])}  \n  replay: `{v['replay']}`"
            for cid, v in violations] or ["none"]
    missed = [c for c in doc.get("controls", []) if c["status"] != "flagged"]
    if missed:
        out += ["", "## Negative controls missed", ""] + [f"- `{c['id']}`: expected {c['expected']}, observed {c['observed']}" for c in missed]
    out += ["", "## Measured rates", "", markdown_rates(doc)]
    return "\n".join(out) + "\n"


def rate_rows(doc: dict) -> list[tuple[str, str, dict]]:
    """(claim, depth, entry) per claim and depth of the report's measured rates."""
    return [(cid, depth, e) for cid, r in doc.get("rates", {}).items() for depth, e in r["by_depth"].items()]


def agreement(e: dict) -> str:
    """How a rate entry compares with its expected exponent, in words."""
    return {True: "agrees", False: "**differs**", None: "too few runs" if len(e.get("expected", [])) <= 1 else "several expected"}[e.get("agrees")]


def markdown_rates(doc: dict) -> str:
    """The measured decay exponents per claim (with each depth's median; * where it differs from the
    expected exponent) and the report's findings about them."""
    rates = doc.get("rates", {})
    if not rates:
        return "No run measured a decay exponent (no limit claim was judged on a gradient-flow run).\n"
    lines = ["Decay exponent p of each limit claim's gap (gap ∝ scale^-p), fitted over each run's late window; "
             "a difference from the expected exponent is a finding, not a verdict.", "",
             "| claim | runs | median | quartiles | expected | median by depth (* differs) |", "|---|--:|--:|---|--:|---|"]
    for cid, r in rates.items():
        depths = ", ".join(f"{d}: {e['median']:.3g}{'*' if e['agrees'] is False else ''}" for d, e in r["by_depth"].items())
        lines.append(f"| `{cid}` | {r['runs']} | {r['median']:.3g} | {r['q1']:.3g} – {r['q3']:.3g} | "
                     f"{', '.join(f'{x:g}' for x in r['expected']) or '—'} | {depths} |")
    findings = doc.get("rate_findings", [])
    lines += ["", "Findings: " + ("none: every depth with enough runs measured the expected exponent." if not findings else "")]
    lines += [f"- {f}" for f in findings]
    return "\n".join(lines) + "\n"
