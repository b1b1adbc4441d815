"""The client loop of a sweep on a dask.distributed cluster.

- The cluster: ``--scheduler ADDRESS`` connects to a running one; without it, an embedded
  LocalCluster with one single-threaded worker process per core (the nanny starts each worker with
  OMP/MKL/OpenBLAS pinned to one thread, and every run limits BLAS to one thread itself).
- A bounded window of runs in flight (:func:`window_for`: twice the cluster's threads), refilled as
  runs finish, so that a 10^5-run sweep holds no more than a 10^3-run one: runs are drawn lazily
  from their source, each finished run is committed to the database on arrival and dropped.
- Memory: what dask keeps per task is bounded by dask_memory (measured: README, Sweeps).
- Kills: a killed worker's runs are rescheduled by dask on the others; a killed client loses at most
  the window (the database's ``inflight`` table names them, and the next sweep reruns them). Ctrl-C
  stops submitting, cancels the runs in flight and returns what was recorded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol

import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.harness.runner import replay_command
from aligncheck.harness.sweep.db import SweepDB
from aligncheck.harness.sweep.spec import RunTask, run_spec
from aligncheck.harness.sweep.task import run_task

# Runs in flight per worker thread: one running and one queued on the worker, so that no worker
# waits for the client's round trip between two runs (a run takes 0.1-3 s, a round trip ~ms).
INFLIGHT_PER_THREAD = 2
# How often the client looks for finished runs and for Ctrl-C when none has finished (a run takes
# 0.1-3 s: 50 ms is invisible in the throughput and in the response to Ctrl-C).
POLL_SECONDS = 0.05


class Source(Protocol):
    """Where a sweep's runs come from: a grid (fixed) or a hunt (adaptive)."""

    total: int | None  # runs planned, for the progress bar (None: until the budget's time is up)
    skipped: int  # planned runs already recorded in the database

    def next_task(self) -> RunTask | None: ...

    def observe(self, task: RunTask, result: dict) -> None: ...


@dataclass
class SweepStats:
    """What one sweep session did: runs recorded, skipped (already in the database), with a violated
    claim, refused or failed, rerun because an earlier session lost them, still in flight when it
    stopped, and whether Ctrl-C stopped it; ``elapsed`` in seconds."""

    recorded: int = 0
    skipped: int = 0
    violated: int = 0
    errors: int = 0
    rerun_lost: int = 0
    cancelled: int = 0
    interrupted: bool = False
    elapsed: float = 0.0


def aligncheck_version() -> str:
    try:
        return version("aligncheck")
    except PackageNotFoundError:
        return "0+unknown"


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A dask Client on the cluster at ``scheduler``, or on a new LocalCluster of ``workers``
    single-threaded worker processes (default: the machine's cores); closed on exit."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ProblemError('sweeps need dask.distributed: pip install "aligncheck[sweep]"') from None
    from aligncheck.harness.sweep import dask_memory

    dask_memory.pin_protocol_keys()  # the client reads dask's messages too
    with dask.config.set(dask_memory.DASK_CONFIG):
        if scheduler is not None:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ProblemError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
            with client:
                yield client
            return
        n = workers or os.cpu_count() or 1
        with warnings.catch_warnings():
            # The scheduler's HTTP server (health checks; the dashboard is off) moves to a free port
            # when 8787 is taken, e.g. by another sweep, and warns: nothing for the user to do.
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   host="127.0.0.1", silence_logs=logging.ERROR,
                                   scheduler_kwargs={"preload": [dask_memory.__name__]})
        with cluster, Client(cluster) as client:
            yield client


def window_for(client) -> int:
    """Runs kept in flight: INFLIGHT_PER_THREAD per worker thread of the cluster (at least 2)."""
    threads = sum(client.nthreads().values())
    return max(2, INFLIGHT_PER_THREAD * threads)


def save_replay(task: RunTask, result: dict, cases_dir: Path) -> str:
    """Save a violated run's data under ``cases_dir`` and return the command that replays it."""
    cases_dir.mkdir(parents=True, exist_ok=True)
    path = cases_dir / f"{task.params['case']}-{task.params['problem_seed']}-{task.key[:8]}.npz"
    np.savez(path, X=result["X"], y=result["y"])
    return replay_command(path, run_spec(task.params))


