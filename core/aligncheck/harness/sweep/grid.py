"""The runs of a grid sweep, drawn lazily, skipping those the database already has (resume)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from aligncheck.errors import ProblemError
from aligncheck.harness.sweep.db import SweepDB
from aligncheck.harness.sweep.spec import RunTask, SweepSpec, cells, grid_size, grid_tasks


class GridSource:
    """The first ``budget.runs`` runs of the grid (all of them without a run budget), in grid order,
    less those recorded in ``db``. ``total``: the planned runs; ``skipped``: those already recorded;
    ``infeasible``: grid cells that cannot run (cell JSON -> reason). One pass over the planned
    keys counts the skipped ones (an index lookup each), so memory does not grow with the grid."""

    def __init__(self, spec: SweepSpec, db: SweepDB):
        self.spec, self.db = spec, db
        self.data, self.runs, self.infeasible = cells(spec)
        if not self.data or not self.runs:
            why = next(iter(self.infeasible.values()), "the grid is empty")
            raise ProblemError(f"no grid cell can run ({len(self.infeasible)} infeasible; e.g. {why})")
        size = grid_size(spec, self.data, self.runs)
        self.total = size if spec.budget.runs is None else min(size, spec.budget.runs)
        self.skipped = sum(db.has(t.key) for t in self._planned())
        self._todo = (t for t in self._planned() if not db.has(t.key))

    def _planned(self) -> Iterator[RunTask]:
        return itertools.islice(grid_tasks(self.spec, self.data, self.runs), self.total)

    def next_task(self) -> RunTask | None:
        return next(self._todo, None)

    def observe(self, task: RunTask, result: dict) -> None:
        """A grid does not adapt."""
