"""Benchmarks: ``check`` on 10^5 points (issue 8), and the kernels whose cost grows with n.

Usage: OPENBLAS_NUM_THREADS=1 pytest -m bench --benchmark-enable tests/bench/test_bench_large_n.py

One planted problem, n = 100,000 points in d = 5 (γ = 0.2, 5 support vectors spanning R^5),
saved and loaded the way the command line does, and run as ``aligncheck check FILE --depth 2
--loss exp`` and ``--depth 1 --loss logistic`` would run it (``aligncheck.harness.runner.run_checked``, every
claim registered for gradient flow). ``extra_info`` holds the stop reason, the gradient
evaluations, the flow's own wall time, the sign-lemma search's evaluations and the BLAS setting.
``test_sign_lemma_search`` and ``test_one_evaluation`` time the two kernels that dominate (see
README, Numerics). Only facts that must hold are asserted (nothing violated, the target reached),
never timings.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import pytest

from aligncheck.data.sign_lemma import sign_lemma_search
from aligncheck.data.alpha import alpha
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.network import init_layers
from aligncheck.data.problem import Problem, load_problem
from aligncheck.numerics.risk import evaluate
from aligncheck.harness.runner import RunSpec, run_checked
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status

pytestmark = pytest.mark.bench

N, D = 100_000, 5


@lru_cache(maxsize=None)
def _problem(tmp: str) -> Problem:
    pp = planted_problem(1, n=N, d=D, gamma=0.2, n_sv=D, sv_rank=D)
    path = os.path.join(tmp, "planted-1e5.npz")
    np.savez(path, X=pp.X, y=pp.y)
    return load_problem(path)


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> Problem:
    return _problem(str(tmp_path_factory.mktemp("large_n")))


def _blas_env() -> str:
    keys = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return ", ".join(f"{k}={os.environ[k]}" for k in keys if k in os.environ) or "unset"


@pytest.mark.benchmark(group="check on 1e5 points, d = 5")
@pytest.mark.parametrize("depth,loss", [(2, "exp"), (1, "logistic")], ids=["L2-exp", "L1-logistic"])
def test_check(benchmark, problem, depth, loss):
    out = benchmark.pedantic(run_checked, args=(problem, RunSpec(depth=depth, loss=loss)), rounds=1, iterations=1)
    sign = next(v for v in out.verdicts if v.claim == "data.sign_lemma")
    benchmark.extra_info.update(n=N, d=D, depth=depth, loss=loss, stop_reason=out.trajectory.stop_reason,
                                grad_evals=out.trajectory.grad_evals, flow_seconds=out.trajectory.wall_time,
                                sign_lemma=sign.reason, blas_threads_env=_blas_env())
    assert out.trajectory.stop_reason == "target reached"
    assert not any(v.status == Status.VIOLATED for v in out.verdicts), [v.claim for v in out.verdicts if v.status == Status.VIOLATED]


@pytest.mark.benchmark(group="sign-lemma search on 1e5 points (budget 1e9 point evaluations)")
def test_sign_lemma_search(benchmark, problem):
    Z, mm = problem.Z, problem.max_margin
    a = alpha(Z, mm).alpha
    res = benchmark.pedantic(sign_lemma_search, args=(Z, mm, EXP, a), kwargs={"seed": 0}, rounds=1, iterations=1)
    benchmark.extra_info.update(evaluations=res.evaluations, budget_cut=res.budget_cut, min_value=res.min_value, blas_threads_env=_blas_env())
    assert not res.violated


@pytest.mark.benchmark(group="one evaluation on 1e5 points, d = 5 (L = 2)")
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["early", "late"])
@pytest.mark.parametrize("loss", [EXP, LOGISTIC], ids=lambda l: l.name)
def test_one_evaluation(benchmark, problem, loss, scale):
    layers = tuple(W * scale for W in init_layers("gaussian", D, (D,), 0, mean_z=problem.Z.mean(axis=0)))
    ev = benchmark(evaluate, problem.Z, loss, layers)
    benchmark.extra_info.update(blas_threads_env=_blas_env())
    assert np.isfinite(float(ev.log_risk))
