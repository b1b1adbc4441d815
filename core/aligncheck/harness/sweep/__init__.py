"""Sweeps over the problem space on dask.distributed: where the theorems' assumptions start to bite.

- :mod:`~aligncheck.harness.sweep.spec`: a sweep specification (TOML, or a built-in preset in
  :mod:`~aligncheck.harness.sweep.presets`): the grid, the seeds per cell, the claims, the budget;
  its runs, each a plain dict of parameters with a stable key.
- :mod:`~aligncheck.harness.sweep.task`: one run on a worker (``run_checked``), as plain rows.
- :mod:`~aligncheck.harness.sweep.db`: the results database (SQLite): one row per (run, claim).
- :mod:`~aligncheck.harness.sweep.engine`: the client loop on a dask cluster (a LocalCluster by
  default): a bounded window of runs in flight, every finished run committed on arrival, progress.
- :mod:`~aligncheck.harness.sweep.hunt`: counterexample hunts, an adaptive search on a measured value.
- :mod:`~aligncheck.harness.sweep.summary` and :mod:`~aligncheck.harness.sweep.phase`: what a
  sweep shows (tables, worst runs, closest calls, phase diagrams).

dask is the ``sweep`` extra (``pip install -e ".[sweep]"``); matplotlib is a dependency of
aligncheck. Nothing here imports either at module level, so the rest of aligncheck works without dask.
"""
