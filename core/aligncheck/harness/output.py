"""What the command line prints: the JSON documents of ``aligncheck maxmargin`` and ``aligncheck
check`` (``--json``: one document on stdout, floats at full precision, non-finite verdict values as
strings), and their human-readable form rendered with rich."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aligncheck.claims.registry import PAPERS, REGISTRY, Claim
from aligncheck.claims.verdicts import Status
from aligncheck.data.maxmargin import MaxMargin
from aligncheck.data.problem import Problem
from aligncheck.dynamics.progress import Progress, listening
from aligncheck.harness.runner import RunOutcome, replay_command
from aligncheck.numerics.magnitudes import format_from_log

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


def advice(outcome: RunOutcome) -> list[str]:
    """One line per failing assumption that a user can act on: what fails, what it costs, what to do."""
    ok = outcome.assumptions
    out = []
    if not ok["A1.2"][0]:
        out.append(f"A1.2 fails ({ok['A1.2'][1]}): the claims that need it are not applicable; start below ℓ(0) with "
                   "--init-scale auto (the default) or a smaller --init-scale, or use --init w1zero (R(W(0)) = ℓ(0) at every scale)")
    limits = [v for v in outcome.verdicts if v.claim.startswith("gd.") and REGISTRY[v.claim].kind == "limit"
              and v.status != Status.NOT_APPLICABLE]
    if limits and all(v.status == Status.INCONCLUSIVE for v in limits):
        out.append("every applicable GD limit claim is inconclusive: GD's norms grow like (log t)^(1/L) (with the paper's step, which shrinks "
                   "like R_t^-(2L-2), slower still), so at depth ≥ 3 or from an init scale near 1 no feasible --steps reaches the "
                   "late phase; more --steps, a smaller --init-scale, or gradient flow (--method gf: the same limits) can decide them")
    if ok["separable"][0]:
        weak = [a for a in ("A2.7", "generic") if not ok[a][0]]
        if weak:
            out.append(f"{weak[0]} fails ({ok[weak[0]][1]}): the max-margin theorems (gf.max_margin_*, gf.margin_corollary) "
                       "do not apply to these data; conj.max_margin_degenerate_sv reports what the run shows on them")
    return out


def check_dict(problem: Problem, outcome: RunOutcome, widths: tuple[int, ...], path: str, options: Sequence[str] = ()) -> dict:
    """The document of ``aligncheck check --json`` (``path``, ``options``: for the replay command, as
    in :func:`render_check`)."""
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
            "kernels": spec.kernels,
            "late_phase": _late_phase_dict(traj),
            "replay": replay_command(path, spec, options),
        },
        "advice": advice(outcome),
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


def render_data(con: Console, path: str, problem: Problem, scale_factor: float = 1.0) -> None:
    """The data line; ``scale_factor``: what X was divided by (--scale unit-ball), 1 if not scaled."""
    con.print(Text(f"data: {path}  (n = {problem.n} points, d = {problem.d}, max‖x_i‖ = {problem.max_norm:.6g})"))
    if scale_factor != 1.0:
        con.print(Text(f"  scaled: X divided by max‖x_i‖ = {scale_factor!r} (--scale unit-ball; γ divided by it too, ū unchanged)"))
    elif problem.max_norm > 1.0:
        con.print(Text("  note: max‖x_i‖ > 1; the paper assumes ‖x_i‖ ≤ 1 (not rescaled: --scale unit-ball divides by max‖x_i‖; "
                       "GD's claims need it, gradient flow's do not)", style="yellow"))


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


def render_check(con: Console, path: str, problem: Problem, outcome: RunOutcome, widths: tuple[int, ...],
                 options: Sequence[str] = (), scale_factor: float = 1.0, init_note: str | None = None) -> None:
    """The human report of ``aligncheck check``; ``options``: the command's options that are not
    the run's (see aligncheck.harness.runner.replay_command), for the replay line."""
    spec, traj = outcome.spec, outcome.trajectory
    render_data(con, path, problem, scale_factor)
    run = (f"run: method {spec.method}, depth L = {spec.depth}, widths {list(widths)}, loss {spec.loss}, init {spec.init}, "
           f"init scale {spec.init_scale!r}, seed {spec.seed}")
    if spec.method == "gd":
        run += f", step {'paper rule (A3.5)' if spec.gd_step is None else repr(spec.gd_step)}, steps {spec.gd_steps}"
    con.print(Text(run))
    if init_note is not None:
        con.print(Text(init_note))
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
    for line in advice(outcome):
        con.print(Text(f"advice: {line}", style="yellow"))
    con.print(Text(f"replay: {replay_command(path, spec, options)}", style="dim"), soft_wrap=True)  # one line, to copy


def claim_dict(c: Claim) -> dict:
    """A registered claim as JSON: id, paper, statement, source, kind, needs, methods."""
    return {"id": c.id, "paper": PAPERS[c.paper].citation, "statement": c.statement, "source": c.source, "kind": c.kind,
            "needs": list(c.needs), "methods": list(c.methods)}


def render_claims(con: Console, claims: Sequence[Claim]) -> None:
    """The claims ``aligncheck claims`` lists: one table per paper, in registry order."""
    for key in dict.fromkeys(c.paper for c in claims):
        t = Table(title=PAPERS[key].citation, title_justify="left")
        t.add_column("id", no_wrap=True, min_width=max(len(c.id) for c in claims))
        t.add_column("statement")
        t.add_column("source")
        t.add_column("kind", no_wrap=True)
        t.add_column("needs")
        t.add_column("methods", no_wrap=True)
        for c in claims:
            if c.paper == key:
                t.add_row(c.id, c.statement, c.source, c.kind, ", ".join(c.needs) or "—", "/".join(c.methods))
        con.print(t)


def progress_line(p: Progress) -> str:
    """One status line of a running check: where the run is and what it costs so far."""
    where = f"s = {p.time:.3g}" if p.method == "gf" else f"step {int(p.time)}"
    bits = f", {p.bits} bits" if p.bits is not None else ""
    return (f"{p.method} on {p.backend}{bits}: {where}, ‖θ‖ = {format_from_log(p.log_norm, '.3g')}, "
            f"R = {format_from_log(p.log_risk, '.3g')}, {p.evals} gradient evaluations")


@contextlib.contextmanager
def progress_on(stream) -> Iterator[None]:
    """A live status line on ``stream`` (stderr) while the block runs, when ``stream`` is a terminal;
    nothing otherwise (pipes, files and CI logs stay clean). Updated at most 10 times a second;
    the line disappears when the block ends."""
    if not stream.isatty():
        yield
        return
    con = Console(file=stream, highlight=False)
    with con.status("starting the run", spinner="dots") as status:
        last = [0.0]

        def show(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                status.update(progress_line(p))

        with listening(show):
            yield
