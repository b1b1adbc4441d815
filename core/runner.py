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

from .assumptions import Setup, run_assumptions
from .claims import CLAIMS, MM_VIOLATION_GROWTH, SUPPORT_PHASE_GROWTH, check_claims, support_phase_norm
from .confirm import CONFIRM_DIGITS, confirm
from .dynamics import Trajectory, check_gd_steps, check_start, extend_flow, gradient_descent, gradient_flow
from .errors import ProblemError
from .late_phase import continue_in_mpmath, gradient_flow_mp
from .losses import get_loss
from .metrics import lemma2_D
from .network import Layers, check_network_size, init_layers
from .paper_gd import paper_step_gd
from .problem import Problem
from .verdicts import Status, Verdict

# Late-phase target of a gradient-flow run: layers grow until ‖W_k‖_F² ≥ LATE_FACTOR²·max(1, D),
# where Lemma 2 puts every rank gap below D/‖W_k‖_F² ≤ 1/LATE_FACTOR² = 1e-4, ten times below
# the claims' GAP_THRESHOLD (or until the float64 floor stops the run first).
LATE_FACTOR = 100.0
# --late-phase: how much further (log-norm time s, so a factor e^5 ≈ 150 in ‖θ‖) the mpmath
# continuation follows the flow past the float64 floor.
LATE_PHASE_SPAN = 5.0
# A float64 gradient-flow run that met its target with a limit claim still inconclusive (too short
# a late window, a rate constant still settling, a flat stretch that may be a transient) is
# followed further once, until ‖w_prod‖ ≈ F̄^L has grown RUN_LONGER-fold more (layer norms by
# RUN_LONGER^(1/L)) or the float64 floor stops it, and judged again. RUN_LONGER is
# core.claims.MM_VIOLATION_GROWTH: the growth a late window needs before a flat max-margin gap
# counts as a violation.
RUN_LONGER = MM_VIOLATION_GROWTH
# --precision: the mpmath run's budget in s (the float64 integrator's default s_max is 40; a
# target is normally met far earlier).
MP_S_MAX = 40.0


@dataclass(frozen=True)
class RunSpec:
    """What to run: depth L, hidden widths (L−1 ints; default d each), loss, init, init seed and
    scale (see core.network.init_layers), method and, for GD, the step and the number of steps."""

    depth: int
    loss: str = "exp"
    init: str = "gaussian"
    seed: int = 0
    init_scale: float = 1.0
    widths: tuple[int, ...] | None = None
    method: str = "gf"
    gd_step: float | None = None  # None: the paper's step rule (Assumption 3.5); else a constant step
    gd_steps: int = 2000
    precision: int | None = None  # digits: run gradient flow on the mpmath backend (None: float64)
    late_phase: bool = False  # gradient flow: float64 to its floor, then continued in mpmath

    def hidden_widths(self, d: int) -> tuple[int, ...]:
        if self.depth < 1:
            raise ProblemError(f"depth must be at least 1, got {self.depth}")
        w = self.widths if self.widths is not None else (d,) * (self.depth - 1)
        if len(w) != self.depth - 1:
            raise ProblemError(f"depth {self.depth} needs {self.depth - 1} hidden width(s), got {len(w)}")
        return tuple(int(x) for x in w)

    def cli_args(self) -> list[str]:
        args = ["--depth", str(self.depth), "--loss", self.loss, "--init", self.init, "--seed", str(self.seed), "--method", self.method]
        if self.init_scale != 1.0:
            args += ["--init-scale", repr(self.init_scale)]
        if self.widths is not None and len(self.widths):
            args += ["--widths", ",".join(map(str, self.widths))]
        if self.precision is not None:
            args += ["--precision", str(self.precision)]
        if self.late_phase:
            args += ["--late-phase"]
        if self.method == "gd":
            args += (["--step", repr(self.gd_step)] if self.gd_step is not None else []) + ["--steps", str(self.gd_steps)]
        return args


@dataclass
class RunOutcome:
    spec: RunSpec
    trajectory: Trajectory
    assumptions: dict[str, tuple[bool, str]]
    verdicts: list[Verdict] = field(default_factory=list)


