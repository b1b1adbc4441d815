"""The ``aligncheck`` command line.

    aligncheck --version
    aligncheck claims [PATTERN,...] [--json]
    aligncheck maxmargin DATA [--scale unit-ball] [--json]
    aligncheck check DATA --depth L --loss exp|logistic [--init gaussian|balanced|w1zero]
                    [--widths 3,4,...] [--seed S] [--method gf|gd] [--step ETA --steps N]
                    [--scale unit-ball] [--claims PATTERN,...] [--plot FILE.png|FILE.svg] [--json]
    aligncheck figure1 [--out DIR] [--steps N]
    aligncheck report REPORT.json [--html OUT.html] [--md OUT.md]
    aligncheck sweep SPEC ... / aligncheck sweep-report DB ...   (aligncheck.harness.sweep.commands)

DATA is a ``.npz`` file (arrays X, y) or a ``.csv`` file (last column y, optional header).

Exit status: 0 when no claim is violated, 1 when a claim is violated, 2 on bad input (bad
data, bad options, a missing file, non-separable data, ...), with exactly one line
``aligncheck: error: <message>`` on stderr. Any other exception is a bug: one line
``aligncheck: internal error ...`` on stderr and status 3, never a status that reads as an answer. If stdout is closed before the report
is written (piped into ``head``), the status is 141 (128 + SIGPIPE, as a shell reports it).

With ``--json`` stdout holds exactly one JSON document (floats at full precision, non-finite
verdict values as strings, see :meth:`aligncheck.claims.verdicts.Verdict.as_dict`); without it the output
is a human-readable report rendered with rich.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aligncheck import __version__
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status
from aligncheck.data.problem import Problem, load_problem
from aligncheck.dynamics.spec import RunSpec, with_admissible_scale
from aligncheck.errors import ProblemError
from aligncheck.harness.cost import up_front_note
from aligncheck.harness.html_report import load_report, page_paths, write_pages
from aligncheck.harness.figure1 import Figure1Setup, final_summary, write_figure1
from aligncheck.harness.output import (check_dict, claim_dict, console, max_margin_dict, print_json, progress_on, render_check,
                                      render_claims, render_data, render_max_margin)
from aligncheck.harness.plot_run import check_plot_path, default_title, plot_run
from aligncheck.harness.runner import run_checked
from aligncheck.harness.sweep.commands import HANDLERS as SWEEP_HANDLERS, add_commands as add_sweep_commands
from aligncheck.numerics.backends import KERNELS, MIN_DIGITS
from aligncheck.numerics.losses import LOSSES
from aligncheck.numerics.network import INITS

__all__ = ["build_parser", "main"]

PROG = "aligncheck"
EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT = 0, 1, 2
# stdout closed before the report was written (e.g. piped into `head`): the shell's status for
# a process killed by SIGPIPE, 128 + 13. Not 1 (that would read as "a claim is violated").
EXIT_BROKEN_PIPE = 141
EXIT_INTERNAL = 3
METHODS = ("gf", "gd")
# GD's steps when --steps is not given: the conjectures' budget, the least at which GD's limit
# claims reach verdicts at depth 1-2 from a small start (at 2,000, the API's default, every one was
# inconclusive at depth 2 and 4); 1-3 s on small data.
CLI_GD_STEPS = 30_000


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error_line(message: object) -> None:
    """The one stderr line of a bad-input exit (plain print: rich would wrap long lines)."""
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error report (no usage block); still exits with status 2."""

    def error(self, message: str):  # type: ignore[override]
        _error_line(message)
        self.exit(EXIT_BAD_INPUT)


# ---------------------------------------------------------------------------
# option types


def _widths(text: str) -> tuple[int, ...]:
    """'3,4,5' -> (3, 4, 5); '' -> () (depth 1). Every width a positive integer."""
    if not text.strip():
        return ()
    out = []
    for field in text.split(","):
        field = field.strip()
        try:
            w = int(field)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of positive integers ({field!r} is not an integer)"
            ) from None
        if w < 1:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of positive integers ({w} < 1)"
            )
        out.append(w)
    return tuple(out)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {v}")
    return v


