"""Benchmark: the late phase's cost with its linear algebra in python-flint (the default) and in
mpmath (the reference), side by side in one session.

Usage: pytest -m bench --benchmark-enable tests/bench/test_bench_late_phase.py

One planted problem (d = 5, n = 10, γ = 0.3, support vectors spanning R^d), a seeded Gaussian
network of depth 3 (widths 5: 55 parameters), exp loss, run in float64 to its floor; then 0.3
units of log-norm time at 50 digits from there (``gradient_flow_mp``), once per kernel choice
(one round each: the mpmath segment takes ~40 s). extra_info records the steps and, for flint,
``speedup_vs_mpmath`` (the mpmath mean over the flint mean, when both ran in the session). Only
facts that must hold are asserted: the same steps, and the same end state to 1e-40 relative
(the Newton tolerance is 1e-49; tests/test_late_phase.py has the reasoning), never timings.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from aligncheck.data.planted import planted_case, planted_problem
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.late_phase import gradient_flow_mp
from aligncheck.numerics.backends import Mpmath
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.network import init_layers

pytestmark = pytest.mark.bench

D, DEPTH, DIGITS, SPAN = 5, 3, 50, 0.3
_RUNS: dict[str, tuple[float, object]] = {}


@lru_cache(maxsize=None)
def _head():
    p = planted_case(planted_problem(0, n=2 * D, d=D, gamma=0.3, n_sv=D, sv_rank=D))
    W0 = init_layers("gaussian", D, [D] * (DEPTH - 1), 0, mean_z=p.Z.mean(axis=0))
    return p.Z, gradient_flow(p.Z, EXP, W0, target_layer_norm=np.inf)


@pytest.mark.benchmark(group=f"late phase, 0.3 of s past the float64 floor (d={D}, L={DEPTH}, {DIGITS} digits)")
@pytest.mark.parametrize("kernels", ["mpmath", "flint"])
def test_late_phase_segment(benchmark, kernels):
    Z, head = _head()
    run = benchmark.pedantic(gradient_flow_mp, args=(Z, EXP, head.final),
                             kwargs=dict(digits=DIGITS, s_span=SPAN, s0=head.checkpoints[-1].time, kernels=kernels), rounds=1, iterations=1)
    benchmark.extra_info.update(kernels=kernels, n_params=int(sum(W.size for W in head.final)),
                                steps_accepted=run.integrator.steps_accepted, steps_rejected=run.integrator.steps_rejected)
    mean = benchmark.stats.stats.mean if benchmark.stats is not None else float("nan")
    _RUNS[kernels] = (mean, run)
    if kernels == "flint" and "mpmath" in _RUNS:
        ref_mean, ref = _RUNS["mpmath"]
        benchmark.extra_info["speedup_vs_mpmath"] = ref_mean / mean
        assert run.integrator.steps_accepted == ref.integrator.steps_accepted
        bk = Mpmath(DIGITS)
        for a, b in zip(run.final, ref.final):
            assert bk.norm((a - b).ravel()) / bk.norm(b.ravel()) < 1e-40
