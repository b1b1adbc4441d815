"""One run of a sweep, on a worker: build the problem, ``run_checked`` it, and return plain rows.

What comes back (JSON-able apart from the data arrays) is all the database needs, so a worker on
another machine writes nothing itself: ``run`` (stop reason, times, backend, where it ran),
``verdicts`` (``Verdict.as_dict()``: status, value, threshold, reason, backend, and the high-precision
second look's ``confirmation`` of every float64 violation, aligncheck.harness.confirm), and, for a
run with a violated claim, the data ``X``, ``y`` so that the client can save them for the replay.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
import traceback

import numpy as np
from threadpoolctl import threadpool_limits

from aligncheck.claims.ji_telgarsky.theorem2 import support_phase_norm
from aligncheck.claims.verdicts import Status
from aligncheck.data.problem import Problem
from aligncheck.dynamics.trajectory import Trajectory
from aligncheck.errors import ProblemError
from aligncheck.harness.runner import run_checked
from aligncheck.harness.sweep.problems import build_problem
from aligncheck.harness.sweep.spec import run_spec
from aligncheck.numerics.network import product

def support_phase_from(traj: Trajectory, problem: Problem) -> float | None:
    """The first checkpoint time (log-norm time s for gradient flow, the step for GD) at which every
    margin is positive and ‖w_prod‖ is past (ln n + 7)/Δ, where the support vectors carry the
    gradient: the phase from which the max-margin claims are judged (whether they can be judged
    also needs a long enough late window after it); None if the run never got there."""
    start = support_phase_norm(problem.Z, problem.max_margin)
    for cp in traj.checkpoints:
        w = np.asarray(product([np.asarray(W, dtype=float) for W in cp.layers]), dtype=float).ravel()
        if np.all(problem.Z @ w > 0) and float(np.linalg.norm(w)) >= start:
            return float(cp.time)
    return None


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_task(params: dict) -> dict:
    """Run one sweep run (see the module docstring). Never raises: a refused run (ProblemError, e.g.
    W(0) outside the float64 range) and an internal error come back as ``run["error"]``."""
    for module in params.get("plugins", ()):
        importlib.import_module(module)
    t0, c0 = time.perf_counter(), time.process_time()
    out: dict = {"run": {"worker": _where()}, "verdicts": [], "X": None, "y": None}
    with threadpool_limits(1):  # one BLAS thread: faster on these small matrices, and reproducible
        try:
            problem = build_problem(params)
            outcome = run_checked(problem, run_spec(params), params["claims"])
        except ProblemError as exc:
            out["run"].update(error=f"refused: {' '.join(str(exc).split())}", task_wall=time.perf_counter() - t0)
            return out
        except Exception as exc:  # a bug: recorded with its last frame, never dropped silently
            last = traceback.extract_tb(exc.__traceback__)[-1]
            out["run"].update(error=f"internal error: {type(exc).__name__}: {exc} ({last.filename}:{last.lineno})",
                              task_wall=time.perf_counter() - t0)
            return out
        traj = outcome.trajectory
        out["run"].update(
            stop_reason=traj.stop_reason, run_wall=float(traj.wall_time), grad_evals=int(traj.grad_evals),
            t_end=float(traj.checkpoints[-1].time) if traj.checkpoints else None,
            t_support=support_phase_from(traj, problem), backend=traj.backend.name, n=problem.n, d=problem.d,
            gamma=float(problem.max_margin.gamma) if problem.max_margin is not None else None,
            assumptions={a: bool(h) for a, (h, _) in outcome.assumptions.items()},
        )
        out["verdicts"] = [v.as_dict() for v in outcome.verdicts]
        if any(v.status == Status.VIOLATED for v in outcome.verdicts):
            out["X"], out["y"] = np.asarray(problem.X), np.asarray(problem.y)
        out["run"]["task_wall"] = time.perf_counter() - t0
        out["run"]["task_cpu"] = time.process_time() - c0
    return out
