"""Checking one's own runs from Python: a trajectory from iterates computed elsewhere, and the
claims judged on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from aligncheck.claims.assumptions import Setup
from aligncheck.claims.check import check_claims
from aligncheck.claims.verdicts import Verdict
from aligncheck.data.problem import Problem
from aligncheck.dynamics.trajectory import Checkpoint, FlowInfo, Trajectory
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import get_loss
from aligncheck.numerics.network import Layers


def trajectory(problem: Problem, iterates: Sequence[Layers], *, loss: str = "exp", method: str = "gd",
               times: Sequence[float] | None = None, step: float | None = None, rtol: float | None = None) -> Trajectory:
    """A :class:`Trajectory` of iterates computed elsewhere (e.g. one's own GD in another framework).

    ``iterates``: W(t) at increasing times, each a sequence of L arrays W_k of shape (d_k, d_{k−1})
    (d_0 = d of the problem, d_L = 1). ``times``: the step index (GD) or log-norm time (gradient
    flow) of each; default 0, 1, 2, … ``step``: a constant GD step η; with it each iterate but the
    last records W(t+1) and η, so the one-step identity gd.balancedness_identity is checked too.
    ``method``: "gd" or "gf" (a flow's iterates need ``rtol``, the relative accuracy of the
    states, which the flow's tolerances scale with).
    """
    if method not in ("gd", "gf"):
        raise ProblemError(f"method must be 'gd' or 'gf', got {method!r}")
    if method == "gf" and rtol is None:
        raise ProblemError("gradient-flow iterates need rtol: the relative accuracy of the states")
    states = [tuple(np.array(W, dtype=float) for W in layers) for layers in iterates]
    if len(states) < 2:
        raise ProblemError(f"a trajectory needs at least 2 iterates, got {len(states)}")
    ts = [float(t) for t in (times if times is not None else range(len(states)))]
    if len(ts) != len(states) or any(b <= a for a, b in zip(ts, ts[1:])):
        raise ProblemError("times must be increasing, one per iterate")
    cps = [Checkpoint(t, W, states[i + 1] if step is not None and i + 1 < len(states) else None, step if step is not None and i + 1 < len(states) else None)
           for i, (t, W) in enumerate(zip(ts, states))]
    info = FlowInfo(rtol=rtol, atol=0.0, s_max=ts[-1], checkpoint_every=0.0, integrator="given iterates") if rtol is not None else None
    return Trajectory(method, problem.Z, get_loss(loss), cps, "given iterates", 0, 0.0, integrator=info)


def check(problem: Problem, traj: Trajectory, claims: Iterable[str] | None = None) -> list[Verdict]:
    """The verdicts of ``claims`` (default: every claim registered for the run's method) on ``traj``,
    a run on ``problem``: assumptions first (a claim whose assumptions fail is not applicable,
    A1.2 judged at the first admissible iterate), then the predicates."""
    step = traj.checkpoints[0].step_size
    setup = Setup(problem.Z, problem.max_margin, traj.loss, traj.initial, traj.method, step=step)
    u_bar = problem.max_margin.u_bar if problem.max_margin is not None else None
    return check_claims(traj, setup, u_bar, claims)
