"""dask's per-task records, kept bounded so that a sweep's memory does not grow with its runs.

dask keeps records of every submitted task for its processes' lifetime, which a sweep of 10^5
unique, short-lived tasks grows without bound (~0.5 KiB per run; measured before this module:
the client's peak 234 MiB for 10^5 runs against 142 MiB for 10^3, the scheduler in its process):

- the scheduler's spans extension appends each submission's metadata to the open span, and a sweep
  keeps its span open (runs are always in flight; spans are never forgotten). The scheduler's spans
  here keep no submission metadata (it labels dask's dashboard, which a sweep does not show); the
  spans themselves stay, since the workers report their metrics to them;
- dask.utils.key_split's lru_cache (10^5 entries) holds every task key, in the scheduler and in
  each worker. It is a pure cache: :class:`SchedulerKeyCacheClearing` and
  :class:`WorkerKeyCacheClearing` clear it every KEY_CACHE_RUNS finished tasks, at the cost of one
  recomputation per key;
- msgpack, which dask's messages go through, interns every str map key it reads. CPython keeps
  an interned string only while it is referenced elsewhere, and its table of interned strings is
  sized by its fill, freed entries included: each string interned anew and freed takes a slot
  until the table is rebuilt. Two kinds of map keys did so, ~17 per run (the table's entry count
  read with gdb; the strings named by a breakpoint on their deletion): a run's key in dask's
  default form, ``"<function>-<uuid>"`` (a gather's reply maps keys to data), and the keys of
  dask's serialization headers that are not identifiers (``"pickled-obj"``, ``"as-list"``,
  ``"sub-headers"``...), which CPython does not intern as
  literals of dask's code. The table (~51,000 live strings) so doubled, 1.8 to 3.7 MB, after
  ~1,800 runs and was rebuilt at 3.7 MB every ~7,000 runs, two tables alive for a moment (the
  client's peak +4 MiB at ~8,000 runs; glibc kept the freed tables' heap). :func:`run_key` is a
  tuple, which msgpack reads as a tuple and does not intern, and :func:`pin_protocol_keys` keeps
  the header keys interned for the process's life, in the client, the scheduler and the workers;
- dask's developer logs (messages sent, transitions, events) are bounded at DASK_LOG_LENGTH entries,
  but an entry of the client's log of sent messages is one batch of submissions with their
  serialized runs (~2 KiB each), so at dask's default of 1,000 entries the log filled only after
  several 10^3 runs and then held ~5,000 submissions (~10 MiB);
- the system monitor of each dask process keeps SYSTEM_MONITOR_SAMPLES samples of ~10 quantities
  every 0.5 s (dask's default, 7,200: an hour, ~2 MiB each), a history that dask's dashboard shows
  and a sweep does not; at dask's default it grew through the first hour of every sweep.

DASK_CONFIG is these settings, which the sweep's client sets for its own process and the embedded
cluster (its nannies pass the config on to the workers).

The scheduler's part is :func:`dask_setup`, a dask preload: the embedded LocalCluster's scheduler
loads it, and a cluster's scheduler does with ``dask scheduler --preload
aligncheck.harness.sweep.dask_memory`` (README). The workers' part is registered by each sweep.
"""

from __future__ import annotations

import sys
import types
import uuid
from pathlib import Path

from dask.utils import key_split
from distributed import SchedulerPlugin, WorkerPlugin
from distributed.spans import SpansSchedulerExtension

# dask's default is 1,000 (see the module docstring); at 100 the logs are full within a few hundred
# runs, and they serve only the debugging of dask itself.
DASK_LOG_LENGTH = 100
# One minute of the system monitor's history (see the module docstring).
SYSTEM_MONITOR_SAMPLES = 120
DASK_CONFIG = {"distributed.admin.low-level-log-length": DASK_LOG_LENGTH,
               "distributed.admin.system-monitor.log-length": SYSTEM_MONITOR_SAMPLES}
# Finished tasks between two clearings of key_split's cache: a bound of ~1,000 keys, not 10^5.
KEY_CACHE_RUNS = 1_000


def run_key() -> tuple[str, str]:
    """A new dask key for one run: a tuple (not interned by msgpack, see the module docstring)."""
    return ("aligncheck-run", uuid.uuid4().hex)


_PINNED: list[str] = []


def pin_protocol_keys() -> None:
    """Keep interned, for this process's life, the str literals of dask's protocol modules that are
    not identifiers: the keys of its serialization headers (see the module docstring). Idempotent."""
    if _PINNED:
        return
    keys: set[str] = set()

    def walk(code: types.CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, str) and not const.isidentifier():
                keys.add(const)
            elif isinstance(const, types.CodeType):
                walk(const)

    for name, module in list(sys.modules.items()):
        path = Path(getattr(module, "__file__", None) or "")
        if name.startswith("distributed.protocol") and path.suffix == ".py" and path.is_file():
            walk(compile(path.read_text(encoding="utf-8"), str(path), "exec"))
    _PINNED.extend(sys.intern(key) for key in sorted(keys))


class SpansWithoutMetadata(SpansSchedulerExtension):
    """dask's spans extension, keeping no per-submission metadata."""

    def observe_tasks(self, tss, code, span_metadata):
        return super().observe_tasks(tss, code, None)


class _KeyCacheClearing:
    """Clears key_split's cache in its process after every ``every`` tasks that finished there
    (``None``: KEY_CACHE_RUNS, read at each clearing)."""

    def __init__(self, every: int | None = None):
        self.every, self.finished = every, 0

    def transition(self, key, start: str, finish: str, *args, **kwargs) -> None:
        if finish == "memory":
            self.finished += 1
            if self.finished % (self.every or KEY_CACHE_RUNS) == 0:
                key_split.cache_clear()


class SchedulerKeyCacheClearing(_KeyCacheClearing, SchedulerPlugin):
    name = "aligncheck-key-split-cache"


class WorkerKeyCacheClearing(_KeyCacheClearing, WorkerPlugin):
    """Registered by each sweep (a new registration replaces the previous one); also pins the
    protocol's keys in the worker's process."""

    name = "aligncheck-key-split-cache"

    def setup(self, worker) -> None:
        pin_protocol_keys()


def dask_setup(scheduler) -> None:
    """The scheduler's part, as a dask preload (``dask scheduler --preload <this module>``)."""
    pin_protocol_keys()
    scheduler.extensions["spans"] = SpansWithoutMetadata(scheduler)
    scheduler.add_plugin(SchedulerKeyCacheClearing())