def _digits(text: str) -> int:
    v = _positive_int(text)
    if v < MIN_DIGITS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_DIGITS} digits (float64 has ~16), got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return v


def _init_scale(text: str) -> float | str:
    return "auto" if text == "auto" else _positive_float(text)


def _patterns(text: str) -> tuple[str, ...]:
    """'gf.rank_one, gf.max_margin_*' -> the registered ids they match (fnmatch globs), in registry
    order; a pattern that matches no claim is an error."""
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    if not patterns:
        raise argparse.ArgumentTypeError(f"{text!r} names no claim (see aligncheck claims)")
    for p in patterns:
        if not fnmatch.filter(REGISTRY, p):
            raise argparse.ArgumentTypeError(f"{p!r} matches no claim id (see aligncheck claims)")
    return tuple(cid for cid in REGISTRY if any(fnmatch.fnmatchcase(cid, p) for p in patterns))


SCALES = ("none", "unit-ball")


def _add_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", choices=SCALES, default="none",
                   help="unit-ball: divide X by max‖x_i‖ when that exceeds 1 (the paper's ‖x_i‖ ≤ 1, which GD's claims need; "
                   "ū and the support vectors are unchanged, γ is divided by the factor, which is reported); default: none")


def _load(args: argparse.Namespace) -> tuple[Problem, float]:
    """The data of ``args.data``, scaled as ``--scale`` asks: (problem, factor X was divided by)."""
    problem = load_problem(args.data)
    return problem.scaled_to_unit_ball() if args.scale == "unit-ball" else (problem, 1.0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Check the claims of Ji & Telgarsky (ICLR 2019) on deep linear networks.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    cl = sub.add_parser(
        "claims",
        help="list the claims: ids, statements, sources, kinds, assumptions",
        description="List the registered claims (every paper's), or those matching PATTERNS.",
        allow_abbrev=False,
    )
    cl.add_argument("patterns", metavar="PATTERNS", nargs="?", type=_patterns, default=None,
                    help="comma-separated ids or globs, e.g. 'gf.rank_one,gf.max_margin_*' (default: every claim)")
    cl.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    mm = sub.add_parser(
        "maxmargin",
        help="max-margin direction, margin, support vectors and Assumption 2.7",
        description="Print the max-margin direction ū, the margin γ, the support vectors and "
        "whether they span R^d (Assumption 2.7) or the span of the data (its relaxed form).",
        allow_abbrev=False,
    )
    mm.add_argument("data", metavar="DATA", help=".npz (arrays X, y) or .csv (last column y)")
    _add_scale(mm)
    mm.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    ck = sub.add_parser(
        "check",
        help="run gradient flow or descent and judge every claim",
        description="Initialise a deep linear network, run gradient flow (gf) or gradient "
        "descent (gd) on DATA and judge every claim registered for the method. Exit status 1 "
        "when a claim is violated.",
        allow_abbrev=False,
    )
    ck.add_argument("data", metavar="DATA", help=".npz (arrays X, y) or .csv (last column y)")
    ck.add_argument("--depth", type=_positive_int, required=True, metavar="L", help="number of layers L ≥ 1")
    ck.add_argument("--loss", choices=tuple(LOSSES), required=True, help="loss function")
    ck.add_argument("--init", choices=INITS, default="gaussian", help="initialisation (default: gaussian)")
    ck.add_argument(
        "--widths", type=_widths, default=None, metavar="D1,D2,...",
        help="the L-1 hidden widths, comma separated (default: d each)",
    )
    ck.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="initialisation seed (default: 0)")
    ck.add_argument("--init-scale", type=_init_scale, default="auto", metavar="C",
                    help="initialisation scale (Gaussian entries N(0, C²/fan-in); balanced layers of norm C), or auto "
                    "(default): the largest 2^-k ≤ 1 at which W(0) meets Assumption 1.2, R(W(0)) ≤ ℓ(0), on the data")
    ck.add_argument("--method", choices=METHODS, default="gf", help="gradient flow (default) or gradient descent")
    ck.add_argument("--step", type=_positive_float, default=None, metavar="ETA",
                    help="gd only: constant step size (default: the paper's step rule, Assumption 3.5, which needs the logistic loss)")
    ck.add_argument("--steps", type=_positive_int, default=None, metavar="N",
                    help=f"gd only: number of steps (default: {CLI_GD_STEPS:,})")
    ck.add_argument("--precision", type=_digits, default=None, metavar="DIGITS",
                    help="gf only: run on the mpmath backend with DIGITS significant digits (≥ 16)")
    ck.add_argument("--late-phase", action="store_true",
                    help="gf only: run float64 to its floor, then continue in mpmath (50 digits, or --precision)")
    _add_scale(ck)
    ck.add_argument("--claims", type=_patterns, default=None, metavar="PATTERNS",
                    help="judge only these claims: comma-separated ids or globs, e.g. 'gf.rank_one,gf.max_margin_*' "
                    "(default: every claim; see aligncheck claims)")
    ck.add_argument("--backend", choices=KERNELS, default="flint",
                    help="--precision and --late-phase: the high-precision linear algebra (Hessians, Jacobians, Newton solves) "
                    "in python-flint (default) or in mpmath (the reference, 5-15x slower)")
    ck.add_argument("--plot", default=None, metavar="FILE",
                    help="also draw the run behind the verdicts into FILE (.png or .svg, by its extension): each limit claim's gap "
                    "against the layer scale with the judge's rate line and threshold, Lemma 2's bounds, the risk, the balancedness drift")
    ck.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    fg = sub.add_parser(
        "figure1",
        help="draw the paper's Figure 1 (PNG, SVG and a caption file)",
        description="Redraw Figure 1 of the paper from a fixed seed: (a) the boundaries of a 4-layer linear network and of a "
        "linear predictor along gradient descent, converging to the max-margin separator; (b) ‖W_k‖₂/‖W_k‖_F of every "
        "layer against the risk. Writes figure1.png, figure1.svg and figure1.txt (the setup and the final numbers).",
        allow_abbrev=False,
    )
    fg.add_argument("--out", default=".", metavar="DIR", help="output directory, created if missing (default: .)")
    fg.add_argument("--steps", type=_positive_int, default=Figure1Setup.steps, metavar="N",
                    help=f"gradient-descent steps of each predictor (default: {Figure1Setup.steps:,}, the figure's)")
    rp = sub.add_parser(
        "report",
        help="render a session report (reports/conjectures.json) as a web page and a Markdown summary",
        description="Re-render the report JSON that `pytest conjectures/` writes as one self-contained HTML page (tables, "
        "every claim's convergence plots inline, violations with replay commands, measured rates) and a Markdown summary.",
        allow_abbrev=False,
    )
    rp.add_argument("report", metavar="REPORT", help="a session report JSON (e.g. reports/conjectures.json)")
    rp.add_argument("--html", default=None, metavar="OUT", help="the page (default: beside REPORT, .html)")
    rp.add_argument("--md", default=None, metavar="OUT", help="the Markdown summary (default: beside the page, .md)")
    add_sweep_commands(sub, _positive_int)  # sweep, sweep-report
    return parser


