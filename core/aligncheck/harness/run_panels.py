"""What a picture of a checked run shows, as data: one :class:`Panel` per claim (or per group of
claims read off the same quantity), each holding the exact numbers it draws.

Every number comes from the claims layer: a limit claim's panel draws the
:class:`aligncheck.claims.verdicts.LimitSeries` its predicate judged (``JudgedRun.series``), with the
judge's own window, rate constant and fitted exponent (``LimitSeries.judge``), so nothing is
recomputed here; a bound claim's panel draws its ``BoundSeries``; the risk and norm panels draw the
run's metrics with the thresholds of the verdicts. :mod:`aligncheck.harness.plot_run` renders panels.

Conventions. Points are split by the arithmetic that produced the states ("segments"): a
``--late-phase`` run has a float64 segment up to the checkpoint where float64 stopped and a
high-precision one from it (both hold that checkpoint, so the lines meet), marked by a
``float64_stop`` mark. A gap value q is drawn at |q| where q > 0 (role "gap"), at |q| with other
markers where q < 0 (role "gap_negative": the judge reads its magnitude, the size of an
arithmetic error), and at the bottom edge of the axes where q = 0 (role "gap_zero": exactly 0, or
below float64's range once the metric was rounded to float: a high-precision gap of 1e-400 is
never dropped silently). nan values (undefined: a zero layer) are skipped, as the judge skips them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import RATE_SLACK, BoundSeries, LimitJudgement, LimitSeries, Status, Verdict
from aligncheck.errors import ProblemError

LN10 = math.log(10.0)


@dataclass(frozen=True)
class Curve:
    """Points or a line as drawn: ``x``, ``y`` (m,). ``role``: "gap", "gap_negative" (drawn at |y|),
    "gap_zero" (drawn on the bottom edge), "rate" (C·scale^−p over the late window), "rate_slack"
    (RATE_SLACK·C·scale^−p), "lhs" / "rhs" / "rhs_tol" (a bound's measured side, bound, bound +
    tolerance), "risk" (−log10 R), "norm" (‖W_k‖_F), "drift". ``segment``: the arithmetic of the
    states ("float64", "mpmath-50", ...; "" for reference lines). ``part``: the index of the series
    (layer, pair) in the panel. ``index``: the checkpoints drawn, as indices into that series."""

    label: str | None
    x: np.ndarray
    y: np.ndarray
    role: str
    segment: str = ""
    part: int = 0
    index: np.ndarray | None = None


@dataclass(frozen=True)
class Line:
    """A reference line: horizontal at ``y`` (axis "y": threshold, floor, a needed norm) or vertical
    at ``x`` (axis "x": where float64 stopped, where A1.2 first held), with a marker at (x, y) for a
    vertical line that has a ``y``. ``role``: "threshold", "floor", "float64_stop", "judged_from"."""

    axis: str
    at: float
    label: str
    role: str
    y: float | None = None


@dataclass
class Panel:
    """One panel: ``key`` (the claim id, or "risk", "norms", "drift", "notes"), ``title``, the
    claims it names with their statuses, axis labels and scales ("log", "symlog", "linear"),
    curves, reference lines, late windows [(x0, x1)] and a ``note`` (why a claim was not judged,
    a second look at high precision, ...). ``series`` and ``judgements``: the claims layer's
    objects drawn (a LimitJudgement per LimitSeries; none for a BoundSeries)."""

    key: str
    title: str
    claims: list[tuple[str, str]]
    xlabel: str = ""
    ylabel: str = ""
    xscale: str = "linear"
    yscale: str = "log"
    curves: list[Curve] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    note: str = ""
    series: list[LimitSeries | BoundSeries] = field(default_factory=list)
    judgements: list[LimitJudgement] = field(default_factory=list)


# The claims drawn on the shared context panels (read off the run's risk and norms).
RISK_CLAIMS = ("gf.risk_to_zero", "gd.risk_to_zero", "gf.risk_monotone")
NORM_CLAIMS = ("gf.norms_diverge", "gd.norms_diverge")
# Where the shared panels go: the run's risk and norms first, the claims' panels (2) in registry order, then these.
PANEL_ORDER = {"risk": 0, "norms": 1, "drift": 3, "notes": 4}


def panel_key(cid: str) -> str:
    """The panel a claim is drawn in: its own (its id) when it exposes series, "risk" or "norms"
    for the claims read off those, else "notes" (a line of text: nothing to draw)."""
    if cid in RISK_CLAIMS:
        return "risk"
    if cid in NORM_CLAIMS:
        return "norms"
    return cid if REGISTRY[cid].series is not None else "notes"


def segments(traj, times: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """[(arithmetic, indices into ``times``)] of a run's checkpoints (see the module docstring)."""
    idx = np.arange(len(times))
    late = traj.late_phase
    if late is None:
        return [(traj.backend.name if traj.method == "gf" else "float64", idx)]
    cut = late.switched_at_s
    head = idx[times <= cut]
    tail = idx[times >= cut]
    return [(late.head, head), (f"{traj.backend.name} (continuation)", tail)]


