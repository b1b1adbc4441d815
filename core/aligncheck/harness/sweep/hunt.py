"""Counterexample hunts: a simple adaptive search over a grid's axes for the runs where one claim (a
conjecture, say) comes closest to failing.

The search is an elitist mutation search on the claim's measured value (no gradient, no model):
``population`` runs drawn uniformly from the grid's axes; from then on each new run mutates one of
the ``keep`` closest calls so far (one or two axes moved to a neighbouring value, fresh init seed,
the problem seed kept half of the time), and a share ``explore`` of the runs is drawn uniformly
again so that the search does not sit in one basin. A run's closeness is :func:`closeness`: a
violation is +inf; otherwise how far the measured value has gone towards the claim's failing side.

Settings in the SPEC's [hunt] table: ``target`` (a claim id; default the only claim of ``claims``),
``population`` (16), ``keep`` (8), ``explore`` (0.25). The hunt runs until its budget (runs or wall
time) is spent; it resumes from the closest calls already in the database.
"""

from __future__ import annotations

import json
import math

import numpy as np

from aligncheck.claims.registry import REGISTRY, Claim
from aligncheck.errors import ProblemError
from aligncheck.harness.sweep.db import SweepDB
from aligncheck.harness.sweep.spec import AXES, RunTask, SweepSpec, normalise, claim_ids, feasible, make_task

# Redraws allowed for a feasible cell (a random combination of the axes can ask for, e.g., more
# support-vector rank than dimensions); the presets' grids need a few on average.
MAX_REDRAWS = 2000


def closeness(claim: Claim, status: str, value: float | None, threshold: float | None) -> float | None:
    """How close a verdict came to violating ``claim`` (larger: closer; +inf: violated; None: no
    value to rank). A claim whose worst end is "max" (a gap that must go to 0) is ranked by
    value/threshold; one whose worst end is "min" (a margin or a smallest step that must stay above
    its threshold) by threshold − value."""
    if status == "violated":
        return math.inf
    if value is None or not math.isfinite(value) or status == "not_applicable":
        return None
    if claim.worse == "max":
        return value / threshold if threshold and threshold > 0 else value
    return (threshold or 0.0) - value


class HuntSource:
    """The runs of a hunt (see the module docstring) for ``spec`` (mode "hunt"), recording in ``db``."""

    def __init__(self, spec: SweepSpec, db: SweepDB):
        h = spec.hunt
        target = h.get("target")
        if target is None:
            ids = {c for m in ("gf", "gd") for c in claim_ids(spec, m)}
            if len(ids) != 1:
                raise ProblemError("a hunt needs [hunt] target = CLAIM (its claims select more than one)")
            target = ids.pop()
        if target not in REGISTRY:
            raise ProblemError(f"hunt target {target!r} is not a registered claim")
        self.spec, self.claim = spec, REGISTRY[target]
        self.population, self.keep, self.explore = int(h.get("population", 16)), int(h.get("keep", 8)), float(h.get("explore", 0.25))
        unknown = set(h) - {"target", "population", "keep", "explore"}
        if unknown or self.population < 1 or self.keep < 1 or not 0 <= self.explore <= 1:
            raise ProblemError(f"[hunt]: target, population ≥ 1, keep ≥ 1, 0 ≤ explore ≤ 1 (got {h})")
        self.axes = {a: list(spec.grid.get(a, (AXES[a],))) for a in AXES}
        before = db.query("SELECT COUNT(*) FROM runs WHERE sweep = ?", (spec.name,))[0][0]
        self.rng = np.random.default_rng([spec.seed, before])  # a resumed hunt draws new runs
        self.total, self.skipped, self.drawn = spec.budget.runs, 0, 0
        self.elite: list[tuple[float, dict]] = []
        rows = db.query("SELECT r.cell, r.problem_seed, r.init_seed, v.status, v.value, v.threshold FROM verdicts v "
                        "JOIN runs r ON r.key = v.run_key WHERE v.claim = ? AND r.sweep = ?", (target, spec.name))
        for r in rows:
            self._consider(closeness(self.claim, r["status"], r["value"], r["threshold"]),
                           {**json.loads(r["cell"]), "problem_seed": r["problem_seed"], "init_seed": r["init_seed"]})

    def _consider(self, score: float | None, params: dict) -> None:
        if score is None:
            return
        self.elite.append((score, params))
        self.elite.sort(key=lambda e: -e[0])
        del self.elite[self.keep:]

    def _feasible(self, cell: dict) -> dict | None:
        c = normalise(cell)
        if c["case"] != "planted":
            c.update({a: None for a in ("d", "n", "gamma") if a not in self.spec.grid})
        return c if feasible(c) is None and self.claim.id in claim_ids(self.spec, c["method"]) else None

    def _random_cell(self) -> dict:
        for _ in range(MAX_REDRAWS):
            c = self._feasible({a: v[self.rng.integers(len(v))] for a, v in self.axes.items()})
            if c is not None:
                return c
        raise ProblemError(f"hunt: no feasible cell in {MAX_REDRAWS} random draws of the grid's axes")

    def _mutant(self, parent: dict) -> dict | None:
        varying = [a for a, v in self.axes.items() if len(v) > 1]
        cell = {a: parent.get(a, AXES[a]) for a in AXES}
        for a in self.rng.choice(varying, size=min(len(varying), int(self.rng.integers(1, 3))), replace=False) if varying else []:
            values = self.axes[a]
            i = values.index(cell[a]) if cell[a] in values else int(self.rng.integers(len(values)))
            cell[a] = values[int(np.clip(i + self.rng.choice([-1, 1]), 0, len(values) - 1))]
        for a in ("sv_rank", "n_sv"):  # re-derived from the new d and sv unless the grid sets them
            if a not in self.spec.grid:
                cell[a] = None
        return self._feasible(cell)

    def next_task(self) -> RunTask | None:
        if self.total is not None and self.drawn >= self.total:
            return None
        seeds = {"problem_seed": int(self.rng.integers(2**32)), "init_seed": int(self.rng.integers(2**32))}
        cell = None
        if len(self.elite) >= min(self.keep, self.population) and self.drawn >= self.population and self.rng.random() >= self.explore:
            parent = self.elite[int(self.rng.integers(len(self.elite)))][1]
            cell = self._mutant(parent)
            if cell is not None and self.rng.random() < 0.5:
                seeds["problem_seed"] = parent["problem_seed"]
        cell = cell or self._random_cell()
        task = make_task(self.spec, cell, self.drawn, **seeds)
        self.drawn += 1
        return task

    def observe(self, task: RunTask, result: dict) -> None:
        for v in result.get("verdicts", ()):
            if v["id"] == self.claim.id:
                value = v["value"] if isinstance(v["value"], (int, float)) else None
                self._consider(closeness(self.claim, v["status"], value, v["threshold"]), task.params)
