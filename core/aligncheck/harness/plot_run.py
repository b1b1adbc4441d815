"""A picture of a checked run (``aligncheck check --plot FILE``, and the API's :func:`plot_run`).

One panel per limit claim (its gap against the layer scale, log-log, with the late window the
judge read, the rate lines it tested, threshold and floor), per bound claim (the measured side
against Lemma 2's bound), and the run's risk and layer norms; each panel's title names its claim
ids and verdicts. A ``--late-phase`` run's float64 part is drawn solid and its high-precision
continuation dashed, with the point where float64 stopped marked. The numbers drawn are those of
:func:`aligncheck.harness.run_panels.run_panels` (returned, so that a caller or a test can read
them); nothing is computed here but positions on the page.

matplotlib is imported only when drawing, on its Agg canvas (no pyplot, no global backend).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aligncheck.errors import ProblemError
from aligncheck.harness.run_panels import Panel, run_panels

FORMATS = ("png", "svg")
PNG_DPI = 110
PANEL_SIZE = (5.6, 4.0)  # inches per panel
COLUMNS = 3
STATUS_COLOURS = {"holds": "tab:green", "violated": "tab:red", "inconclusive": "tab:orange", "not_applicable": "0.45", "not judged": "0.45"}
PART_COLOURS = ("tab:blue", "tab:purple", "tab:brown", "tab:cyan", "tab:olive", "tab:pink")
NOTE_LINES = 3
FLOOR_DECADES = 4  # a floor further below the data than this is not drawn (the legend says so)


@dataclass(frozen=True)
class RunPlot:
    """What :func:`plot_run` wrote: the file (None for a file object) and the panels drawn."""

    path: Path | None
    panels: list[Panel]


def plot_format(path: str | Path) -> str:
    """"png" or "svg" from the file name's extension (case-insensitive); ProblemError otherwise."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ProblemError(f"--plot {path}: the file name must end in .png or .svg (the format is taken from it), got {Path(path).suffix or 'no extension'!r}")
    return ext


def check_plot_path(path: str | Path) -> str:
    """The plot's format, refusing before a run what would fail after it: a bad extension, a
    missing directory, a directory in the file's place."""
    fmt = plot_format(path)
    path = Path(path)
    if path.is_dir():
        raise ProblemError(f"--plot {path}: is a directory")
    if not path.parent.is_dir():
        raise ProblemError(f"--plot {path}: the directory {path.parent} does not exist")
    return fmt


def plot_run(outcome, target: str | Path | IO[bytes], *, claims: Iterable[str] | None = None, context: bool = True,
             fmt: str | None = None, title: str | None = None) -> RunPlot:
    """Draw the run behind ``outcome``'s verdicts (a RunOutcome from run_checked) into ``target``
    (a path ending in .png or .svg, or a binary file object with ``fmt`` "png" or "svg").

    ``claims``: the claim ids to draw (default: all judged; see run_panels); with
    ``context=False`` only their panels, e.g. ``plot_run(o, buf, claims=["gf.rank_one"],
    context=False, fmt="png")`` draws one claim's convergence alone. Returns the panels drawn.
    """
    if isinstance(target, (str, Path)):
        fmt = plot_format(target)
    elif fmt not in FORMATS:
        raise ProblemError(f"fmt must be one of {', '.join(FORMATS)} for a file object, got {fmt!r}")
    panels = run_panels(outcome, claims, context=context)
    if not panels:
        raise ProblemError("nothing to draw: no claim was asked for")
    render_panels(panels, target, fmt, title if title is not None else default_title(outcome))
    return RunPlot(Path(target) if isinstance(target, (str, Path)) else None, panels)


def plot_claim(outcome, cid: str, target: str | Path | IO[bytes], *, fmt: str | None = None) -> RunPlot:
    """One claim's panel alone (its convergence plot): ``plot_run(outcome, target, claims=[cid], context=False)``."""
    return plot_run(outcome, target, claims=[cid], context=False, fmt=fmt, title="")