@contextlib.contextmanager
def _ctrl_c_as_flag() -> Iterator[threading.Event]:
    """Within the block, SIGINT (Ctrl-C) sets the returned flag instead of raising
    KeyboardInterrupt wherever the main thread happens to be: raised inside dask's or tornado's
    internals (a future's __del__, a callback) it could be swallowed, and the sweep went on to the
    end (seen twice on a loaded machine). The loop of run_sweep tests the flag between runs."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only: nothing to install
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def run_sweep(source: Source, db: SweepDB, client, *, name: str, cases_dir: Path, deadline: float | None = None,
              window: int | None = None, progress: Progress | None = None,
              run_fn: Callable[[dict], dict] = run_task) -> SweepStats:
    """Run ``source``'s runs on ``client``'s cluster, recording each in ``db`` as it finishes, until
    the source is exhausted or ``deadline`` (time.monotonic()) passes; Ctrl-C stops it cleanly."""
    from distributed import as_completed

    from aligncheck.harness.sweep import dask_memory

    t0 = time.monotonic()
    stats = SweepStats(skipped=source.skipped)
    lost = db.inflight()
    stats.rerun_lost = len(lost)
    db.forget_inflight(lost)  # the source draws them again: they are not recorded
    window = window or window_for(client)
    client.register_plugin(dask_memory.WorkerKeyCacheClearing(dask_memory.KEY_CACHE_RUNS))
    flying: dict = {}
    done = as_completed()
    ver = aligncheck_version()
    if progress is not None:
        progress.start(source.total, source.skipped)

    def fill() -> None:
        while len(flying) < window and (deadline is None or time.monotonic() < deadline):
            task = source.next_task()
            if task is None:
                return
            db.submitted(task.key, task.params)
            fut = client.submit(run_fn, task.params, key=dask_memory.run_key())
            flying[fut] = task
            done.add(fut)

    def record(fut) -> None:
        task = flying.pop(fut)
        try:
            result = fut.result()
        except Exception as exc:  # the run's worker died repeatedly (dask's KilledWorker), ...
            result = {"run": {"error": f"lost: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}, "verdicts": []}
        violated = any(v["status"] == "violated" for v in result.get("verdicts", ()))
        replay = save_replay(task, result, cases_dir) if violated and result.get("X") is not None else None
        db.record(task.key, name, task.params, result, replay=replay, version=ver)
        source.observe(task, result)
        stats.recorded += 1
        stats.violated += violated
        stats.errors += bool(result.get("run", {}).get("error"))
        if progress is not None:
            progress.advance(stats)

    try:
        with _ctrl_c_as_flag() as stop:
            fill()
            while flying:
                batch = done.next_batch(block=False)
                if not batch:
                    if stop.is_set():
                        raise KeyboardInterrupt
                    time.sleep(POLL_SECONDS)
                    continue
                for fut in batch:  # finished: recorded even when Ctrl-C came meanwhile
                    record(fut)
                if stop.is_set():
                    raise KeyboardInterrupt
                fill()
    except KeyboardInterrupt:
        stats.interrupted = True
        stats.cancelled = len(flying)
        with contextlib.suppress(Exception):
            client.cancel(list(flying))
    finally:
        stats.elapsed = time.monotonic() - t0
        if progress is not None:
            progress.stop()
    return stats


class Progress:
    """A rich progress bar on stderr: runs done of total, rate (runs/hour), ETA, violations and errors."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None

    def start(self, total: int | None, done: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._t0, self._done0 = time.monotonic(), done
        self._bar = Bar(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("runs  {task.fields[rate]}"),
                        TextColumn("ETA"), TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                        TextColumn("[red]{task.fields[violations]}[/red]  {task.fields[errors]}"),
                        console=Console(file=sys.stderr), transient=False)
        self._bar.start()
        self._task = self._bar.add_task("sweep", total=total, completed=done, rate="", violations="0 violations", errors="")

    def advance(self, stats: SweepStats) -> None:
        if self._bar is None:
            return
        dt = time.monotonic() - self._t0
        rate = f"{3600 * stats.recorded / dt:,.0f}/h" if dt > 0 else ""
        self._bar.update(self._task, advance=1, rate=rate, violations=f"{stats.violated} violated",
                         errors=f"{stats.errors} refused/failed" if stats.errors else "")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def runs_per_hour(stats: SweepStats) -> float:
    """The session's throughput (recorded runs per hour of wall time)."""
    return 3600.0 * stats.recorded / stats.elapsed if stats.elapsed > 0 else math.nan