# ---------------------------------------------------------------------------
# JSON documents


# ---------------------------------------------------------------------------
# human output


# ---------------------------------------------------------------------------
# commands


def _cmd_claims(args: argparse.Namespace) -> int:
    chosen = [REGISTRY[cid] for cid in (args.patterns or REGISTRY)]
    if args.json:
        print_json({"claims": [claim_dict(c) for c in chosen]})
    else:
        render_claims(console(), chosen)
    return EXIT_OK


def _cmd_maxmargin(args: argparse.Namespace) -> int:
    problem, factor = _load(args)
    mm = problem.max_margin
    if args.json:
        print_json({"max_margin": max_margin_dict(mm), **({"scale_factor": factor} if args.scale != "none" else {})})
    else:
        con = console()
        render_data(con, args.data, problem, factor)
        render_max_margin(con, mm, problem.d)
    return EXIT_OK


def _spec(args: argparse.Namespace) -> RunSpec:
    if args.method != "gd" and (args.step is not None or args.steps is not None):
        raise ProblemError("--step and --steps apply only to --method gd")
    extra = {}
    if args.step is not None:
        extra["gd_step"] = args.step
    if args.method == "gd":
        extra["gd_steps"] = CLI_GD_STEPS if args.steps is None else args.steps
    return RunSpec(
        depth=args.depth, loss=args.loss, init=args.init, seed=args.seed, init_scale=1.0 if args.init_scale == "auto" else args.init_scale,
        widths=args.widths, precision=args.precision, late_phase=args.late_phase, method=args.method, kernels=args.backend, **extra,
    )