def default_title(outcome) -> str:
    """One line naming the run: method, depth and widths, loss, init and seed, arithmetic."""
    spec, traj = outcome.spec, outcome.trajectory
    widths = [W.shape[0] for W in traj.initial[:-1]]
    arith = traj.backend.name
    if traj.late_phase is not None:
        arith = f"{traj.late_phase.head}, then {traj.backend.name} from s = {traj.late_phase.switched_at_s:.4g}"
    return (f"aligncheck check: {spec.method}, depth {spec.depth} (widths {widths or '—'}), {spec.loss} loss, {spec.init} init, "
            f"seed {spec.seed}, n = {traj.Z.shape[0]}, d = {traj.Z.shape[1]}; {arith}; stopped: {traj.stop_reason}")


def render_panels(panels: list[Panel], target: str | Path | IO[bytes], fmt: str, title: str = "", dpi: int = PNG_DPI) -> None:
    """Draw ``panels`` (COLUMNS to a row) with the heading ``title`` into ``target`` as ``fmt`` ("png" or "svg"; ``dpi``: PNG's)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / cols)
    heading = textwrap.wrap(title, 45 * cols) if title else []
    top = 0.45 + 0.18 * len(heading)  # inches above the first row of panels
    fig = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows + top - 0.45))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        draw_panel(ax, panel)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    if heading:
        fig.suptitle("\n".join(heading), fontsize=9, y=1 - 0.08 / fig.get_size_inches()[1], va="top")
    # Fixed margins (inches), not tight_layout: measured, tight_layout took 40% of the drawing time.
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.2 / w, bottom=0.75 / h, top=1 - top / h, wspace=0.95 / (PANEL_SIZE[0] - 0.95),
                        hspace=1.3 / (PANEL_SIZE[1] - 1.3))
    if fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "aligncheck-plot"}):  # the same bytes for the same run
            fig.savefig(target, format="svg", metadata={"Date": None})
    else:
        fig.savefig(target, format="png", dpi=dpi)


def _style(segment: str, first_segment: str) -> dict:
    """float64 (or the run's only arithmetic) solid; a high-precision continuation dashed and thicker."""
    return {"ls": "-", "lw": 1.2} if segment == first_segment else {"ls": "--", "lw": 1.8}


def draw_panel(ax, panel: Panel) -> None:
    """Draw one panel on a matplotlib Axes (the panel's numbers as they are; see run_panels)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullLocator

    status = panel.claims[0][1] if len(panel.claims) == 1 else next((s for _, s in panel.claims if s != "holds"), "holds")
    # y given: matplotlib then skips placing the title clear of the tick labels (a third of the drawing time)
    ax.set_title("\n".join(textwrap.wrap(panel.title, 60)), fontsize=8.5, color=STATUS_COLOURS.get(status, "black"), y=1.01)
    if not panel.curves:
        ax.set_axis_off()
        ax.text(0.02, 0.98, "\n".join(textwrap.fill(line, 85, subsequent_indent="  ") for line in panel.note.splitlines()) or "nothing to draw",
                transform=ax.transAxes, va="top", ha="left", fontsize=6.5, family="monospace" if panel.key == "notes" else None)
        return
    segs = [c.segment for c in panel.curves if c.segment]
    first = segs[0] if segs else ""
    for x0, x1 in panel.windows:
        ax.axvspan(x0, x1, color="0.92", zorder=0)
    bottom = _bottom(panel)
    for c in panel.curves:
        colour = PART_COLOURS[c.part % len(PART_COLOURS)]
        st = _style(c.segment, first)
        if c.role in ("gap", "lhs", "risk", "norm", "drift"):
            ax.plot(c.x, c.y, color=colour, marker="o", ms=2.2, label=c.label, **st)
        elif c.role == "gap_negative":
            ax.plot(c.x, c.y, ls="none", marker="o", mfc="none", mec=colour, ms=5, label=f"{c.segment}: q < 0, |q| drawn")
        elif c.role == "gap_zero":
            ax.plot(c.x, [0.0] * len(c.x), ls="none", marker="v", color=colour, ms=6, clip_on=False, transform=ax.get_xaxis_transform(),
                    label=f"= 0 as a float64 (exactly 0, or below 1e-308): on the axis ({len(c.x)})")
        elif c.role == "rate":
            ax.plot(c.x, c.y, color=colour, ls=(0, (5, 2)), lw=0.9, alpha=0.8, label=c.label)
        elif c.role == "rate_slack":
            ax.plot(c.x, c.y, color=colour, ls=(0, (1, 2)), lw=0.9, alpha=0.8, label=c.label)
        elif c.role in ("rhs", "rhs_tol"):
            ax.plot(c.x, c.y, color=colour, ls=(0, (5, 2)) if c.role == "rhs" else (0, (1, 2)), lw=1.0, label=c.label)
    for line in panel.lines:
        if line.axis == "y":
            below = " (below the axis)" if bottom is not None and line.at < bottom else ""
            ax.axhline(line.at, color="black" if line.role == "threshold" else "0.55", lw=0.9, ls="-." if line.role == "threshold" else ":",
                       label=line.label + below)
        else:
            colour = "tab:red" if line.role == "float64_stop" else "0.4"
            ax.axvline(line.at, color=colour, lw=0.9, ls=":", label=line.label)
            if line.y is not None and line.y > 0:
                ax.plot([line.at], [line.y], marker="*", ms=10, color=colour, ls="none")
    ax.set_xscale(panel.xscale)
    if panel.yscale == "symlog":
        ax.set_yscale("symlog", linthresh=1.0)
        ys = [float(v) for c in panel.curves for v in c.y if math.isfinite(v)]
        if ys:
            ax.set_ylim(bottom=min(0.0, min(ys) * 1.1))
    else:
        ax.set_yscale(panel.yscale)
        if panel.yscale == "log" and bottom is not None:
            ax.set_ylim(bottom=bottom)
    for axis, scale in ((ax.xaxis, panel.xscale), (ax.yaxis, panel.yscale)):
        if scale != "linear":  # major decades only: minor log ticks cost more than the data
            axis.set_minor_locator(NullLocator())
    ax.set_xlabel(panel.xlabel, fontsize=7.5)
    ax.set_ylabel("\n".join(textwrap.wrap(panel.ylabel, 45)), fontsize=7.5)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", color="0.9", lw=0.6)
    handles, labels = ax.get_legend_handles_labels()
    if len({c.segment for c in panel.curves if c.segment}) > 1:
        for seg in dict.fromkeys(c.segment for c in panel.curves if c.segment):
            handles.append(Line2D([], [], color="0.3", **_style(seg, first)))
            labels.append(f"states: {seg}")
    if panel.windows:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.92"))
        labels.append("late window (judged)")
    ax.legend(handles, labels, fontsize=5.5, loc="best", framealpha=0.8)
    if panel.note:  # under the x label, at most NOTE_LINES lines (the full reasons are in the report)
        lines = textwrap.wrap(panel.note, 110)
        if len(lines) > NOTE_LINES:
            lines = lines[: NOTE_LINES - 1] + [lines[NOTE_LINES - 1][:105] + " …"]
        ax.text(0.0, -0.2, "\n".join(lines), transform=ax.transAxes, fontsize=5.5, va="top", ha="left", color="0.25")


def _bottom(panel: Panel) -> float | None:
    """A log axis' lower limit: a decade below the smallest positive value drawn (lines included;
    a floor only when within FLOOR_DECADES of the data, else it is listed as below the axis), so
    that the points at q = 0, drawn on the edge, sit below every drawn value."""
    ys = [float(v) for c in panel.curves if c.role != "gap_zero" for v in c.y if v > 0 and math.isfinite(v)]
    lowest = min(ys) if ys else math.inf
    ys += [ln.at for ln in panel.lines if ln.axis == "y" and ln.at > 0 and (ln.role != "floor" or ln.at >= lowest * 10.0**-FLOOR_DECADES)]
    return 10.0 ** (math.floor(math.log10(min(ys))) - 1) if ys else None


__all__ = ["FORMATS", "RunPlot", "check_plot_path", "default_title", "draw_panel", "plot_claim", "plot_format", "plot_run", "render_panels"]
