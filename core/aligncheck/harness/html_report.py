"""The session report as one self-contained web page (reports/conjectures.html): no network, every
image inline (PNG as base64 data URIs), rendered from the JSON of aligncheck.harness.report alone.

Order: the per-claim table (status, counts, worst value, backend, certificates), then one section
per claim (``id`` = the claim id: statement, source, verdict distribution, the convergence plot of
its worst and of a typical example, drawn by aligncheck.harness.plot_run from the panel data the
JSON stores, every violation with its replay command), then the conjectures, the negative
controls, the edge cases reached, the assumption patterns and the measured rates.

:func:`write_pages` writes the page and the Markdown summary (aligncheck.harness.md_report);
:func:`load_report` reads a report JSON for ``aligncheck report``, refusing what is not one.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

from aligncheck.claims.assumptions import ASSUMPTIONS
from aligncheck.errors import ProblemError
from aligncheck.harness.md_report import COUNTS, agreement, fmt_counter, fmt_value, rate_rows, render_markdown
from aligncheck.harness.report_plots import panel_from_dict

REPORT_KEYS = ("claims", "conjectures", "controls", "assumption_patterns", "edge_cases")
PLOT_DPI = 80  # the page's plots: two panels side by side, 900 px wide
STATUS_CLASS = {"pass": "ok", "supported": "ok", "fail": "bad", "counterexample found": "bad", "open": "warn",
                "holds": "ok", "violated": "bad", "inconclusive": "warn", "not_applicable": "na", "flagged": "ok", "missed": "bad"}
VERDICTS = ("holds", "violated", "inconclusive", "not_applicable")
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:2px 7px;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}code{font-size:12px;background:#f5f5f5;padding:1px 3px;word-break:break-all}
.ok{color:#176e22}.bad{color:#b00;font-weight:bold}.warn{color:#a65b00}.na{color:#777}
section.claim{border-top:2px solid #ddd;margin-top:1.4em}img{max-width:100%;border:1px solid #eee}
.bar{display:flex;height:14px;width:420px;border:1px solid #ccc}.bar span{display:block;height:100%}
.b-holds{background:#4caf50}.b-violated{background:#d32f2f}.b-inconclusive{background:#ff9800}.b-not_applicable{background:#bbb}
.meta{color:#555;font-size:13px}td:first-child,th:first-child{text-align:left}
"""


