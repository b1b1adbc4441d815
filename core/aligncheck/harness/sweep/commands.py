"""The ``aligncheck sweep`` and ``aligncheck sweep-report`` subcommands (registered on the command
line's parser by :func:`add_commands`; aligncheck.harness.cli keeps the error and exit rules).

    aligncheck sweep SPEC [--db FILE] [--scheduler ADDRESS] [--workers N] [--budget B] [--no-progress]
    aligncheck sweep --show PRESET
    aligncheck sweep-report DB [--by AXES] [--claims PATTERNS] [--worst K] [--html OUT]
                               [--phase X,Y] [--png OUT] [--replay KEY]

``sweep`` exits 1 when the database holds a violated claim of the sweep, else 0 (also after Ctrl-C,
which stops cleanly: what finished is recorded, and the same command resumes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aligncheck.errors import ProblemError

EXIT_OK, EXIT_VIOLATED = 0, 1


def _axes(text: str) -> list[str]:
    from aligncheck.harness.sweep.spec import AXES

    out = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in out if a not in AXES]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"{text!r}: axes are comma-separated names among {', '.join(AXES)}")
    return out


def add_commands(sub, positive_int) -> None:
    """Add the two subcommands to the subparsers ``sub`` (their handlers: :data:`HANDLERS`)."""
    sw = sub.add_parser("sweep", help="run a sweep over the problem space on dask (a TOML SPEC or a preset)",
                        description="Run every run of SPEC (a TOML file, or a preset: default, margin-depth, "
                        "scale-width, degenerate, hunt-degenerate, hunt-smoothed) on a dask cluster and record "
                        "one row per (run, claim) in an SQLite database. Rerun to resume.", allow_abbrev=False)
    sw.add_argument("spec", metavar="SPEC", help="TOML file or preset name")
    sw.add_argument("--db", metavar="FILE", default=None, help="results database (default: sweeps/NAME.sqlite)")
    sw.add_argument("--scheduler", metavar="ADDRESS", default=None, help="a running dask scheduler (default: a LocalCluster)")
    sw.add_argument("--workers", type=positive_int, default=None, metavar="N",
                    help="LocalCluster worker processes, one thread each (default: the machine's cores)")
    sw.add_argument("--budget", default=None, metavar="B", help="runs (500) or wall time (90s, 30m, 2h); overrides the SPEC's")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar (the default when stderr is not a terminal)")
    sw.add_argument("--show", action="store_true", help="print the SPEC (a preset's TOML) and exit")

    rp = sub.add_parser("sweep-report", help="what a sweep database shows: tables, worst runs, phase diagrams",
                        description="Per cell and claim: fractions holds / violated / inconclusive / not applicable, "
                        "median value, time to the support-vector phase (from where the max-margin claims are judged); the worst runs (closest calls) with replay "
                        "commands; phase diagrams (--html, --png).", allow_abbrev=False)
    rp.add_argument("db", metavar="DB", help="a sweep database")
    rp.add_argument("--by", type=_axes, default=None, metavar="AXES", help="group cells by these axes (default: the axes that vary)")
    rp.add_argument("--claims", default=None, metavar="PATTERNS", help="comma-separated claim patterns (fnmatch; default: all)")
    rp.add_argument("--worst", type=positive_int, default=3, metavar="K", help="worst runs listed per claim (default 3)")
    rp.add_argument("--html", default=None, metavar="OUT", help="write an HTML report with every table and phase diagram")
    rp.add_argument("--phase", type=_axes, default=None, metavar="X,Y", help="the phase diagram's axes (with --png)")
    rp.add_argument("--png", default=None, metavar="OUT", help="write one phase diagram (--phase X,Y) as PNG")
    rp.add_argument("--replay", default=None, metavar="KEY", help="save run KEY's data and print its replay command")

def cmd_sweep(args: argparse.Namespace) -> int:
    from aligncheck.harness.sweep.spec import load_spec, parse_budget

    spec = load_spec(args.spec)
    if args.show:
        sys.stdout.write(spec.text)
        return EXIT_OK
    if args.budget is not None:
        spec = spec.__class__(**{**spec.__dict__, "budget": parse_budget(args.budget)})
    return run_spec_sweep(spec, Path(args.db) if args.db else Path("sweeps") / f"{spec.name}.sqlite",
                          scheduler=args.scheduler, workers=args.workers, progress=False if args.no_progress else None)


def run_spec_sweep(spec, db_path: Path, *, scheduler: str | None = None, workers: int | None = None,
                   progress: bool | None = None, out=None) -> int:
    """Run ``spec`` into the database at ``db_path`` and print what the session did; the exit status."""
    from aligncheck.harness.sweep.db import SweepDB
    from aligncheck.harness.sweep.engine import Progress, SweepStats, open_client, run_sweep, runs_per_hour
    from aligncheck.harness.sweep.grid import GridSource
    from aligncheck.harness.sweep.hunt import HuntSource

    out = out or sys.stdout
    with SweepDB(db_path) as db:
        source = HuntSource(spec, db) if spec.mode == "hunt" else GridSource(spec, db)
        db.note_spec(spec.name, spec.text)
        dropped = getattr(source, "infeasible", {})
        if dropped:
            print(f"aligncheck: note: {len(dropped)} grid cell(s) cannot run and are left out, e.g. "
                  f"{next(iter(dropped))}: {' '.join(next(iter(dropped.values())).split())}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + spec.budget.seconds if spec.budget.seconds is not None else None
        if source.total is not None and source.skipped >= source.total and not db.inflight():
            print(f"sweep {spec.name}: all {source.total} runs already recorded in {db_path}", file=out, flush=True)
            return _exit_status(db, spec.name)
        stats = SweepStats(skipped=source.skipped, interrupted=True)
        try:
            with open_client(scheduler, workers) as client:
                where = scheduler or f"LocalCluster, {len(client.nthreads())} worker(s)"
                print(f"sweep {spec.name}: {source.total if source.total is not None else 'until ' + str(spec.budget)} runs"
                      f" ({source.skipped} already recorded) on {where}; database {db_path}", file=out, flush=True)
                stats = run_sweep(source, db, client, name=spec.name, cases_dir=db_path.resolve().with_suffix(".cases"),
                                  deadline=deadline, progress=Progress(progress))
        except KeyboardInterrupt:  # while the cluster started or closed: what finished is recorded
            stats.interrupted = True
        status = _exit_status(db, spec.name)
        lost = len(db.inflight())
    head = "interrupted" if stats.interrupted else "done"
    print(f"{head}: {stats.recorded} run(s) recorded in {stats.elapsed:.1f} s ({runs_per_hour(stats):,.0f} runs/hour), "
          f"{stats.skipped} skipped (already recorded), {stats.violated} with a violated claim, "
          f"{stats.errors} refused or failed" + (f", {stats.rerun_lost} rerun after an earlier session lost them" if stats.rerun_lost else "")
          + (f"; {lost} in flight not recorded: run the same command to resume" if lost else ""), file=out, flush=True)
    print(f"report: aligncheck sweep-report {db_path}", file=out, flush=True)
    return status


def _exit_status(db, name: str) -> int:
    """1 when the database holds a violated claim of sweep ``name``, else 0."""
    violated = db.query("SELECT COUNT(*) FROM verdicts v JOIN runs r ON r.key = v.run_key "
                        "WHERE r.sweep = ? AND v.status = 'violated'", (name,))[0][0]
    return EXIT_VIOLATED if violated else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from aligncheck.harness.sweep.db import SweepDB
    from aligncheck.harness.sweep import summary

    with SweepDB(args.db, readonly=True) as db:
        if args.replay is not None:
            print(summary.replay_run(db, args.replay))
            return EXIT_OK
        claims = [c.strip() for c in args.claims.split(",")] if args.claims else None
        if args.png is not None:
            if not args.phase or len(args.phase) != 2:
                raise ProblemError("--png needs --phase X,Y (two axes)")
            from aligncheck.harness.sweep.phase import phase_png

            phase_png(db, args.phase[0], args.phase[1], claims, Path(args.png))
        if args.html is not None:
            from aligncheck.harness.sweep.phase import write_html

            write_html(db, Path(args.html), by=args.by, claims=claims, worst=args.worst)
        summary.render(db, by=args.by, claims=claims, worst=args.worst)
    return EXIT_OK


HANDLERS = {"sweep": cmd_sweep, "sweep-report": cmd_report}
