"""What a sweep database shows, as numbers: per cell (the values of the axes grouped by) and claim,
the fractions holds / violated / inconclusive / not applicable, the median measured value, the
median time to the support-vector phase (from where the max-margin claims are judged); and per claim the worst runs (closest calls) with replay
commands. Read by streaming sorted rows (no table is loaded whole), rendered with rich."""

from __future__ import annotations

import fnmatch
import heapq
import json
import math
import statistics
from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aligncheck.claims.registry import REGISTRY
from aligncheck.errors import ProblemError
from aligncheck.harness.runner import replay_command, save_case
from aligncheck.harness.sweep.db import SweepDB
from aligncheck.harness.sweep.hunt import closeness
from aligncheck.harness.sweep.problems import build_problem
from aligncheck.harness.sweep.spec import AXES, run_spec

STATUSES = ("holds", "violated", "inconclusive", "not_applicable")
# Above this many table rows the terminal gets per-claim totals only (the HTML report has them all).
MAX_TERMINAL_ROWS = 120


def column(axis: str) -> str:
    """The runs table's column of an axis ("case" is stored as "problem": CASE is an SQL keyword)."""
    return "problem" if axis == "case" else axis


def varying_axes(db: SweepDB) -> list[str]:
    """The axes with more than one value among the recorded runs, in AXES order."""
    return [a for a in AXES if db.query(f"SELECT COUNT(DISTINCT {column(a)}) FROM runs")[0][0] > 1]


def selected_claims(db: SweepDB, patterns: list[str] | None) -> list[str]:
    """The claims recorded in ``db`` that match ``patterns`` (all by default), in registry order."""
    have = {r[0] for r in db.query("SELECT DISTINCT claim FROM verdicts")}
    order = [c for c in REGISTRY if c in have] + sorted(have - set(REGISTRY))
    chosen = [c for c in order if patterns is None or any(fnmatch.fnmatchcase(c, p) for p in patterns)]
    if patterns is not None and not chosen:
        raise ProblemError(f"--claims {','.join(patterns)}: no recorded claim matches (recorded: {', '.join(order) or 'none'})")
    return chosen


def _in(claims: list[str]) -> tuple[str, tuple]:
    return f"claim IN ({', '.join('?' * len(claims))})", tuple(claims)


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def cell_rows(db: SweepDB, by: list[str], claims: list[str]) -> list[dict]:
    """One dict per (cell of the ``by`` axes, claim): ``cell`` (axis -> value), ``claim``, ``runs``,
    the fraction of each status, ``median_value`` (over the verdicts that are not "not applicable"),
    ``support_phase`` (the fraction of runs that reached the support-vector phase, from where the
    max-margin claims are judged, see aligncheck.harness.sweep.task.support_phase_from),
    ``median_t_support`` (its time: log-norm time s, or the GD step) and ``median_wall`` (seconds per run on its worker)."""
    if not claims:
        return []
    cols = [column(a) for a in by]
    where, args = _in(claims)
    sel = ", ".join([*cols, "claim", "status", "value", "t_support", "task_wall"])
    rows = db.query(f"SELECT {sel} FROM results WHERE {where} ORDER BY {', '.join([*cols, 'claim'])}", args)
    rank = {c: i for i, c in enumerate(claims)}
    out = []
    for (*cell, claim), group in groupby(rows, key=lambda r: (*[r[c] for c in cols], r["claim"])):
        g = list(group)
        counts = {s: sum(r["status"] == s for r in g) for s in STATUSES}
        t = [r["t_support"] for r in g if r["t_support"] is not None]
        out.append({"cell": dict(zip(by, cell)), "claim": claim, "runs": len(g), **{s: counts[s] / len(g) for s in STATUSES},
                    "median_value": _median([r["value"] for r in g if r["value"] is not None and r["status"] != "not_applicable"]),
                    "support_phase": len(t) / len(g), "median_t_support": _median(t),
                    "median_wall": _median([r["task_wall"] for r in g if r["task_wall"] is not None])})
    out.sort(key=lambda r: rank[r["claim"]])  # stable: cells stay in order within a claim
    return out