def load_report(path: str | Path) -> dict:
    """The report JSON at ``path``; ProblemError (one line) when it is missing, unreadable, not JSON
    or not an aligncheck session report."""
    path = Path(path)
    if path.is_dir():
        raise ProblemError(f"{path}: is a directory, not a report JSON (e.g. reports/conjectures.json)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ProblemError(f"{path}: not a text file") from None
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    missing = [k for k in REPORT_KEYS if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise ProblemError(f"{path}: not an aligncheck session report (no {', '.join(missing)}); `pytest conjectures/` writes one")
    return doc


def page_paths(json_path: str | Path) -> tuple[Path, Path]:
    """The page and the summary beside a report JSON: the same name, .html and .md."""
    p = Path(json_path)
    return p.with_suffix(".html"), p.with_suffix(".md")


def write_pages(doc: dict, html_path: str | Path, md_path: str | Path) -> tuple[Path, Path]:
    """Write the report ``doc`` as a web page and as Markdown; returns both paths."""
    html_path, md_path = Path(html_path), Path(md_path)
    for p in (html_path, md_path):
        if p.is_dir():
            raise ProblemError(f"{p}: is a directory")
        if not p.parent.is_dir():
            raise ProblemError(f"{p}: the directory {p.parent} does not exist")
    html_path.write_text(render_html(doc), encoding="utf-8")
    md_path.write_text(render_markdown(doc), encoding="utf-8")
    return html_path, md_path


def _e(x: object) -> str:
    return escape(str(x))


def _status(s: str) -> str:
    return f'<span class="{STATUS_CLASS.get(s, "")}">{_e(s)}</span>'


def plot_png(entries: list[tuple[str, dict]]) -> str | None:
    """The panels of ``entries`` ([(heading, plot entry with its "panel")]) side by side, as a PNG data URI."""
    from aligncheck.harness.plot_run import render_panels  # matplotlib only when there is something to draw

    panels = []
    for heading, entry in entries:
        if entry.get("panel"):
            panel = panel_from_dict(entry["panel"])
            panel.title = f"{heading}: {panel.title}"
            panels.append(panel)
    if not panels:
        return None
    buf = io.BytesIO()
    render_panels(panels, buf, "png", dpi=PLOT_DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _example(entry: dict) -> str:
    return (f"problem {_e(entry.get('case'))} seed {_e(entry.get('seed'))}, init seed {_e(entry.get('init_seed'))}, "
            f"depth {_e(entry.get('depth'))}: {_status(entry['status'])}, value {_e(fmt_value(entry['value']))}")


def claims_table(rows: list[dict], table_id: str) -> str:
    """The per-claim table: status, counts, worst value and threshold, backends, certificates."""
    cols = ["claim", "status", *COUNTS, "worst", "threshold", "backend", "certificates"]
    head = "".join(f'<th class="{"l" if c in ("claim", "status", "backend", "certificates") else ""}">{_e("n/a" if c == "not_applicable" else c)}</th>' for c in cols)
    body = []
    for c in rows:
        cells = [f'<td class="l"><a href="#{_e(c["id"])}">{_e(c["id"])}</a></td>', f'<td class="l" data-col="status">{_status(c["status"])}</td>']
        cells += [f'<td data-col="{k}">{c[k]}</td>' for k in COUNTS]
        cells += [f'<td data-col="worst">{_e(fmt_value(c["worst"]))}</td>', f'<td>{_e(fmt_value(c["worst_threshold"]))}</td>',
                  f'<td class="l">{_e(fmt_counter(c["backends"]))}</td>', f'<td class="l">{_e(fmt_counter(c["certificates"]))}</td>']
        body.append(f'<tr data-claim="{_e(c["id"])}">{"".join(cells)}</tr>')
    return f'<table id="{table_id}"><tr>{head}</tr>{"".join(body)}</table>'


def claim_section(c: dict, doc: dict) -> str:
    """One claim's section (its element's id is the claim id)."""
    paper = doc.get("papers", {}).get(c.get("paper"), {}).get("citation", c.get("paper", ""))
    out = [f'<section class="claim" id="{_e(c["id"])}"><h3>{_e(c["id"])} — {_status(c["status"])}</h3>',
           f'<p><b>{_e(c.get("statement", ""))}</b><br><span class="meta">{_e(c.get("kind", ""))}; {_e(c.get("source", ""))}; {_e(paper)}</span></p>']
    n = max(c["examples"], 1)
    bar = "".join(f'<span class="b-{s}" style="width:{100 * c[s] / n:.2f}%" title="{s}: {c[s]}"></span>' for s in VERDICTS if c[s])
    out.append(f'<div class="bar">{bar}</div><p>{c["examples"]} examples: '
               + ", ".join(f'{_status(s)} {c[s]}' for s in VERDICTS) + (f" — {_e(c['note'])}" if c.get("note") else "") + "</p>")
    facts = [f"worst judged value {_e(fmt_value(c['worst']))} (threshold {_e(fmt_value(c['worst_threshold']))}, worst end: {_e(c['worst_direction'])})"]
    if c.get("worst_inconclusive") is not None:
        facts.append(f"worst inconclusive value {_e(fmt_value(c['worst_inconclusive']))}")
    facts.append(f"backends: {_e(fmt_counter(c['backends']))}")
    for key in ("confirmations", "certificates"):
        if c.get(key):
            facts.append(f"{key}: {_e(fmt_counter(c[key]))}")
    if c.get("judged_from_later_start"):
        facts.append(f"{c['judged_from_later_start']} judged from a later start (A1.2)")
    rate = doc.get("rates", {}).get(c["id"])
    if rate:
        facts.append(f"measured decay exponent: median {rate['median']:.3g} (quartiles {rate['q1']:.3g}–{rate['q3']:.3g}, {rate['runs']} runs), "
                     f"expected {_e(', '.join(f'{x:g}' for x in rate['expected']) or '—')} (<a href=\"#rates\">rates</a>)")
    out.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    plot = doc.get("plots", {}).get(c["id"])
    if plot:
        entries = [("worst", plot["worst"])] + ([("typical", plot["typical"])] if "typical" in plot else [])
        uri = plot_png(entries)
        out.append("<p>" + "<br>".join(f"{h} example: {_example(e)}" + (f" (session median {fmt_value(e['median'])})" if "median" in e else "")
                                        + (f" — no plot: {_e(e['error'])}" if e.get("error") else "") for h, e in entries) + "</p>")
        if uri:
            out.append(f'<img alt="convergence of {_e(c["id"])}: worst and typical example" src="{uri}">')
    else:
        out.append('<p class="meta">No plot: no example of this claim has a series to draw (or none was judged).</p>')
    if c["violations"]:
        out.append(f"<h4>Violations ({len(c['violations'])})</h4><ul>" + "".join(
            f"<li>problem {_e(v['case'])}, seed {_e(v['seed'])}, init seed {_e(v['init_seed'])}: {_e(v['reason'])}<br>replay: <code>{_e(v['replay'])}</code></li>"
            for v in c["violations"]) + "</ul>")
    return "".join(out) + "</section>"


def _simple_table(table_id: str, cols: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    return f'<table id="{table_id}"><tr>{head}</tr>' + "".join("<tr>" + "".join(f"<td>{x}</td>" for x in r) + "</tr>" for r in rows) + "</table>"


def rates_section(doc: dict) -> str:
    """The measured decay exponents per claim and depth, their expected values and sources, and the findings."""
    out = ['<section id="rates"><h2>Measured rates</h2><p>The decay exponent p of each limit claim\'s gap (gap ∝ scale^-p), fitted '
           "by least squares over each run's late window (the judge's), per claim and depth, next to the exponent each verdict expected. "
           "A median off the expected exponent by more than a quarter of it is a finding, not a verdict: it changes no status.</p>"]
    rows = [[f'<a href="#{_e(cid)}">{_e(cid)}</a>', _e(depth), str(e["runs"]), f"{e['median']:.3g}", f"{e['q1']:.3g} – {e['q3']:.3g}",
             f"{e['min']:.3g} – {e['max']:.3g}", _e(", ".join(f"{x:g}" for x in e["expected"]) or "—"),
             f'<span class="{"warn" if e["agrees"] is False else ""}">{agreement(e).replace("**", "")}</span>']
            for cid, depth, e in rate_rows(doc)]
    if not rows:
        return out[0] + "<p>No run measured a decay exponent.</p></section>"
    out.append(_simple_table("rates-table", ["claim", "depth", "runs", "median", "quartiles", "range", "expected", ""], rows))
    findings = doc.get("rate_findings", [])
    out.append("<h3>Findings</h3>" + ("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in findings) + "</ul>" if findings
                                     else "<p>None: every depth with enough runs measured its expected exponent.</p>"))
    out.append("<h3>Where the expected exponents come from</h3><ul>" + "".join(
        f"<li><b>{_e(cid)}</b>: {_e(r.get('expected_source') or '—')}</li>" for cid, r in doc.get("rates", {}).items()) + "</ul>")
    return "".join(out) + "</section>"


def render_html(doc: dict) -> str:
    """The report ``doc`` (Recorder.as_json() with its metadata) as one self-contained HTML page."""
    meta = doc.get("metadata", {})
    claims, conj = doc.get("claims", []), doc.get("conjectures", [])
    body = ["<h1>aligncheck: conjecture session</h1>"]
    if meta:
        body.append(f'<p class="meta">commit {_e(meta.get("git_commit"))}, aligncheck {_e(meta.get("aligncheck_version"))}, '
                    f'hypothesis profile {_e(meta.get("hypothesis_profile"))}, {_e(meta.get("date"))}, {_e(meta.get("wall_time_s"))} s, '
                    f'{_e(meta.get("workers") or 1)} process(es); <code>pytest {_e(" ".join(meta.get("pytest_args", [])))}</code></p>')
    if doc.get("partial"):
        body.append(f'<p class="warn">Partial report: {len(doc.get("deselected", []))} item(s) deselected (<code>{_e(doc.get("selection", ""))}</code>).</p>')
    body.append("<h2>Claims</h2>" + claims_table(claims, "claims-table"))
    if conj:
        body.append("<p>Conjectures (evidence, not theorems): see <a href=\"#conjectures\">below</a>.</p>")
    body.append('<h2>The claims one by one</h2>' + "".join(claim_section(c, doc) for c in claims))
    body.append('<section id="conjectures"><h2>Conjectures (evidence, not theorems)</h2>'
                + (claims_table(conj, "conjectures-table") + "".join(claim_section(c, doc) for c in conj) if conj else "<p>None judged.</p>") + "</section>")
    controls = doc.get("controls", [])
    body.append('<section id="controls"><h2>Negative controls (the harness must flag these)</h2>'
                + (_simple_table("controls-table", ["control", "expected", "observed", "status"],
                                 [[_e(c["id"]), _e(c["expected"]), _e(c["observed"]), _status(c["status"])] for c in controls]) if controls else "<p>None.</p>") + "</section>")
    edges = doc.get("edge_cases", {})
    body.append('<section id="edge-cases"><h2>Edge cases reached</h2><p>Examples per edge case, and their verdicts over every claim judged.</p>'
                + (_simple_table("edge-table", ["edge case", "examples", *VERDICTS],
                                 [[_e(k), str(c["examples"]), *[str(c[s]) for s in VERDICTS]] for k, c in edges.items()]) if edges else "<p>None.</p>") + "</section>")
    body.append(patterns_section(doc.get("assumption_patterns", {})))
    body.append(rates_section(doc))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>aligncheck report</title>'
            f'<style>{CSS}</style></head><body>{"".join(body)}</body></html>\n')


def patterns_section(patterns: dict[str, int]) -> str:
    """Examples per assumption pattern (+ holds, − fails), one column per assumption, with their meanings."""
    rows = [(dict((tok[:-1], tok[-1]) for tok in p.split()), n) for p, n in patterns.items()]
    ids = [a for a in ASSUMPTIONS if any(a in r for r, _ in rows)] + sorted({a for r, _ in rows for a in r} - set(ASSUMPTIONS))
    table = _simple_table("patterns-table", [*ids, "examples"],
                          [[('<span class="ok">+</span>' if r[a] == "+" else '<span class="bad">−</span>') if a in r else "" for a in ids] + [str(n)]
                           for r, n in rows]) if rows else "<p>None recorded.</p>"
    legend = "<ul>" + "".join(f"<li><b>{_e(a)}</b>: {_e(ASSUMPTIONS[a])}</li>" for a in ids if a in ASSUMPTIONS) + "</ul>"
    return f'<section id="assumptions"><h2>Assumption patterns</h2>{table}{legend}</section>'
