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

from .assumptions import Setup
from .claims import SUPPORT_PHASE_GROWTH, check_claims, support_phase_norm
from .confirm import CONFIRM_DIGITS, confirm
from .dynamics import Trajectory, check_start, gradient_descent, gradient_flow
from .errors import ProblemError
from .late_phase import continue_in_mpmath, gradient_flow_mp
from .losses import get_loss
from .metrics import lemma2_D
from .network import check_network_size, init_layers
from .paper_gd import paper_step_gd
from .problem import Problem
from .verdicts import Verdict

# Late-phase target of a gradient-flow run: layers grow until ‖W_k‖_F² ≥ LATE_FACTOR²·max(1, D),
# where Lemma 2 puts every rank gap below D/‖W_k‖_F² ≤ 1/LATE_FACTOR² = 1e-4, ten times below
# the claims' GAP_THRESHOLD (or until the float64 floor stops the run first).
LATE_FACTOR = 100.0
# --late-phase: how much further (log-norm time s, so a factor e^5 ≈ 150 in ‖θ‖) the mpmath
# continuation follows the flow past the float64 floor.
LATE_PHASE_SPAN = 5.0
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


def run_checked(problem: Problem, spec: RunSpec, ids: Iterable[str] | None = None) -> RunOutcome:
    """Initialise, run the dynamics into the late phase and judge the claims ``ids`` (default:
    every claim registered for the method)."""
    if spec.method not in ("gf", "gd"):
        raise ProblemError(f"unknown method {spec.method!r}: choose gf or gd")
    loss = get_loss(spec.loss)
    Z = problem.Z
    check_network_size(problem.d, spec.hidden_widths(problem.d))  # before allocating the layers
    layers0 = init_layers(spec.init, problem.d, spec.hidden_widths(problem.d), spec.seed, scale=spec.init_scale, mean_z=Z.mean(axis=0))
    check_start(Z, loss, layers0)  # ProblemError if W(0) is outside the float64 engine's range
    if spec.method == "gd" and (spec.precision is not None or spec.late_phase):
        raise ProblemError("--precision and --late-phase apply to gradient flow (--method gf); GD runs are replayed at high precision only to confirm a violation")
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
    assumptions = setup.check()
    verdicts = confirm(traj, setup, u_bar, check_claims(traj, setup, u_bar, ids, assumptions=assumptions), assumptions=assumptions)
    return RunOutcome(spec, traj, assumptions, verdicts)


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