def worst_runs(db: SweepDB, claim: str, k: int) -> list[dict]:
    """The ``k`` runs closest to violating ``claim`` (violations first; hunt.closeness), each with
    its key, cell, seeds, status, value, threshold, reason, confirmation and replay command."""
    c = REGISTRY.get(claim)
    if c is None:
        return []
    rows = db.query("SELECT key, cell, problem_seed, init_seed, status, value, threshold, reason, confirmation, replay "
                    "FROM results WHERE claim = ?", (claim,))
    scored = ((closeness(c, r["status"], r["value"], r["threshold"]), i, r) for i, r in enumerate(rows))
    top = heapq.nlargest(k, ((s, i, r) for s, i, r in scored if s is not None), key=lambda e: (e[0], -e[1]))
    return [{"score": s, **{f: r[f] for f in r.keys()}, "replay": r["replay"] or f"aligncheck sweep-report {db.path} --replay {r['key']}"}
            for s, i, r in top]


def replay_run(db: SweepDB, key: str) -> str:
    """Rebuild run ``key``'s data (it is a pure function of its cell and seeds), save it beside the
    database, and return the ``aligncheck check`` command that replays the run."""
    rows = db.query("SELECT cell, problem_seed, init_seed FROM runs WHERE key = ?", (key,))
    if not rows:
        raise ProblemError(f"no run with key {key!r} in {db.path}")
    params = {**json.loads(rows[0]["cell"]), "problem_seed": rows[0]["problem_seed"], "init_seed": rows[0]["init_seed"]}
    path = save_case(build_problem(params), db.path.with_suffix(".cases"), f"{params['case']}-{params['problem_seed']}-{key[:8]}")
    return replay_command(path, run_spec(params))


def fmt(x: object) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3g}" if math.isfinite(x) else str(x)
    return str(x)


def render(db: SweepDB, *, by: list[str] | None, claims: list[str] | None, worst: int, console: Console | None = None) -> None:
    """Print the per-cell table (or per-claim totals when it would be too long), and the worst runs."""
    con = console or Console(highlight=False, width=160)
    n_runs = db.count_runs()
    errors = db.query("SELECT COUNT(*) FROM runs WHERE error IS NOT NULL")[0][0]
    lost = len(db.inflight())
    chosen = selected_claims(db, claims)
    by = varying_axes(db) if by is None else by
    con.print(Text(f"{db.path}: {n_runs} runs ({errors} refused or failed{f', {lost} in flight when a sweep was killed' if lost else ''}), "
                   f"{len(chosen)} claims; cells grouped by {', '.join(by) or '(one cell)'}"))
    rows = cell_rows(db, by, chosen)
    if len(rows) > MAX_TERMINAL_ROWS:
        con.print(Text(f"{len(rows)} (cell, claim) rows: per-claim totals below; --by fewer axes, --claims, or --html for all", style="yellow"))
        by, rows = [], cell_rows(db, [], chosen)
    t = Table(title="per cell and claim", title_justify="left")
    for h in [*by, "claim", "runs", "holds", "violated", "inconcl.", "n/a", "median value", "support phase", "median t_support", "s/run"]:
        t.add_column(h, justify="left" if h in (*by, "claim") else "right", no_wrap=True)
    for r in rows:
        t.add_row(*[fmt(r["cell"][a]) for a in by], r["claim"], str(r["runs"]), *(f"{r[s]:.2f}" for s in STATUSES),
                  fmt(r["median_value"]), f"{r['support_phase']:.2f}", fmt(r["median_t_support"]), fmt(r["median_wall"]),
                  style="bold red" if r["violated"] else None)
    con.print(t)
    w = Table(title=f"worst runs (closest calls), {worst} per claim", title_justify="left")
    for h in ("claim", "status", "value", "threshold", "confirmation", "reason", "replay"):
        w.add_column(h, overflow="fold")
    for c in chosen:
        for r in worst_runs(db, c, worst):
            w.add_row(c, r["status"], fmt(r["value"]), fmt(r["threshold"]), r["confirmation"] or "", r["reason"], r["replay"],
                      style="bold red" if r["status"] == "violated" else None)
    con.print(w)
