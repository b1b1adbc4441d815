"""The convergence plots of a session report: per claim, the panel of its worst example and of a
typical one, kept while judging, as plain JSON data (no example is re-run for the report).

While a session runs, a :class:`PlotKeeper` (one per process, on the Recorder) is offered every
recorded example's run; per claim it keeps the panel data (aligncheck.harness.run_panels, made
JSON-able by :func:`panel_dict`) of

- its worst example so far: the same order as the report's "worst" (judged verdicts, holds or
  violated, before inconclusive ones; then the claim's worse end, ``Claim.worse``), ties broken by
  the example's key (its problem, seeds and run spec);
- a sample of candidates for "typical": per claim and tier (judged / inconclusive), the SAMPLE
  examples with the smallest CRC-32 of their key (a bottom-k sample: the bottom-k of the union of
  the workers' bottom-k is the bottom-k of the session, so the sample does not depend on which
  pytest-xdist worker ran what).

The controller merges the workers' keepers (:meth:`PlotKeeper.merge`) and :meth:`PlotKeeper.choose`
stores per claim the worst and, as typical, the candidate whose value is closest to the session
median (in log10 for positive values). Panels are computed only for an example that becomes a
candidate, and series are thinned to MAX_POINTS points with 5 significant digits.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status
from aligncheck.harness.run_panels import Curve, Line, Panel, panel_key, run_panels

SAMPLE = 5  # candidates for "typical" kept per claim and tier
MAX_POINTS = 200  # points per curve in the report
DIGITS = 5  # significant digits of the numbers stored
JUDGED = (Status.HOLDS.value, Status.VIOLATED.value)


def _num(x: float) -> float | None:
    x = float(x)
    return float(f"{x:.{DIGITS}g}") if math.isfinite(x) else None


def _thin(a: np.ndarray) -> list[float | None]:
    a = np.asarray(a, float)
    if len(a) > MAX_POINTS:
        a = a[np.unique(np.round(np.linspace(0, len(a) - 1, MAX_POINTS)).astype(int))]
    return [_num(x) for x in a]


def panel_dict(panel: Panel) -> dict:
    """A panel as JSON-able data: what :func:`aligncheck.harness.plot_run.draw_panel` draws (no
    series or judgements), each curve thinned to MAX_POINTS points, numbers to DIGITS digits."""
    return {
        "key": panel.key, "title": panel.title, "claims": [list(c) for c in panel.claims], "xlabel": panel.xlabel,
        "ylabel": panel.ylabel, "xscale": panel.xscale, "yscale": panel.yscale, "note": panel.note,
        "curves": [{"label": c.label, "x": _thin(c.x), "y": _thin(c.y), "role": c.role, "segment": c.segment, "part": c.part}
                   for c in panel.curves],
        "lines": [{"axis": ln.axis, "at": _num(ln.at), "label": ln.label, "role": ln.role, "y": None if ln.y is None else _num(ln.y)}
                  for ln in panel.lines],
        "windows": [[_num(a), _num(b)] for a, b in panel.windows],
    }


def _arr(xs: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in xs], dtype=float)


def panel_from_dict(d: dict) -> Panel:
    """The Panel of :func:`panel_dict`'s data (for drawing)."""
    return Panel(
        d["key"], d["title"], [tuple(c) for c in d["claims"]], d["xlabel"], d["ylabel"], d["xscale"], d["yscale"],
        [Curve(c["label"], _arr(c["x"]), _arr(c["y"]), c["role"], c["segment"], c["part"]) for c in d["curves"]],
        [Line(ln["axis"], ln["at"], ln["label"], ln["role"], ln["y"]) for ln in d["lines"]],
        [tuple(w) for w in d["windows"]], d["note"],
    )


def sample_rank(key: str) -> int:
    """The example's place in the bottom-k sample: CRC-32 of its key (the same in every process)."""
    return zlib.crc32(key.encode())


def _tier(status: str) -> int:
    return 1 if status in JUDGED else 0


def _worse(a: dict, b: dict | None, direction: str) -> bool:
    """Whether candidate ``a`` is worse than ``b`` (None: no candidate yet)."""
    if b is None:
        return True
    sign = -1.0 if direction == "min" else 1.0
    ka, kb = (_tier(a["status"]), sign * a["value"]), (_tier(b["status"]), sign * b["value"])
    return ka > kb or (ka == kb and a["key"] < b["key"])