def validated_start(problem: Problem, spec: RunSpec) -> Layers:
    """W(0) for ``spec`` on ``problem``, after every check that can refuse the run up front
    (method, widths and network size, GD steps, options, the start state's float64 range):
    ProblemError naming what is wrong, before anything runs."""
    if spec.method not in ("gf", "gd"):
        raise ProblemError(f"unknown method {spec.method!r}: choose gf or gd")
    if spec.method == "gd":
        check_gd_steps(spec.gd_steps)
        if spec.precision is not None or spec.late_phase:
            raise ProblemError("--precision and --late-phase apply to gradient flow (--method gf); GD runs are replayed at high precision only to confirm a violation")
    check_network_size(problem.d, spec.hidden_widths(problem.d))  # before allocating the layers
    layers0 = init_layers(spec.init, problem.d, spec.hidden_widths(problem.d), spec.seed, scale=spec.init_scale, mean_z=problem.Z.mean(axis=0))
    check_start(problem.Z, get_loss(spec.loss), layers0)  # W(0) inside the float64 engine's range
    return layers0


def run_checked(problem: Problem, spec: RunSpec, ids: Iterable[str] | None = None) -> RunOutcome:
    """Initialise, run the dynamics into the late phase and judge the claims ``ids`` (default:
    every claim registered for the method)."""
    loss = get_loss(spec.loss)
    Z = problem.Z
    layers0 = validated_start(problem, spec)
    if spec.method == "gf":
        target = max(LATE_FACTOR * math.sqrt(max(1.0, lemma2_D(layers0))), _support_dominance_norm(problem, spec.depth))
        if spec.late_phase:  # float64 as far as it goes (its floor), then high precision
            head = gradient_flow(Z, loss, layers0, target_layer_norm=math.inf)
            traj = continue_in_mpmath(head, digits=spec.precision or CONFIRM_DIGITS, s_span=LATE_PHASE_SPAN)
        elif spec.precision is not None:
            traj = gradient_flow_mp(Z, loss, layers0, digits=spec.precision, s_span=MP_S_MAX, target_layer_norm=target)
        else:
            traj = gradient_flow(Z, loss, layers0, target_layer_norm=target)
    elif spec.gd_step is None:
        traj = paper_step_gd(Z, loss, layers0, steps=spec.gd_steps)
    else:
        traj = gradient_descent(Z, loss, layers0, step=spec.gd_step, steps=spec.gd_steps)
    rule = "paper" if spec.method == "gd" and spec.gd_step is None else "constant"
    setup = Setup(Z, problem.max_margin, loss, layers0, spec.method, step_rule=rule, seed=spec.seed)
    u_bar = problem.max_margin.u_bar if problem.max_margin is not None else None
    assumptions, _ = run_assumptions(setup, traj)
    verdicts = check_claims(traj, setup, u_bar, ids, assumptions=assumptions)
    if _worth_running_longer(traj, spec, verdicts):
        reached = min(float(np.linalg.norm(W)) for W in traj.final)
        traj = extend_flow(traj, target_layer_norm=reached * RUN_LONGER ** (1.0 / spec.depth))
        assumptions, _ = run_assumptions(setup, traj)
        verdicts = check_claims(traj, setup, u_bar, ids, assumptions=assumptions)
    verdicts = confirm(traj, setup, u_bar, verdicts, assumptions=assumptions)
    return RunOutcome(spec, traj, assumptions, verdicts)


def _worth_running_longer(traj: Trajectory, spec: RunSpec, verdicts: list[Verdict]) -> bool:
    """A float64 gradient-flow run that met its target while a limit claim (or conjecture) is
    still inconclusive: a longer run can decide it (see RUN_LONGER)."""
    if spec.method != "gf" or spec.precision is not None or spec.late_phase or traj.stop_reason != "target reached":
        return False
    return any(v.status == Status.INCONCLUSIVE and CLAIMS[v.claim].kind in ("limit", "conjecture") for v in verdicts)


def _support_dominance_norm(problem: Problem, depth: int) -> float:
    """The layer norm at which the max-margin claims can be judged: SUPPORT_PHASE_GROWTH times
    the mean layer norm F̄ where the support vectors start to carry the gradient (F̄^L = ‖w_prod‖
    once the layers align; see core.claims.support_phase). 0 when there is no such phase to wait
    for (not separable, or every point a support vector)."""
    start = support_phase_norm(problem.Z, problem.max_margin)
    return 0.0 if start == 0.0 else SUPPORT_PHASE_GROWTH * start ** (1.0 / depth)


def save_case(problem: Problem, directory: Path, name: str) -> Path:
    """Write the data as ``directory/name.npz`` (arrays X, y) for replay."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.npz"
    np.savez(path, X=problem.X, y=problem.y)
    return path


def replay_command(data_path: Path | str, spec: RunSpec) -> str:
    """The ``aligncheck check`` command line that reruns this exact run."""
    return shlex.join(["aligncheck", "check", str(data_path), *spec.cli_args()])
