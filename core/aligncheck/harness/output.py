"""What the command line prints: the JSON documents of ``aligncheck maxmargin`` and ``aligncheck
check`` (``--json``: one document on stdout, floats at full precision, non-finite verdict values as
strings), and their human-readable form rendered with rich."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aligncheck.claims.verdicts import Status
from aligncheck.data.maxmargin import MaxMargin
from aligncheck.data.problem import Problem
from aligncheck.harness.runner import RunOutcome, replay_command

STATUS_STYLE = {
    Status.VIOLATED.value: "bold red",
    Status.HOLDS.value: "green",
    Status.INCONCLUSIVE.value: "yellow",
    Status.NOT_APPLICABLE.value: "dim",
}


def max_margin_dict(mm: MaxMargin) -> dict:
    return {
        "u_bar": [float(v) for v in mm.u_bar],
        "gamma": float(mm.gamma),
        "support": [int(i) for i in mm.support],
        "sv_span_full": bool(mm.sv_span_full),
        "sv_span_data": bool(mm.sv_span_data),
    }


def check_dict(problem: Problem, outcome: RunOutcome, widths: tuple[int, ...]) -> dict:
    spec, traj = outcome.spec, outcome.trajectory
    return {
        "max_margin": max_margin_dict(problem.max_margin),
        "claims": [v.as_dict() for v in outcome.verdicts],
        "assumptions": {
            aid: {"holds": bool(holds), "reason": str(reason)}
            for aid, (holds, reason) in outcome.assumptions.items()
        },
        "run": {
            "method": spec.method,
            "depth": spec.depth,
            "widths": list(widths),
            "loss": spec.loss,
            "init": spec.init,
            "seed": spec.seed,
            "init_scale": spec.init_scale,
            "stop_reason": traj.stop_reason,
            "grad_evals": int(traj.grad_evals),
            "wall_time": float(traj.wall_time),
            "backend": traj.backend.name,
            "precision": spec.precision,
            "late_phase": _late_phase_dict(traj),
        },
    }


def _late_phase_dict(traj) -> dict | None:
    """Where a --late-phase run switched to high precision, and what the stepper did."""
    lp = traj.late_phase
    if lp is None:
        return None
    return {"switched_at_s": lp.switched_at_s, "because": lp.because, "from": lp.head, "to": traj.backend.name,
            "precision_bits": lp.stepper.precision_bits, "steps_accepted": lp.stepper.steps_accepted}


def print_json(doc: dict) -> None:
    # allow_nan=False: a NaN or inf that slipped past as_dict is a bug, not output.
    sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    sys.stdout.flush()


class _Console(Console):
    """rich's Console, except that a broken stdout pipe raises BrokenPipeError for main() to handle
    (rich's default raises SystemExit(1), which would read as "a claim is violated")."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("stdout closed")


# The claims table shows its backend and reason columns from this console width on (the longest
# claim id, 32 characters, status, value and threshold take ~75 columns, the reason the rest).
WIDE_TABLE = 130


def console() -> Console:
    # Created per call so that it writes to the current sys.stdout (tests capture it).
    # Not a terminal (a pipe, a file): wide enough that reasons are not wrapped to shreds.
    out = sys.stdout
    width = None if out.isatty() else int(os.environ.get("COLUMNS", 0) or 140)
    return _Console(file=out, highlight=False, width=width)


def _num(x: object) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{float(x):.4g}"


def _yes(flag: bool) -> Text:
    return Text("holds", style="green") if flag else Text("fails", style="red")


def render_data(con: Console, path: str, problem: Problem) -> None:
    con.print(Text(f"data: {path}  (n = {problem.n} points, d = {problem.d}, max‖x_i‖ = {problem.max_norm:.6g})"))
    if problem.max_norm > 1.0:
        con.print(Text("  note: max‖x_i‖ > 1; the paper assumes ‖x_i‖ ≤ 1 (not rescaled)", style="yellow"))


def render_max_margin(con: Console, mm: MaxMargin, d: int) -> None:
    u = ", ".join(repr(float(v)) for v in mm.u_bar)
    sv = ", ".join(str(int(i)) for i in mm.support)
    con.print(Text(f"max-margin direction ū = ({u})"))
    con.print(Text(f"margin γ = {float(mm.gamma)!r}"))
    con.print(Text(f"support vectors ({len(mm.support)}, 0-based rows): {sv}"))
    line = Text("Assumption 2.7 (support vectors span R^d): ")
    line.append_text(_yes(mm.sv_span_full))
    line.append(f"  (rank {mm.sv_rank} of d = {d})")
    con.print(line)
    line = Text("  relaxed form (span SV = span data): ")
    line.append_text(_yes(mm.sv_span_data))
    line.append(f"  (data rank {mm.data_rank})")
    con.print(line)


def render_check(con: Console, path: str, problem: Problem, outcome: RunOutcome, widths: tuple[int, ...]) -> None:
    spec, traj = outcome.spec, outcome.trajectory
    render_data(con, path, problem)
    run = f"run: method {spec.method}, depth L = {spec.depth}, widths {list(widths)}, loss {spec.loss}, init {spec.init}, seed {spec.seed}"
    if spec.method == "gd":
        run += f", step {'paper rule (A3.5)' if spec.gd_step is None else repr(spec.gd_step)}, steps {spec.gd_steps}"
    con.print(Text(run))
    render_max_margin(con, problem.max_margin, problem.d)

    at = Table(title="assumptions", title_justify="left")
    at.add_column("id", no_wrap=True)
    at.add_column("", no_wrap=True)
    at.add_column("reason")
    for aid, (holds, reason) in outcome.assumptions.items():
        at.add_row(Text(aid), _yes(bool(holds)), Text(str(reason)))
    con.print(at)

    # Below WIDE_TABLE columns (a narrow terminal, or COLUMNS=80 in a CI log) the backend and the
    # reason move under the table, one line per claim, so that ids and statuses are never cut.
    wide = con.width >= WIDE_TABLE
    ct = Table(title="claims", title_justify="left")
    ct.add_column("id", no_wrap=True, min_width=max(len(v.claim) for v in outcome.verdicts))
    ct.add_column("status", no_wrap=True, min_width=len(Status.NOT_APPLICABLE.value))
    ct.add_column("value", justify="right", no_wrap=True)
    ct.add_column("threshold", justify="right", no_wrap=True)
    if wide:
        ct.add_column("backend", no_wrap=True)
        ct.add_column("reason")
    counts: dict[str, int] = {}
    notes: list[Text] = []
    for v in outcome.verdicts:
        d = v.as_dict()
        counts[d["status"]] = counts.get(d["status"], 0) + 1
        backend = d["backend"] + "".join(f"\n{d[k]}" for k in ("confirmation", "certificate") if k in d)
        row = [
            Text(d["id"]),
            Text(d["status"], style=STATUS_STYLE.get(d["status"], "")),
            Text(_num(d["value"])),
            Text(_num(d["threshold"])),
        ]
        if wide:
            row += [Text(backend), Text(d["reason"])]
        else:
            notes.append(Text(f"{d['id']}: {d['reason']} [{backend.replace(chr(10), '; ')}]"))
        ct.add_row(*row)
    con.print(ct)
    for note in notes:
        con.print(note)

    con.print(Text(f"stop reason: {traj.stop_reason}"))
    con.print(Text(f"backend: {traj.backend.name}" + (f" (switched from float64 at s = {traj.late_phase.switched_at_s:.4g})" if traj.late_phase is not None else "")))
    con.print(Text(f"gradient evaluations: {traj.grad_evals}   wall time: {traj.wall_time:.3f} s   seed: {spec.seed}"))
    summary = Text("summary: ")
    order = [s.value for s in (Status.VIOLATED, Status.HOLDS, Status.INCONCLUSIVE, Status.NOT_APPLICABLE)]
    parts = [(f"{counts[s]} {s}", STATUS_STYLE[s]) for s in order if counts.get(s)]
    for i, (label, style) in enumerate(parts):
        if i:
            summary.append(", ")
        summary.append(label, style=style)
    con.print(summary)
    con.print(Text(f"replay: {replay_command(path, spec)}", style="dim"), soft_wrap=True)  # one line, to copy
