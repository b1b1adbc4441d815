"""The results database of a sweep: an SQLite file (the standard library's sqlite3), written only
by the sweep's client, one transaction per finished run.

Tables:
- ``runs``: one row per run: its key, the sweep's name, the cell's axes (one column each, and the
  whole cell as JSON in ``cell``), the seeds, the problem's actual n, d and γ, the stop reason,
  wall times (``run_wall``: the dynamics; ``task_wall``: the whole run on its worker, judging and
  second looks included; ``task_cpu``: its CPU time, which other load on the machine inflates
  less), the gradient evaluations, the end and support-phase times (see task.support_phase_from), the backend, the worker,
  ``error`` (a refused run, or an internal error), the replay command of a run with a violation,
  the aligncheck version and when it finished;
- ``verdicts``: one row per (run, claim): status, value (``value`` REAL; a non-finite value as text
  in ``value_text``), threshold, reason, backend, confirmation (the high-precision second look of a
  float64 violation) with the float64 value, certificate, judged_from, and the claim's kind;
- ``inflight``: the runs submitted to the cluster and not yet recorded. A run's result and the
  removal of its in-flight row are one transaction, so after the client is killed (kill -9) this
  table holds exactly the runs that were lost; the next sweep on the same database reruns them;
- ``meta``: the SPEC text of every sweep started on the file, and the schema version;
- the view ``results``: verdicts joined with their runs, one row per (run, claim) with everything.

WAL journal: a reader (``aligncheck sweep-report``) can read while a sweep writes, and a committed
run survives the client's kill (synchronous=NORMAL loses a commit only on a crash of the machine).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from aligncheck.claims.registry import REGISTRY
from aligncheck.errors import ProblemError

SCHEMA_VERSION = "1"
CELL_COLUMNS = ("problem", "d", "n", "gamma", "sv", "sv_rank", "n_sv", "depth", "width", "widths", "init",
                "init_scale", "loss", "method", "step", "steps")
RUN_COLUMNS = ("key", "sweep", "cell", *CELL_COLUMNS, "seed_index", "problem_seed", "init_seed", "problem_n",
               "problem_d", "problem_gamma", "stop_reason", "run_wall", "task_wall", "task_cpu", "grad_evals", "t_end",
               "t_support", "backend", "worker", "error", "replay", "version", "finished_at")
VERDICT_COLUMNS = ("run_key", "claim", "kind", "status", "value", "value_text", "threshold", "reason", "backend",
                   "confirmation", "float64_value", "certificate", "judged_from")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs ({", ".join(c + (" TEXT PRIMARY KEY" if c == "key" else "") for c in RUN_COLUMNS)});
CREATE TABLE IF NOT EXISTS verdicts ({", ".join(VERDICT_COLUMNS)}, PRIMARY KEY (run_key, claim));
CREATE INDEX IF NOT EXISTS verdicts_claim ON verdicts (claim, status);
CREATE TABLE IF NOT EXISTS inflight (key TEXT PRIMARY KEY, submitted_at REAL, params TEXT);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE VIEW IF NOT EXISTS results AS
    SELECT v.claim, v.kind, v.status, v.value, v.value_text, v.threshold, v.reason, v.backend AS verdict_backend,
           v.confirmation, v.float64_value, v.certificate, v.judged_from, r.*
    FROM verdicts v JOIN runs r ON r.key = v.run_key;
"""


def _real(x: object) -> float | None:
    """A verdict value as REAL: None for None and for the strings of non-finite values."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


WRITER_CACHE_KIB = 100  # the writing connection's page cache (see SweepDB)


class SweepDB:
    """The sweep database at ``path`` (created if missing). ``readonly``: open an existing file for
    reading only (ProblemError if it is not a sweep database)."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise ProblemError(f"{path}: no such database file")
            self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path)
        try:
            if readonly:
                tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master")}
                if not {"runs", "verdicts"} <= tables:
                    raise ProblemError(f"{path}: not an aligncheck sweep database (no runs/verdicts tables)")
            else:
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=NORMAL")
                # SQLite's default page cache (2 MiB) filled within the first ~10^3 runs and was 2 of
                # the client's MiB in every larger sweep; a sweep appends rows and looks keys up by
                # index, which the OS's file cache serves as well. Measured with 8,000 stand-in runs:
                # peak 131 against 133 MiB, 149 against 146 s (README, Sweeps).
                self.con.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                self.con.executescript(_SCHEMA)
                self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                self.con.commit()
        except sqlite3.DatabaseError as exc:
            self.con.close()
            raise ProblemError(f"{path}: not an SQLite database ({exc})") from None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SweepDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ writing (the client only)

    def note_spec(self, name: str, text: str) -> None:
        """Keep the SPEC text of a sweep started on this file."""
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"spec:{name}", text))

    def has(self, key: str) -> bool:
        """Whether run ``key`` is recorded (an index lookup: a 10^5-run sweep holds no key set)."""
        return self.con.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone() is not None

    def submitted(self, key: str, params: dict) -> None:
        """Mark run ``key`` as in flight (committed at once: it is what a kill would lose)."""
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO inflight VALUES (?, ?, ?)", (key, time.time(), json.dumps(params)))

    def forget_inflight(self, keys: Iterable[str]) -> None:
        with self.con:
            self.con.executemany("DELETE FROM inflight WHERE key = ?", [(k,) for k in keys])

    def record(self, key: str, sweep: str, params: dict, result: dict, *, replay: str | None, version: str) -> None:
        """Write one finished run and its verdicts, and clear its in-flight row, in one transaction."""
        run = result.get("run", {})
        cell = {c: params.get("case" if c == "problem" else c) for c in CELL_COLUMNS}
        row = {"key": key, "sweep": sweep, "cell": json.dumps(cell_of(params), sort_keys=True), **cell,
               "seed_index": params.get("seed_index"), "problem_seed": params.get("problem_seed"),
               "init_seed": params.get("init_seed"), "problem_n": run.get("n"), "problem_d": run.get("d"),
               "problem_gamma": run.get("gamma"), "replay": replay, "version": version, "finished_at": time.time(),
               **{c: run.get(c) for c in ("stop_reason", "run_wall", "task_wall", "task_cpu", "grad_evals", "t_end",
                                           "t_support", "backend", "worker", "error")}}
        verdicts = [(key, v["id"], REGISTRY[v["id"]].kind if v["id"] in REGISTRY else None, v["status"], _real(v["value"]),
                     None if v["value"] is None else str(v["value"]), _real(v["threshold"]), v["reason"], v["backend"],
                     v.get("confirmation"), _real(v.get("float64_value")), v.get("certificate"), v.get("judged_from"))
                    for v in result.get("verdicts", ())]
        with self.con:
            self.con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                             [row[c] for c in RUN_COLUMNS])
            self.con.execute("DELETE FROM verdicts WHERE run_key = ?", (key,))
            self.con.executemany(f"INSERT INTO verdicts VALUES ({', '.join('?' * len(VERDICT_COLUMNS))})", verdicts)
            self.con.execute("DELETE FROM inflight WHERE key = ?", (key,))

    # ------------------------------------------------------------ reading

    def count_runs(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def inflight(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT key FROM inflight ORDER BY submitted_at")]

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Rows of ``sql`` (sqlite3.Row: by name or index)."""
        self.con.row_factory = sqlite3.Row
        try:
            return self.con.execute(sql, args).fetchall()
        finally:
            self.con.row_factory = None


def cell_of(params: dict) -> dict:
    """The cell of a run's params: its axes, without seeds, claims and plugins."""
    from aligncheck.harness.sweep.spec import AXES

    return {a: params.get(a) for a in AXES}
