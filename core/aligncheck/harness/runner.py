"""One checked run: data + a run specification -> trajectory -> assumptions and verdicts.

Shared by the command line and the conjectures, so a violation found by either replays
exactly with :func:`replay_command`.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligncheck.claims.assumptions import Setup, run_assumptions
from aligncheck.claims.check import JudgedRun, judge_run
from aligncheck.claims.ji_telgarsky.theorem2 import MM_VIOLATION_GROWTH, SUPPORT_PHASE_GROWTH, support_phase_norm
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.problem import Problem
from aligncheck.dynamics.integrate import extend_flow
from aligncheck.dynamics.late_phase import extend_mp
from aligncheck.dynamics.spec import RunSpec, run
from aligncheck.dynamics.trajectory import Checkpoint, Trajectory
from aligncheck.harness.confirm import confirm
from aligncheck.numerics.losses import get_loss
from aligncheck.numerics.metrics import lemma2_D

# Late-phase target of a gradient-flow run: layers grow until ‖W_k‖_F² ≥ LATE_FACTOR²·max(1, D),
# where Lemma 2 puts every rank gap below D/‖W_k‖_F² ≤ 1/LATE_FACTOR² = 1e-4, ten times below
# the claims' GAP_THRESHOLD (or until the float64 floor stops the run first).
LATE_FACTOR = 100.0
# A float64 gradient-flow run that met its target with a limit claim still inconclusive (too short
# a late window, a rate constant still settling, a flat stretch that may be a transient) is
# followed further once, until ‖w_prod‖ ≈ F̄^L has grown RUN_LONGER-fold more (layer norms by
# RUN_LONGER^(1/L)) or the float64 floor stops it, and judged again. RUN_LONGER is
# aligncheck.claims.ji_telgarsky.theorem2.MM_VIOLATION_GROWTH: the growth a late window needs before a
# flat max-margin gap counts as a violation.
RUN_LONGER = MM_VIOLATION_GROWTH


@dataclass
class RunOutcome:
    """One checked run: its spec, trajectory, assumptions and final verdicts (after the high-precision
    second look), and ``judged``, the run records the claims were judged on (metrics included; its
    own verdicts are those before the second look), from which :meth:`JudgedRun.series` gives what
    each claim judged (aligncheck.harness.plot_run draws them)."""

    spec: RunSpec
    trajectory: Trajectory
    assumptions: dict[str, tuple[bool, str]]
    verdicts: list[Verdict] = field(default_factory=list)
    judged: JudgedRun | None = None


def run_checked(problem: Problem, spec: RunSpec, ids: Iterable[str] | None = None) -> RunOutcome:
    """Initialise, run the dynamics into the late phase and judge the claims ``ids`` (default:
    every claim registered for the method); a float64 violation gets its second look at high
    precision (aligncheck.harness.confirm)."""
    Z = problem.Z
    layers0 = spec.initial_layers(Z)
    ids = None if ids is None else tuple(ids)
    if ids and all(REGISTRY[c].kind == "data" for c in ids):
        # Properties of the data and the loss (the data lemmas): no run to make. A third of the
        # data-lemma examples' time went into a gradient flow they did not use (profiled).
        traj = Trajectory(spec.method, Z, get_loss(spec.loss), [Checkpoint(0.0, layers0)], "not run: only data claims were asked for", 0, 0.0)
    else:
        target = max(LATE_FACTOR * math.sqrt(max(1.0, lemma2_D(layers0))), _support_dominance_norm(problem, spec.depth))
        traj = run(Z, spec, target_layer_norm=target, layers0=layers0)
    rule = "paper" if spec.method == "gd" and spec.gd_step is None else "constant"
    setup = Setup(Z, problem.max_margin, get_loss(spec.loss), layers0, spec.method, step_rule=rule, seed=spec.seed,
                  step=spec.gd_step if spec.method == "gd" else None)
    u_bar = problem.max_margin.u_bar if problem.max_margin is not None else None
    assumptions, _ = run_assumptions(setup, traj)
    judged = judge_run(traj, setup, u_bar, ids, assumptions=assumptions)
    if _worth_running_longer(traj, spec, judged.verdicts):
        reached = min(float(np.linalg.norm(np.asarray(W, dtype=float))) for W in traj.final)
        target = reached * RUN_LONGER ** (1.0 / spec.depth)
        traj = extend_mp(traj, target_layer_norm=target) if spec.precision is not None else extend_flow(traj, target_layer_norm=target)
        assumptions, _ = run_assumptions(setup, traj)
        judged = judge_run(traj, setup, u_bar, ids, assumptions=assumptions)
    verdicts = confirm(traj, setup, u_bar, judged.verdicts, assumptions=assumptions)
    return RunOutcome(spec, traj, assumptions, verdicts, judged)


def _worth_running_longer(traj: Trajectory, spec: RunSpec, verdicts: list[Verdict]) -> bool:
    """A gradient-flow run (float64, or mpmath from the start: a higher precision must not stop
    short of where float64 goes) that met its target while a limit claim (or conjecture) is still
    inconclusive: a longer run can decide it (see RUN_LONGER)."""
    if spec.method != "gf" or spec.late_phase or traj.stop_reason != "target reached":
        return False
    return any(v.status == Status.INCONCLUSIVE and REGISTRY[v.claim].kind in ("limit", "conjecture") for v in verdicts)


def _support_dominance_norm(problem: Problem, depth: int) -> float:
    """The layer norm at which the max-margin claims can be judged: SUPPORT_PHASE_GROWTH times
    the mean layer norm F̄ where the support vectors start to carry the gradient (F̄^L = ‖w_prod‖
    once the layers align; see aligncheck.claims.ji_telgarsky.theorem2.support_phase_norm). 0 when there is no such phase to wait
    for (not separable, or every point a support vector)."""
    start = support_phase_norm(problem.Z, problem.max_margin)
    return 0.0 if start == 0.0 else SUPPORT_PHASE_GROWTH * start ** (1.0 / depth)


def save_case(problem: Problem, directory: Path, name: str) -> Path:
    """Write the data as ``directory/name.npz`` (arrays X, y) for replay."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.npz"
    np.savez(path, X=problem.X, y=problem.y)
    return path


def spec_args(spec: RunSpec) -> list[str]:
    """The ``aligncheck check`` options that ask for ``spec``."""
    args = ["--depth", str(spec.depth), "--loss", spec.loss, "--init", spec.init, "--seed", str(spec.seed), "--method", spec.method]
    args += ["--init-scale", repr(spec.init_scale)]  # always: the command line's default is "auto"
    if spec.widths is not None and len(spec.widths):
        args += ["--widths", ",".join(map(str, spec.widths))]
    if spec.precision is not None:
        args += ["--precision", str(spec.precision)]
    if spec.late_phase:
        args += ["--late-phase"]
    if spec.kernels != "flint" and (spec.late_phase or spec.precision is not None):
        args += ["--backend", spec.kernels]
    if spec.method == "gd":
        args += (["--step", repr(spec.gd_step)] if spec.gd_step is not None else []) + ["--steps", str(spec.gd_steps)]
    return args


def replay_command(data_path: Path | str, spec: RunSpec, options: Iterable[str] = ()) -> str:
    """The ``aligncheck check`` command line that reruns this exact run (``options``: those that
    are not the run's, e.g. ``--scale unit-ball`` or ``--claims``)."""
    return shlex.join(["aligncheck", "check", str(data_path), *spec_args(spec), *options])