def _cmd_check(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_plot_path(args.plot)  # a bad --plot is refused before the run, not after it
    spec = _spec(args)
    problem, factor = _load(args)
    widths = spec.hidden_widths(problem.d)  # ProblemError on a depth/widths mismatch, before running
    spec.initial_layers(problem.Z)  # every up-front refusal before the note on how long it takes
    scale_note = None
    if args.init_scale == "auto":
        spec, scale_note = with_admissible_scale(spec, problem.Z)
    note = up_front_note(problem.n, problem.d, method=spec.method, gd_steps=spec.gd_steps, precision=spec.precision, late_phase=spec.late_phase)
    if note is not None:  # what will take long, before it does (one line; the cost model is aligncheck.harness.cost)
        print(f"{PROG}: {_one_line(note)}", file=sys.stderr, flush=True)
    with progress_on(sys.stderr):  # a status line on a terminal only
        outcome = run_checked(problem, spec, args.claims)
    options = (["--scale", args.scale] if args.scale != "none" else []) + (["--claims", ",".join(args.claims)] if args.claims else [])
    if args.json:
        print_json({**check_dict(problem, outcome, widths, args.data, options), "scale_factor": factor, "init_scale": scale_note})
    else:
        render_check(console(), args.data, problem, outcome, widths, options, factor, scale_note)
    if args.plot is not None:  # after the report: a plot that fails cannot cost the verdicts
        drawn = plot_run(outcome, args.plot, title=f"{args.data}: " + default_title(outcome))
        print(f"{PROG}: plot written to {args.plot} ({len(drawn.panels)} panels)", file=sys.stderr, flush=True)
    violated = any(v.status == Status.VIOLATED for v in outcome.verdicts)
    return EXIT_VIOLATED if violated else EXIT_OK


def _cmd_figure1(args: argparse.Namespace) -> int:
    files = write_figure1(args.out, Figure1Setup(steps=args.steps))  # a bad --out or --steps: refused before the run
    print("\n".join(str(p) for p in (files.png, files.svg, files.caption)))
    print(final_summary(files.data))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    doc = load_report(args.report)
    html = Path(args.html) if args.html is not None else page_paths(args.report)[0]
    md = Path(args.md) if args.md is not None else html.with_suffix(".md")
    if html.resolve() == md.resolve():
        raise ProblemError(f"--html and --md are the same file: {html}")
    try:
        written = write_pages(doc, html, md)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the keys are there, their contents are not a report's
        raise ProblemError(f"{args.report}: a malformed report ({type(exc).__name__}: {exc})") from None
    print("\n".join(str(p) for p in written))
    return EXIT_OK


COMMANDS = {"report": _cmd_report, "claims": _cmd_claims, "maxmargin": _cmd_maxmargin, "check": _cmd_check, "figure1": _cmd_figure1, **SWEEP_HANDLERS}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (already reported in one line), --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): nothing more to say; point stdout at
        # /dev/null so that the interpreter's final flush does not raise again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # no real file descriptor (captured stdout)
            pass
        return EXIT_BROKEN_PIPE
    except (ProblemError, OSError) as exc:
        _error_line(exc)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug, not bad input: say so in one line, never as "violated"
        print(f"aligncheck: internal error (please report): {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
