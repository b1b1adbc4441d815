"""Sweeps on a dask LocalCluster (aligncheck.harness.sweep): the rows a small sweep writes, resume,
kill -9 of the client and of a worker mid-sweep, a violated claim's confirmation and replay, a
hunt, and the report. Tiny runs (d = 2, n = 6: ~0.3-0.8 s each) on a 2-worker cluster."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from aligncheck.claims import registry  # noqa: E402
from aligncheck.harness import cli  # noqa: E402
from aligncheck.harness.sweep import dask_memory  # noqa: E402
from aligncheck.harness.sweep.db import WRITER_CACHE_KIB, SweepDB  # noqa: E402
from aligncheck.harness.sweep.engine import open_client, run_sweep  # noqa: E402
from aligncheck.harness.sweep.grid import GridSource  # noqa: E402
from aligncheck.harness.sweep.hunt import HuntSource  # noqa: E402
from aligncheck.harness.sweep.spec import parse_spec  # noqa: E402
from dask.utils import key_split  # noqa: E402

TINY = {"name": "tiny", "seeds": 2, "claims": ["gf.max_margin_v1", "gf.rank_one", "data.alpha_positive"],
        "grid": {"d": 2, "n": 6, "gamma": [0.1, 0.4], "depth": [1, 2]}}
# A claim that is false on every gradient-flow run (the risk falls): registered by a plugin module
# that the workers import, so a sweep records a real violation with its second look.
PLUGIN = '''
import numpy as np
from aligncheck.claims.registry import claim, register_paper
from aligncheck.claims.verdicts import Status, Verdict

register_paper("sweep_test", "none", "a deliberately false claim")


@claim("test.risk_never_falls", statement="R(W(t)) never decreases (false)", source="test", kind="exact",
       paper="sweep_test", group="test")
def risk_never_falls(run):
    lr = np.array([float(x) for x in run.metrics.stack("log_risk")])
    fell = float(np.max(lr[:-1] - lr[1:]))
    return Verdict("test.risk_never_falls", Status.VIOLATED if fell > 0 else Status.HOLDS, fell, 0.0, f"log R fell by {fell:.3g}")
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("plugin")
    (d / "sweep_test_claim.py").write_text(PLUGIN)
    sys.path.insert(0, str(d))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(d) + (os.pathsep + old if old else "")  # the workers' too
    yield d
    sys.path.remove(str(d))
    # The client imported the plugin too (it registered its claim here): take it out again, so
    # that later tests in this process (an xdist worker runs conjectures/ after this module) see
    # the registry as the package left it.
    sys.modules.pop("sweep_test_claim", None)
    for cid in [cid for cid, c in registry.REGISTRY.items() if c.paper == "sweep_test"]:
        registry._BY_PREDICATE.pop(registry.REGISTRY.pop(cid).predicate, None)
    registry.PAPERS.pop("sweep_test", None)
    if old is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def client(plugin_dir):
    with open_client(workers=2) as c:
        yield c


def _sweep(doc: dict, path: Path, client, source=None):
    spec = parse_spec(doc)
    with SweepDB(path) as db:
        src = source(spec, db) if source else GridSource(spec, db)
        return src, run_sweep(src, db, client, name=spec.name, cases_dir=path.with_suffix(".cases"))


def _rows(path: Path, sql: str) -> list:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def tiny_db(client, tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "tiny.sqlite"
    _, stats = _sweep(TINY, path, client)
    return path, stats


def test_small_sweep_writes_one_row_per_run_and_claim(tiny_db):
    path, stats = tiny_db
    assert (stats.recorded, stats.skipped, stats.errors) == (8, 0, 0)
    runs = _rows(path, "SELECT gamma, depth, seed_index, problem_seed, init_seed, stop_reason, task_wall, problem_n, problem_d FROM runs")
    assert sorted((g, L, i) for g, L, i, *_ in runs) == sorted((g, L, i) for g in (0.1, 0.4) for L in (1, 2) for i in (0, 1))
    assert all(r[5] and r[6] > 0 and (r[7], r[8]) == (6, 2) for r in runs)
    # the seeds depend only on the seed index: every cell runs on the same draws
    assert len({(i, ps, s) for _, _, i, ps, s, *_ in runs}) == 2
    claims = _rows(path, "SELECT claim, depth, status, backend FROM results")
    by_claim = {c: [r for r in claims if r[0] == c] for c in TINY["claims"]}
    assert len(by_claim["gf.max_margin_v1"]) == len(by_claim["gf.rank_one"]) == 8
    # a data claim once per (problem, loss): on the grid's first network configuration, depth 1
    assert len(by_claim["data.alpha_positive"]) == 4 and {r[1] for r in by_claim["data.alpha_positive"]} == {1}
    assert {r[2] for r in claims} <= {"holds", "violated", "inconclusive", "not_applicable"}
    assert {r[2] for r in by_claim["gf.max_margin_v1"]} == {"holds"}  # small margins on d = 2: judged and holding
    assert _rows(path, "SELECT COUNT(*) FROM inflight") == [(0,)]


def test_resumed_sweep_skips_recorded_runs(tiny_db, client):
    path, _ = tiny_db
    src, stats = _sweep(TINY, path, client)
    assert (src.total, src.skipped, stats.recorded) == (8, 8, 0)
    src, stats = _sweep({**TINY, "seeds": 3}, path, client)  # one more seed per cell: only its runs run
    assert (src.total, src.skipped, stats.recorded) == (12, 8, 4)
    assert _rows(path, "SELECT COUNT(*), COUNT(DISTINCT key) FROM runs") == [(12, 12)]


def test_violated_claim_carries_confirmation_and_replay(client, tmp_path, capsys):
    doc = {"name": "false", "claims": ["test.risk_never_falls", "gf.rank_one"], "plugins": ["sweep_test_claim"],
           "grid": {"d": 2, "n": 6, "gamma": 0.3}}
    path = tmp_path / "false.sqlite"
    _, stats = _sweep(doc, path, client)
    assert stats.violated == 1
    (status, confirmation, replay, stop), = _rows(path, "SELECT status, confirmation, replay, stop_reason FROM results WHERE claim = 'test.risk_never_falls'")
    assert status == "violated" and confirmation.startswith("confirmed at 50 digits")
    argv = shlex.split(replay)
    assert argv[:2] == ["aligncheck", "check"] and Path(argv[2]).is_file()
    capsys.readouterr()
    assert cli.main([*argv[1:], "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["run"]["stop_reason"] == stop  # the same run again


def test_hunt_ranks_its_closest_calls(client, tmp_path):
    doc = {"name": "hunt", "mode": "hunt", "budget": "6", "claims": ["conj.smoothed_margin_monotone"],
           "hunt": {"target": "conj.smoothed_margin_monotone", "population": 3, "keep": 2},
           "grid": {"d": [1, 2], "n": [3, 6], "gamma": [0.1, 0.4], "depth": [1, 2]}}
    path = tmp_path / "hunt.sqlite"
    src, stats = _sweep(doc, path, client, source=HuntSource)
    assert stats.recorded == 6 and len(src.elite) == 2
    scores = [s for s, _ in src.elite]
    assert scores == sorted(scores, reverse=True)
    with SweepDB(path) as db:  # a resumed hunt starts from the closest calls recorded
        again = HuntSource(parse_spec(doc), db)
    assert [s for s, _ in again.elite] == scores


def test_report_tables_html_and_phase_diagram(tiny_db, tmp_path, capsys):
    path, _ = tiny_db
    assert cli.main(["sweep-report", str(path), "--html", str(tmp_path / "r.html"), "--phase", "gamma,depth",
                     "--png", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "gf.max_margin_v1" in out and "worst runs" in out
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    from aligncheck.harness.sweep.summary import STATUSES, cell_rows

    with SweepDB(path, readonly=True) as db:
        rows = cell_rows(db, ["gamma", "depth"], ["gf.max_margin_v1"])
    assert len(rows) == 4 and all(abs(sum(r[s] for s in STATUSES) - 1) < 1e-12 for r in rows)  # fractions of the same runs


def _nothing(params: dict) -> dict:
    return {"run": {"worker": "-"}, "verdicts": []}


def test_dask_keeps_no_record_per_run(client, tmp_path, monkeypatch):
    # dask_memory: after three clearing periods of runs, key_split's cache holds fewer keys than
    # one period plus a slack, in the client's process (the embedded scheduler's too) and in
    # each worker (without the clearings: >= 120 and >= 60 keys); no span holds metadata of the
    # submissions; the client's log of sent messages and the system monitors (scheduler, workers)
    # have their bounded lengths; the runs' keys are tuples, and the keys of dask's serialization
    # headers stay interned between messages in the client's process and the workers' (without
    # pin_protocol_keys, a fresh "pickled-obj" is interned anew: no message is in flight); the
    # database's writer keeps its small page cache.
    period = 40
    # Keys beyond one period: the window's 4 runs (2 workers) and the keys of dask's own calls
    # (client.run, register_plugin); a cache that is never cleared holds >= 60 per worker.
    slack = 8
    monkeypatch.setattr(dask_memory, "KEY_CACHE_RUNS", period)
    spec = parse_spec({"name": "memory", "seeds": 4, "grid": {"gamma": [0.1, 0.2, 0.3], "depth": list(range(1, 11))}})
    with SweepDB(tmp_path / "memory.sqlite") as db:
        stats = run_sweep(GridSource(spec, db), db, client, name="memory", cases_dir=tmp_path, run_fn=_nothing)
        assert db.con.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
    assert stats.recorded == 3 * period
    assert key_split.cache_info().currsize < period + slack
    assert max(client.run(lambda: key_split.cache_info().currsize).values()) < period + slack
    spans = client.cluster.scheduler.extensions["spans"].spans.values()
    assert spans and all(span._metadata is None for span in spans)
    assert client.scheduler_comm.recent_message_log.maxlen == dask_memory.DASK_LOG_LENGTH
    monitors = [client.cluster.scheduler.monitor.maxlen, *client.run(lambda dask_worker: dask_worker.monitor.maxlen).values()]
    assert monitors == [dask_memory.SYSTEM_MONITOR_SAMPLES] * 3
    log = client.cluster.scheduler.transition_log
    assert log and all(isinstance(entry[0], tuple) for entry in log)
    header_keys = ["pickled-obj", "as-list", "sub-headers", "frame-lengths"]

    def held_interned(keys=header_keys):  # interning a new copy returns the copy the table holds
        fresh = ["".join(list(key)) for key in keys]
        return [sys.intern(copy) is not copy for copy in fresh]

    assert held_interned() == [True] * 4
    assert list(client.run(held_interned).values()) == [[True] * 4] * 2


def _start_sweep(tmp_path: Path, name: str, seeds: int, **popen) -> tuple[subprocess.Popen, Path]:
    """``aligncheck sweep`` of TINY with ``seeds`` seeds in a subprocess (its own process group),
    once it has recorded 4 runs."""
    spec_file = tmp_path / f"{name}.toml"
    spec_file.write_text(textwrap.dedent(f"""\
        name = "{name}"
        seeds = {seeds}
        claims = {json.dumps(TINY["claims"])}
        [grid]
        d = 2
        n = 6
        gamma = [0.1, 0.4]
        depth = [1, 2]
        """))
    path = tmp_path / f"{name}.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "aligncheck.harness.cli", "sweep", str(spec_file), "--db", str(path),
                             "--workers", "2", "--no-progress"], start_new_session=True, **popen)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _recorded(path) < 4:
        time.sleep(0.2)
    return proc, path


def _recorded(path: Path) -> int:
    """Runs recorded so far; 0 before the database has its tables (the file exists a moment before
    the sweep creates them: seen once on a loaded machine, "no such table: runs")."""
    if not path.exists():
        return 0
    try:
        return _rows(path, "SELECT COUNT(*) FROM runs")[0][0]
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0


def test_ctrl_c_stops_cleanly_with_what_finished(tmp_path):
    # 400 runs: SIGINT must land mid-sweep. With 24, a loaded machine (4 processes on 2 cores) once
    # saw all 24 finish between the 4th recorded run and the signal, and the sweep said "done".
    proc, path = _start_sweep(tmp_path, "ctrlc", 100, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the client
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted:" in out and "Traceback" not in err
    recorded = _rows(path, "SELECT COUNT(*) FROM runs")[0][0]
    assert 4 <= recorded < 400 and f"{recorded} run(s) recorded" in out


def test_kill_client_mid_sweep_loses_only_runs_in_flight(tmp_path, client):
    doc = {**TINY, "name": "kill", "seeds": 6}  # 24 runs
    proc, path = _start_sweep(tmp_path, "kill", 6, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        before = _rows(path, "SELECT COUNT(*) FROM runs")[0][0]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and its workers: one process group
        proc.wait()
    assert before >= 4, "the sweep did not get going"
    recorded = _rows(path, "SELECT COUNT(*) FROM runs")[0][0]
    lost = _rows(path, "SELECT COUNT(*) FROM inflight")[0][0]
    assert before <= recorded < 24  # nothing committed was lost, and it was killed mid-sweep
    assert lost <= 4  # the window: two runs per worker thread, 2 workers
    src, stats = _sweep(doc, path, client)
    assert (src.skipped, stats.recorded, stats.rerun_lost) == (recorded, 24 - recorded, lost)
    assert _rows(path, "SELECT COUNT(*), COUNT(DISTINCT key) FROM runs") == [(24, 24)]
    assert _rows(path, "SELECT COUNT(*) FROM inflight") == [(0,)]


def test_kill_worker_mid_sweep_loses_nothing(client, tmp_path):
    pids = list(client.run(os.getpid).values())

    class KillOnce(GridSource):
        def observe(self, task, result):
            if pids:
                os.kill(pids.pop(), signal.SIGKILL)  # one worker, with its runs in flight

    doc = {**TINY, "name": "killworker", "seeds": 2}
    _, stats = _sweep(doc, tmp_path / "kw.sqlite", client, source=KillOnce)
    assert (stats.recorded, stats.errors) == (8, 0)  # dask reran the killed worker's runs elsewhere
    assert _rows(tmp_path / "kw.sqlite", "SELECT COUNT(DISTINCT key) FROM runs WHERE error IS NULL") == [(8,)]