def _direction(cid: str) -> str:
    return REGISTRY[cid].worse if cid in REGISTRY else "max"


@dataclass
class PlotKeeper:
    """Per claim: ``worst`` (one candidate) and ``sample`` (tier -> up to SAMPLE candidates); a
    candidate is {"key", "rank", "value", "status", "case", "seed", "init_seed", "depth", "panel"}."""

    worst: dict[str, dict] = field(default_factory=dict)
    sample: dict[str, dict[str, list[dict]]] = field(default_factory=dict)

    def offer(self, outcome, example: dict, key: str) -> None:
        """Consider every drawable verdict of ``outcome`` (a RunOutcome with its judged run) of the
        recorded ``example`` (its record: case, seeds, depth) under the example key ``key``."""
        if getattr(outcome, "judged", None) is None:
            return
        rank = sample_rank(key)
        for v in outcome.verdicts:
            if v.status == Status.NOT_APPLICABLE or v.value is None or not math.isfinite(v.value):
                continue
            if v.claim not in REGISTRY or panel_key(v.claim) == "notes":
                continue
            cand = {"key": key, "rank": rank, "value": float(v.value), "status": v.status.value,
                    **{k: example.get(k) for k in ("case", "seed", "init_seed", "depth")}}
            tier = str(_tier(cand["status"]))
            pool = self.sample.setdefault(v.claim, {}).setdefault(tier, [])
            to_sample = len(pool) < SAMPLE or (rank, key) < max((c["rank"], c["key"]) for c in pool)
            to_worst = _worse(cand, self.worst.get(v.claim), _direction(v.claim))
            if not (to_sample or to_worst):
                continue
            try:
                cand["panel"] = panel_dict(run_panels(outcome, [v.claim], context=False)[0])
            except Exception as exc:  # a plot must never cost a verdict: the page says what went wrong
                cand["panel"] = None
                cand["error"] = f"{type(exc).__name__}: {exc}"
            if to_worst:
                self.worst[v.claim] = cand
            if to_sample:
                self._add(v.claim, tier, cand)

    def _add(self, cid: str, tier: str, cand: dict) -> None:
        pool = self.sample.setdefault(cid, {}).setdefault(tier, [])
        if any(c["key"] == cand["key"] for c in pool):
            return
        pool.append(cand)
        pool.sort(key=lambda c: (c["rank"], c["key"]))
        del pool[SAMPLE:]

    def records(self) -> dict:
        """JSON-able data (what a pytest-xdist worker sends)."""
        return {"worst": self.worst, "sample": self.sample}

    def merge(self, records: dict) -> None:
        """Add another keeper's :meth:`records` (the result does not depend on the order)."""
        for cid, cand in records.get("worst", {}).items():
            if _worse(cand, self.worst.get(cid), _direction(cid)):
                self.worst[cid] = cand
        for cid, tiers in records.get("sample", {}).items():
            for tier, pool in tiers.items():
                for cand in pool:
                    self._add(cid, tier, cand)

    def choose(self, values: dict[str, dict[str, list[float]]]) -> dict[str, dict]:
        """Per claim (``values``: claim -> tier -> the session's values of its verdicts), the worst
        and the typical example: the sampled candidate of the highest tier with values whose value
        is closest to that tier's median. Claims without a candidate are left out."""
        out = {}
        for cid in [c for c in REGISTRY if c in self.worst] + sorted(c for c in self.worst if c not in REGISTRY):
            entry = {"worst": _shown(self.worst[cid])}
            tiers = values.get(cid, {})
            tier = "1" if tiers.get("1") else "0"
            pool = self.sample.get(cid, {}).get(tier, [])
            if pool and tiers.get(tier):
                median = float(np.median(tiers[tier]))
                best = min(pool, key=lambda c: (_distance(c["value"], median), c["rank"], c["key"]))
                entry["typical"] = {**_shown(best), "median": median}
            out[cid] = entry
        return out


def _shown(cand: dict) -> dict:
    return {k: v for k, v in cand.items() if k != "rank"}


def _distance(value: float, median: float) -> float:
    if value > 0 and median > 0:
        return abs(math.log10(value) - math.log10(median))
    return abs(value - median)