def float64_stop(traj) -> float | None:
    """The time s where a late-phase run's float64 part stopped (None for any other run)."""
    return None if traj.late_phase is None else float(traj.late_phase.switched_at_s)


def _points(traj, x: np.ndarray, y: np.ndarray, times: np.ndarray, label: str, part: int, positive: str = "gap", xlog: bool = True,
            by_sign: bool = True) -> list[Curve]:
    """The curves of one data series (x, y) over the checkpoints at ``times``, split by segment and
    (``by_sign``, for a log y axis) by sign; points with x ≤ 0 are left out only on a log x axis
    (``xlog``: a scale, or GD's step + 1)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = []
    for k, (seg, idx) in enumerate(segments(traj, times)):
        ok = idx[np.isfinite(y[idx]) & np.isfinite(x[idx]) & ((x[idx] > 0) | (not xlog))]
        first = label if k == 0 else None
        signs = ((positive, y[ok] > 0, y[ok]), ("gap_negative", y[ok] < 0, -y[ok]), ("gap_zero", y[ok] == 0, y[ok])) if by_sign else ((positive, y[ok] == y[ok], y[ok]),)
        for role, keep, yy in signs:
            if keep.any() or (role == positive and len(ok)):
                out.append(Curve(first if role == positive else None, x[ok][keep], yy[keep], role, seg, part, ok[keep]))
    return out


def _title(cid: str, v: Verdict | None) -> str:
    return f"{cid}: {v.status.value if v is not None else 'not judged in this run'}"


def _verdict_note(v: Verdict | None, traj) -> str:
    if v is None:
        return "not judged in this run (not among the claims asked for)"
    parts = []
    if v.confirmation is not None:
        parts.append(f"status from the high-precision second look ({v.confirmation}); drawn: the run's own series (float64 value {v.float64_value:.3g})")
    if v.judged_from is not None:
        parts.append(f"judged from {'step' if traj.method == 'gd' else 's'} = {v.judged_from:.4g}, where A1.2 first holds")
    return "; ".join(parts)


def limit_panel(cid: str, v: Verdict | None, series: list[LimitSeries], traj) -> Panel:
    """The panel of a limit claim: each series' gap against its scale (log-log), its late window,
    the rate lines the judge tested (C·scale^−p and RATE_SLACK times it), threshold and floor."""
    panel = Panel(cid, _title(cid, v), [(cid, v.status.value if v else "not judged")], xscale="log", yscale="log")
    notes = [_verdict_note(v, traj)]
    if not series:  # e.g. GD before its late phase, a max-margin claim before the support vectors lead
        panel.note = "; ".join(n for n in [f"not judged on a series: {v.reason if v is not None else 'no series'}", *notes] if n)
        return panel
    s0 = series[0]
    panel.xlabel = s0.scale_name if len({s.scale_name for s in series}) == 1 else " / ".join(s.scale_name for s in series)
    panel.ylabel = "gap" if len(series) > 1 else s0.what
    stop = float64_stop(traj)
    for j, s in enumerate(series):
        jd = s.judge()
        panel.series.append(s)
        panel.judgements.append(jd)
        fit = f" (fit: scale^-{jd.exponent:.3g})" if jd.exponent is not None and not s.trend_only else ""
        panel.curves += _points(traj, s.scale, s.q, s.times, s.what + fit, j)
        w = s.window()
        if len(w.late):
            panel.windows.append((float(s.scale[w.late[0]]), float(s.scale[w.late[-1]])))
        if jd.rate_constant is not None and len(w.late):
            xs = np.sort(s.scale[w.late])
            c = jd.rate_constant
            panel.curves.append(Curve(f"rate tested: C·scale^-{s.p:g}" if j == 0 else None, xs, c * xs ** -s.p, "rate", part=j))
            panel.curves.append(Curve(f"x{RATE_SLACK:g}: the end must stay below" if j == 0 else None, xs, RATE_SLACK * c * xs ** -s.p, "rate_slack", part=j))
        if stop is not None and j == 0:
            at = np.nonzero(s.times == stop)[0]
            if len(at) and np.isfinite(s.scale[at[0]]):
                i = int(at[0])
                panel.lines.append(Line("x", float(s.scale[i]), f"float64 stopped (s = {stop:.4g})", "float64_stop", y=abs(float(s.q[i]))))
    for thr in sorted({s.threshold for s in series}):
        panel.lines.append(Line("y", thr, f"threshold {thr:g}", "threshold"))
    for fl in sorted({s.floor for s in series}):
        panel.lines.append(Line("y", fl, f"floor {fl:g} (counts as 0)", "floor"))
    if s0.trend_only:
        notes.append("trend only (no rate test): " + ("GD, in the step count" if traj.method == "gd" else "judged in t"))
    panel.note = "; ".join(n for n in notes if n)
    return panel


def bound_panel(cid: str, v: Verdict | None, series: list[BoundSeries], traj) -> Panel:
    """The panel of a bound (or invariant) claim: its measured side and its bound (and bound +
    tolerance, above which it is violated) at every checkpoint, against the time."""
    panel = Panel(cid, _title(cid, v), [(cid, v.status.value if v else "not judged")], xlabel=_time_label(traj), yscale="log")
    notes = [_verdict_note(v, traj)]
    if not series:
        notes.insert(0, f"nothing to draw: {v.reason if v is not None else 'no series'}")
    for j, s in enumerate(series):
        panel.series.append(s)
        panel.curves += _points(traj, _time_x(traj, s.times), s.lhs, s.times, s.what, j, positive="lhs", xlog=False)
        t = _time_x(traj, s.times)
        for role, y, label in (("rhs", s.rhs, f"bound {s.bound}"), ("rhs_tol", s.rhs + s.tol, f"{s.bound} + tolerance (violated above)")):
            ok = np.isfinite(y) & (y > 0)
            if ok.any():
                panel.curves.append(Curve(label, t[ok], y[ok], role, part=j, index=np.nonzero(ok)[0]))
    _time_marks(panel, traj, v)
    panel.note = "; ".join(n for n in notes if n)
    return panel


def _time_label(traj) -> str:
    return "step t + 1" if traj.method == "gd" else "log-norm time s"


def _time_x(traj, times: np.ndarray) -> np.ndarray:
    return times + 1.0 if traj.method == "gd" else times


def _time_marks(panel: Panel, traj, v: Verdict | None) -> None:
    if traj.method == "gd":
        panel.xscale = "log"
    stop = float64_stop(traj)
    if stop is not None:
        panel.lines.append(Line("x", stop, f"float64 stopped (s = {stop:.4g})", "float64_stop"))
    if v is not None and v.judged_from is not None:
        panel.lines.append(Line("x", float(_time_x(traj, np.array([v.judged_from]))[0]), "judged from here (A1.2)", "judged_from"))


def risk_panel(verdicts: dict[str, Verdict], record, traj) -> Panel:
    """The risk: −log10 R(W(t)) against the time (symlog: float64's and high precision's ranges
    alike), with the threshold of the risk_to_zero verdict."""
    named = [(c, verdicts[c].status.value if c in verdicts else "not judged") for c in RISK_CLAIMS if REGISTRY[c].methods == (traj.method,)]
    panel = Panel("risk", "risk: " + ", ".join(f"{c} {s}" for c, s in named), named, xlabel=_time_label(traj),
                  ylabel="−log10 R(W(t))  (R → 0: up)", yscale="symlog")
    tm = record.metrics
    t = _time_x(traj, tm.times)
    panel.curves += _points(traj, t, -tm.stack("log_risk") / LN10, tm.times, "−log10 R", 0, positive="risk", xlog=False, by_sign=False)
    v = next((verdicts[c] for c, _ in named if c in verdicts and "risk_to_zero" in c), None)
    if v is not None and v.threshold:
        panel.lines.append(Line("y", -math.log10(v.threshold), f"{v.claim}: R ≤ {v.threshold:.3g}", "threshold"))
    _time_marks(panel, traj, v)
    panel.note = "; ".join(f"{c}: {verdicts[c].reason}" for c, _ in named if c in verdicts and verdicts[c].status != Status.HOLDS)
    return panel


def norms_panel(verdicts: dict[str, Verdict], record, traj) -> Panel:
    """The layer norms ‖W_k‖_F against the time, with the norm the norms_diverge verdict asked for
    (its threshold is on 1/min_k ‖W_k‖_F)."""
    named = [(c, verdicts[c].status.value if c in verdicts else "not judged") for c in NORM_CLAIMS if REGISTRY[c].methods == (traj.method,)]
    panel = Panel("norms", "layer norms: " + ", ".join(f"{c} {s}" for c, s in named), named, xlabel=_time_label(traj), ylabel="‖W_k‖_F")
    tm = record.metrics
    F = tm.stack("frob")
    for k in range(F.shape[1]):
        panel.curves += _points(traj, _time_x(traj, tm.times), F[:, k], tm.times, f"‖W_{k+1}‖_F", k, positive="norm", xlog=False)
    v = next((verdicts[c] for c, _ in named if c in verdicts), None)
    if v is not None and v.threshold:
        panel.lines.append(Line("y", 1.0 / v.threshold, f"{v.claim}: min_k ‖W_k‖_F ≥ {1.0 / v.threshold:.3g}", "threshold"))
    _time_marks(panel, traj, v)
    return panel


def gd_drift_panel(verdicts: dict[str, Verdict], record, traj) -> Panel:
    """GD: the balancedness drift (no claim: Δ_k moves by η_t²(G_{k+1}ᵀG_{k+1} − G_kG_kᵀ) per step,
    the identity gd.balancedness_identity checks at the recorded steps)."""
    cid = "gd.balancedness_identity"
    named = [(cid, verdicts[cid].status.value)] if cid in verdicts else []
    panel = Panel("drift", "balancedness drift (GD: not a claim)", named, xlabel=_time_label(traj), ylabel="‖Δ_k(t) − Δ_k(0)‖_F/‖W‖²",
                  note=f"under GD Δ_k changes by η_t² terms each step; {cid} checks that identity"
                  + (f": {verdicts[cid].status.value}" if cid in verdicts else " (not judged)"))
    tm = record.metrics
    for k in range(tm.drift.shape[1]):
        panel.curves += _points(traj, _time_x(traj, tm.times), tm.drift[:, k], tm.times, f"Δ_{k+1}", k, positive="drift", xlog=False)
    _time_marks(panel, traj, None)
    return panel


def run_panels(outcome, claims: Iterable[str] | None = None, *, context: bool = True) -> list[Panel]:
    """The panels of a checked run (a :class:`aligncheck.harness.runner.RunOutcome` from run_checked).

    ``claims``: the claim ids to draw (default: every claim judged on the run, not-applicable ones
    listed in the notes panel); each gets its panel (:func:`panel_key`: a limit claim's own, the
    shared risk or norms panel, or a line in the notes). ``context``: also the risk and norms
    panels (and GD's drift) when no claim asked for them, and the notes panel.
    """
    judged = outcome.judged
    if judged is None:
        raise ProblemError("this run outcome carries no judged run records (make it with aligncheck.run_checked)")
    traj = outcome.trajectory
    verdicts = {v.claim: v for v in outcome.verdicts}
    ids = list(verdicts) if claims is None else list(claims)
    for cid in ids:
        if cid not in REGISTRY:
            raise ProblemError(f"{cid!r} is not a registered claim id (see aligncheck claims)")
    panels: dict[str, Panel] = {}
    notes: dict[str, list[str]] = {}  # the claims not drawn, by status (not applicable: by reason)
    for cid in ids:
        v = verdicts.get(cid)
        key = panel_key(cid)
        if key == "notes" or (v is not None and v.status == Status.NOT_APPLICABLE and claims is None):
            why = "not judged" if v is None else v.status.value + (f" ({v.reason})" if v.status == Status.NOT_APPLICABLE else "")
            notes.setdefault(why, []).append(cid)
            continue
        if key in panels:
            continue
        if key == "risk":
            panels[key] = risk_panel(verdicts, judged.run, traj)
        elif key == "norms":
            panels[key] = norms_panel(verdicts, judged.run, traj)
        else:
            series = judged.series(cid) if v is not None else []
            panels[key] = (bound_panel if REGISTRY[cid].kind in ("bound", "exact") else limit_panel)(cid, v, series, traj)
    if context:
        for key, make in (("risk", risk_panel), ("norms", norms_panel)) + ((("drift", gd_drift_panel),) if traj.method == "gd" else ()):
            if key not in panels:
                panels[key] = make(verdicts, judged.run, traj)
    if notes and (context or claims is not None):
        text = "\n".join(f"{why}: {', '.join(cids)}" for why, cids in notes.items())
        panels["notes"] = Panel("notes", "claims not drawn (no series to draw, or not applicable)", [], note=text, yscale="linear")
    return sorted(panels.values(), key=lambda p: PANEL_ORDER.get(p.key, 2))  # stable: the claims in registry order
