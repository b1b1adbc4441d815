"""Benchmarks of sweeps (issue 13): throughput of the default preset with 1 and 2 workers side by
side, the scheduler's overhead per run, and the client's memory for 10^3 against 10^5 runs.

Usage: pytest -m bench --benchmark-enable -s tests/bench/test_bench_sweep.py

- Throughput: the same SAMPLE runs of the ``default`` preset (every STRIDE-th run of its grid, so
  the sample has the preset's mix of d, n, γ, depth, init, loss, and its share of runs that judge
  the data claims), each on a fresh LocalCluster of 1 and of 2 workers, in one session.
  ``extra_info``: runs, seconds, runs/hour, and the runs' own time on their workers.
- Overhead: a run that does nothing (returns an empty result) through the same client loop,
  cluster and database: its wall time per run is what dask and the client add to every run, with
  the default window (4 in flight on 2 workers: bound by the round trip's latency, which real runs
  of 0.1-3 s hide) and with 64 in flight (bound by the client's and the scheduler's own work).
- Memory: the client loop over 10^3 and 10^5 runs of a stand-in run function (a result of the
  real shape, 16 verdicts, computed in microseconds: 10^5 real runs would take hours and the
  client's memory does not depend on what a worker computed; 64 in flight, so that 10^5 of them
  take minutes, not the window's round trips), each in a fresh process; its peak
  resident memory (VmHWM) is compared, with its resident memory after every 10^4 runs and the
  workers' peaks. Asserted: only that every run was recorded.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("distributed")

from aligncheck.harness.sweep.db import SweepDB  # noqa: E402
from aligncheck.harness.sweep.engine import open_client, run_sweep, runs_per_hour  # noqa: E402
from aligncheck.harness.sweep.grid import GridSource  # noqa: E402
from aligncheck.harness.sweep.spec import load_spec  # noqa: E402

pytestmark = pytest.mark.bench

# The memory benchmark's sweep sizes. The issue asks for 10^3 against 10^5; 10^5 stand-in runs
# take ~20 min on the 2-core machine (the client loop's CPU per run), so the default compares 10^3
# with 10^4; set ALIGNCHECK_MEMORY_RUNS=100000 for the full size.
SIZES = (1_000, int(os.environ.get("ALIGNCHECK_MEMORY_RUNS", 10_000)))
SAMPLE, STRIDE = 160, 19  # 160 runs spread over the default grid's 3,072 (19 is prime to its strides)


class Sample(GridSource):
    """Every STRIDE-th run of the grid, SAMPLE of them."""

    def __init__(self, spec, db):
        super().__init__(spec, db)
        self._todo = itertools.islice(itertools.islice(self._planned(), 0, None, STRIDE), SAMPLE)
        self.total, self.skipped = SAMPLE, 0


def nothing(params: dict) -> dict:
    return {"run": {"worker": "-"}, "verdicts": []}


@pytest.mark.parametrize("workers", [1, 2])
def test_throughput_default_preset(benchmark, tmp_path, workers):
    spec = load_spec("default")

    def sweep():
        with open_client(workers=workers) as client, SweepDB(tmp_path / f"w{workers}-{len(list(tmp_path.iterdir()))}.sqlite") as db:
            client.run(lambda: __import__("aligncheck.harness.sweep.task"))  # imports before the clock, as in a long sweep
            stats = run_sweep(Sample(spec, db), db, client, name="bench", cases_dir=tmp_path / "cases")
            busy, cpu = db.query("SELECT SUM(task_wall), SUM(task_cpu) FROM runs")[0]
        return stats, busy, cpu

    stats, busy, cpu = benchmark.pedantic(sweep, rounds=1, iterations=1)
    assert stats.recorded == SAMPLE and stats.errors == 0
    benchmark.extra_info.update(workers=workers, runs=stats.recorded, seconds=stats.elapsed, runs_per_hour=runs_per_hour(stats),
                                busy_seconds_per_run=busy / stats.recorded, cpu_seconds_per_run=cpu / stats.recorded,
                                load_average=os.getloadavg()[0])
    print(f"\n{workers} worker(s): {stats.recorded} runs in {stats.elapsed:.1f} s = {runs_per_hour(stats):,.0f} runs/hour "
          f"(a run: {busy / stats.recorded:.3f} s wall, {cpu / stats.recorded:.3f} s CPU on its worker; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


@pytest.mark.parametrize("window", [None, 64])
def test_scheduler_overhead_per_run(benchmark, tmp_path, window):
    spec = load_spec("default")
    n = 1000

    class Many(GridSource):
        def __init__(self, spec, db):
            super().__init__(spec, db)
            self._todo = itertools.islice(self._planned(), n)
            self.total, self.skipped = n, 0

    def sweep():
        with open_client(workers=2) as client, SweepDB(tmp_path / f"o{len(list(tmp_path.iterdir()))}.sqlite") as db:
            return run_sweep(Many(spec, db), db, client, name="overhead", cases_dir=tmp_path / "cases", run_fn=nothing, window=window)

    stats = benchmark.pedantic(sweep, rounds=1, iterations=1)
    assert stats.recorded == n
    benchmark.extra_info.update(runs=n, window=window or 4, seconds=stats.elapsed, ms_per_run=1e3 * stats.elapsed / n)
    print(f"\noverhead: {n} empty runs in {stats.elapsed:.2f} s = {1e3 * stats.elapsed / n:.2f} ms per run "
          f"(2 workers, {window or 4} in flight; load average {os.getloadavg()[0]:.1f})")


_MEMORY = textwrap.dedent('''
    import itertools, json, sys
    from aligncheck.harness.sweep.db import SweepDB
    from aligncheck.harness.sweep.engine import Progress, open_client, run_sweep
    from aligncheck.harness.sweep.grid import GridSource
    from aligncheck.harness.sweep.spec import parse_spec

    def fake(params):
        v = {"status": "holds", "value": 1e-5, "threshold": 1e-3, "reason": "x" * 120, "backend": "float64"}
        return {"run": {"stop_reason": "target reached", "run_wall": 0.1, "task_wall": 0.1, "worker": "w"},
                "verdicts": [{**v, "id": c} for c in params["claims"]]}

    def status_kb(field):
        return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])

    class Milestones(Progress):
        """The client's resident memory (VmRSS, kB) after every 10^4 recorded runs."""

        def __init__(self):
            super().__init__(enabled=False)
            self.rss = {}

        def advance(self, stats):
            if stats.recorded % 10_000 == 0:
                self.rss[stats.recorded] = status_kb("VmRSS")

    if __name__ == "__main__":
        n, path = int(sys.argv[1]), sys.argv[2]
        spec = parse_spec({"name": "memory", "seeds": n // 100, "grid": {"gamma": [0.01 * k for k in range(1, 11)], "depth": list(range(1, 11))}})
        with open_client(workers=2) as client, SweepDB(path) as db:
            src = GridSource(spec, db)
            start = status_kb("VmHWM")
            workers_before = client.run(status_kb, "VmHWM")
            milestones = Milestones()
            stats = run_sweep(src, db, client, name="memory", cases_dir=None, run_fn=fake, window=64, progress=milestones)
            print(json.dumps({"runs": stats.recorded, "seconds": stats.elapsed, "peak_kb_before": start, "peak_kb": status_kb("VmHWM"),
                              "rss_kb_every_10000_runs": milestones.rss,
                              "worker_peak_kb_before": max(workers_before.values()),
                              "worker_peak_kb": max(client.run(status_kb, "VmHWM").values())}))
''')


def test_memory_does_not_grow_with_runs(tmp_path):
    script = tmp_path / "memory.py"
    script.write_text(_MEMORY)
    out = {}
    for n in SIZES:
        res = subprocess.run([sys.executable, str(script), str(n), str(tmp_path / f"m{n}.sqlite")], capture_output=True, text=True, timeout=3600)
        out[n] = json.loads(res.stdout.strip().splitlines()[-1])
        assert out[n]["runs"] == n
    print("\nclient peak RSS: " + ", ".join(f"{n:,} runs: {o['peak_kb'] / 1024:.0f} MiB (before the loop {o['peak_kb_before'] / 1024:.0f} MiB, "
                                           f"{o['seconds']:.0f} s)" for n, o in out.items()))
    for n, o in out.items():
        if o["rss_kb_every_10000_runs"]:
            print(f"client RSS after every 10^4 of the {n:,} runs (MiB): "
                  + ", ".join(f"{kb / 1024:.0f}" for kb in o["rss_kb_every_10000_runs"].values()))
    print("worker peak RSS (the larger of the two): " + ", ".join(
        f"{n:,} runs: {o['worker_peak_kb'] / 1024:.0f} MiB (before the loop {o['worker_peak_kb_before'] / 1024:.0f} MiB)" for n, o in out.items()))
