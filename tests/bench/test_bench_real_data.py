"""Benchmarks: ``check`` on the real data sets users bring (issue 11), and the two Jacobians side by side.

Usage: pytest -m bench --benchmark-enable tests/bench/test_bench_real_data.py

The data are scikit-learn's copies, exported once by tools/export_datasets.py (tests/data/), scaled
into the unit ball the way ``aligncheck check DATA --scale unit-ball`` does, and run as that command
would run them (``run_checked``: default widths d, Gaussian start, exp loss, every gradient-flow
claim). ``extra_info`` holds the network's parameter count, which Jacobian gradient flow used, the
stop reason, the gradient evaluations, the flow's own time and the verdict counts. Only facts that
must hold are asserted (no violation, no refusal), never timings.

- digits 0 vs 1 (n = 360, d = 64) at depth 2: 4,160 parameters (refused before the low-rank
  Jacobian: the dense one was capped at 4,000).
- breast cancer (n = 569, d = 30) at depths 2 and 4 (930 and 2,730 parameters). Raw features
  scaled into the unit ball leave a max margin γ ≈ 8e-9 (feature scales from 6e-6 to 0.86): the
  flow needs ‖w‖ ≳ 1/γ before every point is classified, and spends its evaluation budget on the
  way (README, Benchmarks).
- The flow alone with the dense and the low-rank Jacobian on breast cancer at depth 2 (N = 930,
  where both apply), for the same 4,000 evaluations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aligncheck.claims.verdicts import Status
from aligncheck.data.problem import Problem, load_problem
from aligncheck.dynamics.integrate import DENSE_JACOBIAN_MAX, gradient_flow
from aligncheck.harness.runner import RunSpec, run_checked
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.network import init_layers

pytestmark = pytest.mark.bench

DATA = Path(__file__).resolve().parents[1] / "data"


def _scaled(name: str) -> Problem:
    return load_problem(DATA / name).scaled_to_unit_ball()[0]


@pytest.mark.benchmark(group="check on real data (unit ball, exp loss, default widths)")
@pytest.mark.parametrize("name,depth", [("digits_0_vs_1.npz", 2), ("breast_cancer.npz", 2), ("breast_cancer.npz", 4)],
                         ids=["digits-L2", "breast_cancer-L2", "breast_cancer-L4"])
def test_check_real_data(benchmark, name, depth):
    problem = _scaled(name)
    out = benchmark.pedantic(run_checked, args=(problem, RunSpec(depth=depth, loss="exp")), rounds=1, iterations=1)
    N = sum(W.size for W in out.trajectory.checkpoints[0].layers)
    counts = Counter(v.status.value for v in out.verdicts)
    benchmark.extra_info.update(n=problem.Z.shape[0], d=problem.Z.shape[1], parameters=N,
                                jacobian="low rank" if N > DENSE_JACOBIAN_MAX else "dense",
                                stop_reason=out.trajectory.stop_reason, grad_evals=out.trajectory.grad_evals,
                                flow_seconds=out.trajectory.wall_time, verdicts=dict(counts), gamma=problem.max_margin.gamma)
    assert not counts.get(Status.VIOLATED.value), [v.claim for v in out.verdicts if v.status == Status.VIOLATED]


@pytest.mark.benchmark(group="gradient flow on breast cancer, depth 2 (N = 930), 4,000 evaluations")
@pytest.mark.parametrize("jacobian", ["dense", "low_rank"])
def test_flow_jacobians(benchmark, jacobian):
    Z = _scaled("breast_cancer.npz").Z
    layers0 = init_layers("gaussian", Z.shape[1], [Z.shape[1]], 0, mean_z=Z.mean(axis=0))
    traj = benchmark.pedantic(gradient_flow, args=(Z, EXP, layers0), kwargs={"max_evals": 4000, "jacobian": jacobian}, rounds=1, iterations=1)
    benchmark.extra_info.update(s_reached=traj.checkpoints[-1].time, grad_evals=traj.grad_evals, stop_reason=traj.stop_reason)
    assert np.isfinite(traj.checkpoints[-1].time) and traj.checkpoints[-1].time > 1.0
