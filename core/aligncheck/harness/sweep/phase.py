"""Phase diagrams of a sweep (matplotlib heatmaps) and the HTML report that holds them.

A phase diagram over two axes X × Y shows, per (x, y), the fraction of verdicts of the chosen
claims that were judged, (holds + violated) / (holds + violated + inconclusive): where it falls
from 1 to 0 the runs stop reaching the phase where the claims can be judged, which is where the
theorems' assumptions (a margin, a depth, an initialisation) start to bite. Verdicts that are not
applicable (an assumption fails) are outside the theorem and left out of the fraction; a square
with none judged either way is blank. The default claims are the max-margin ones (their judgeable
phase is the support-vector phase), else every limit claim recorded.
"""

from __future__ import annotations

import base64
import html
import io
import math
from itertools import combinations
from pathlib import Path

import numpy as np

from aligncheck.claims.registry import REGISTRY
from aligncheck.errors import ProblemError
from aligncheck.harness.sweep.db import SweepDB
from aligncheck.harness.sweep.summary import STATUSES, _in, cell_rows, column, fmt, selected_claims, varying_axes, worst_runs

MAX_MARGIN_CLAIMS = ("gf.max_margin_v1", "gf.max_margin_product", "gf.margin_corollary")
# The HTML report draws at most this many axis pairs (the first ones in AXES order).
MAX_PAIRS = 6


def phase_claims(db: SweepDB, patterns: list[str] | None) -> list[str]:
    """The claims a phase diagram is about: those of ``patterns``, else the max-margin claims
    recorded, else every recorded limit claim."""
    if patterns is not None:
        return selected_claims(db, patterns)
    have = selected_claims(db, None)
    return [c for c in have if c in MAX_MARGIN_CLAIMS] or [c for c in have if c in REGISTRY and REGISTRY[c].kind == "limit"] or have


def phase_grid(db: SweepDB, x: str, y: str, claims: list[str]) -> tuple[list, list, np.ndarray, np.ndarray]:
    """(x values, y values, fraction judged (len(y), len(x)), NaN where nothing was judged either way;
    number of verdicts counted per square)."""
    where, args = _in(claims)
    rows = db.query(f"SELECT {column(x)} AS x, {column(y)} AS y, status, COUNT(*) AS k FROM results WHERE {where} "
                    f"GROUP BY x, y, status", args)
    xs = sorted({r["x"] for r in rows}, key=_order)
    ys = sorted({r["y"] for r in rows}, key=_order)
    judged, counted = np.zeros((len(ys), len(xs))), np.zeros((len(ys), len(xs)))
    for r in rows:
        i, j = ys.index(r["y"]), xs.index(r["x"])
        if r["status"] in ("holds", "violated"):
            judged[i, j] += r["k"]
        if r["status"] != "not_applicable":
            counted[i, j] += r["k"]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(counted > 0, judged / np.maximum(counted, 1), np.nan)
    return xs, ys, frac, counted


def _order(v: object) -> tuple:
    return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v))


def phase_figure(db: SweepDB, x: str, y: str, claims: list[str]):
    """The matplotlib Figure of one phase diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, frac, counted = phase_grid(db, x, y, claims)
    if not xs or not ys:
        raise ProblemError(f"no verdicts of {', '.join(claims)} to draw over {x} × {y}")
    fig, ax = plt.subplots(figsize=(1.1 + 0.9 * len(xs), 1.2 + 0.6 * len(ys)), dpi=100)
    im = ax.imshow(np.ma.masked_invalid(frac), origin="lower", cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if math.isfinite(frac[i, j]):
                ax.text(j, i, f"{frac[i, j]:.2f}\nn={int(counted[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if frac[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(xs)), [fmt(v) for v in xs])
    ax.set_yticks(range(len(ys)), [fmt(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    title = ", ".join(claims) if len(claims) <= 3 else f"{len(claims)} claims"
    ax.set_title(f"fraction judged (holds or violated)\n{title}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    return fig


def phase_png(db: SweepDB, x: str, y: str, claims: list[str] | None, out: Path) -> Path:
    """Write the phase diagram over x × y (of ``claims``' patterns, see phase_claims) as PNG."""
    import matplotlib.pyplot as plt

    fig = phase_figure(db, x, y, phase_claims(db, claims))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _img(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(head: list[str], rows: list[list[str]], bad: list[bool]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join(f'<tr{" class=bad" if b else ""}>' + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r, b in zip(rows, bad))
    return f"<table><tr>{th}</tr>{trs}</table>"


def write_html(db: SweepDB, out: Path, *, by: list[str] | None, claims: list[str] | None, worst: int) -> Path:
    """The HTML report: phase diagrams over every pair of varying axes (up to MAX_PAIRS), the table
    per cell and claim (all of it), and the worst runs per claim with replay commands."""
    chosen = selected_claims(db, claims)
    by = varying_axes(db) if by is None else by
    parts = [f"<h1>aligncheck sweep: {html.escape(str(db.path))}</h1><p>{db.count_runs()} runs, {len(chosen)} claims</p>"]
    pclaims = phase_claims(db, claims)
    numeric = [a for a in varying_axes(db)]
    for x, y in list(combinations(numeric, 2))[:MAX_PAIRS]:
        parts.append(f"<h2>phase diagram: {html.escape(y)} × {html.escape(x)}</h2>" + _img(phase_figure(db, x, y, pclaims)))
    rows = cell_rows(db, by, chosen)
    head = [*by, "claim", "runs", *STATUSES, "median value", "support phase", "median t_support", "s/run"]
    parts.append("<h2>per cell and claim</h2>" + _table(head, [[*(fmt(r["cell"][a]) for a in by), r["claim"], str(r["runs"]),
                 *(f"{r[s]:.2f}" for s in STATUSES), fmt(r["median_value"]), f"{r['support_phase']:.2f}",
                 fmt(r["median_t_support"]), fmt(r["median_wall"])] for r in rows], [bool(r["violated"]) for r in rows]))
    w = [(c, r) for c in chosen for r in worst_runs(db, c, worst)]
    parts.append(f"<h2>worst runs (closest calls), {worst} per claim</h2>" + _table(
        ["claim", "status", "value", "threshold", "confirmation", "reason", "replay"],
        [[c, r["status"], fmt(r["value"]), fmt(r["threshold"]), r["confirmation"] or "", r["reason"], r["replay"]] for c, r in w],
        [r["status"] == "violated" for _, r in w]))
    style = "<style>body{font-family:sans-serif}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}tr.bad{color:#b00;font-weight:bold}</style>"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset=utf-8><title>aligncheck sweep</title>{style}</head><body>{''.join(parts)}</body></html>")
    return out
