"""Benchmarks: the cost of the engine's kernels on each numeric backend, side by side.

Usage: pytest -m bench --benchmark-enable tests/bench/test_bench_backends.py

(The default run deselects these through the ``-m 'not bench'`` addopts; with
``--benchmark-disable`` each body runs once and the checks still apply.)

One planted problem (n = 20 points, d = 5, γ = 0.25, support vectors spanning R^d), a seeded
Gaussian network of depth L = 4 with hidden widths 5 (80 parameters), exp loss:

- ``test_one_evaluation``: one evaluation of log R and every layer gradient: ``aligncheck.numerics.risk.evaluate`` on float64 and mpf, ``aligncheck.numerics.arb_risk.evaluate`` on arb_mat with flint's kernels,
  and the Mpmath backend at 30 and 100 digits with flint's kernels and with mpmath's (BACKENDS);
  group "one evaluation by backend".
- ``test_one_hessian``: one exact ``aligncheck.numerics.risk.hessian`` (80 × 80) on the same backends.

Inputs are converted to the backend once, outside the timed call (as the high-precision stepper
does). Each mpmath benchmark records ``ratio_to_float64`` (its mean over the float64 mean of the
same kernel, when that ran in the session) and ``median_ratio_to_float64`` in extra_info, and a
summary line per kernel with the means, medians and ratios is written at the end of the module. Only facts that must hold are asserted
(finite results that agree with float64), never timings.
"""

from __future__ import annotations

import os
from functools import lru_cache

import flint
import numpy as np
import pytest
from aligncheck.data.planted import planted_problem
from aligncheck.numerics import arb_risk
from aligncheck.numerics.backends import Backend, Mpmath, backend_named
from aligncheck.numerics.losses import EXP
from aligncheck.numerics.network import Layers, flatten, init_layers
from aligncheck.numerics.risk import evaluate, hessian

pytestmark = pytest.mark.bench

D = 5
DEPTH = 4
N_POINTS = 20
GAMMA = 0.25
PROBLEM_SEED = 1
INIT_SEED = 7
# "flint-D": Mpmath(D) with python-flint's arb kernels (the default: the exact Hessian formed on arb
# numbers, and evaluate as aligncheck.numerics.arb_risk.evaluate on arb_mat, the kernel of the late
# phase's R^d solves); "mpmath-D": Mpmath(D, "mpmath"), every operation on mpf (the reference).
BACKENDS = ("float64", "flint-30", "flint-100", "mpmath-30", "mpmath-100")


def _backend(label: str) -> Backend:
    """A fresh backend for a label of BACKENDS."""
    if label == "float64":
        return backend_named(label)
    kernels, _, digits = label.partition("-")
    return Mpmath(int(digits), kernels)

# Agreement with float64, relative to the largest entry: float64's own rounding, (n + d·L)·eps
# as in tests/test_backend_mpmath.py (the mpmath results are exact to far below it).
AGREE = (N_POINTS + D * DEPTH) * 2.0**-53

# (mean, median) seconds per call, by (kernel, backend name), for the ratios and the summary.
_TIMES: dict[tuple[str, str], tuple[float, float]] = {}


@lru_cache(maxsize=None)
def _problem() -> tuple[np.ndarray, Layers]:
    P = planted_problem(PROBLEM_SEED, n=N_POINTS, d=D, gamma=GAMMA, n_sv=D + 2, sv_rank=D)
    assert P.sv_span_full
    Z = np.array(P.Z)
    return Z, init_layers("gaussian", D, [D] * (DEPTH - 1), INIT_SEED, mean_z=Z.mean(axis=0))


def _inputs(bk: Backend) -> tuple[np.ndarray, Layers]:
    Z, layers = _problem()
    return bk.asarray(Z), tuple(bk.asarray(W) for W in layers)


def _blas_env() -> str:
    keys = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return ", ".join(f"{k}={os.environ[k]}" for k in keys if k in os.environ) or "unset"


def _record(benchmark, kernel: str, bk: Backend, label: str) -> None:
    """Store the mean and median, and their ratios to float64's where that ran, in _TIMES and extra_info."""
    Z, layers = _problem()
    benchmark.extra_info.update(
        backend=label, d=D, L=DEPTH, n=N_POINTS, n_params=int(sum(W.size for W in layers)), blas_threads_env=_blas_env()
    )
    if isinstance(bk, Mpmath):
        benchmark.extra_info["precision_bits"] = bk.prec
    if benchmark.stats is None:  # --benchmark-disable: nothing was timed
        return
    st = benchmark.stats.stats
    _TIMES[(kernel, label)] = (st.mean, st.median)
    ref = _TIMES.get((kernel, "float64"))
    if ref and label != "float64":
        benchmark.extra_info["ratio_to_float64"] = st.mean / ref[0]
        benchmark.extra_info["median_ratio_to_float64"] = st.median / ref[1]


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    """After the module: one line per kernel with each backend's mean and median and the ratios to
    float64 (medians are the steadier figure on a busy machine: the means include its stalls)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not _TIMES:
        return
    lines = []
    for kernel in ("evaluate", "hessian"):
        ref = _TIMES.get((kernel, "float64"))
        parts = []
        for name in BACKENDS:
            if (kernel, name) not in _TIMES:
                continue
            mean, median = _TIMES[(kernel, name)]
            ratio = f" = {mean / ref[0]:,.0f}x / {median / ref[1]:,.0f}x float64" if ref and name != "float64" else ""
            parts.append(f"{name} {mean * 1e3:.4g} / {median * 1e3:.4g} ms{ratio}")
        if parts:
            lines.append(f"one {kernel} (d={D}, L={DEPTH}, n={N_POINTS}), mean / median: " + "; ".join(parts))
    with capture.global_and_fixture_disabled():  # the summary goes to the terminal, not to the capture
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


# What each kernel computes, and the array that is compared with float64 (every layer gradient;
# the Hessian itself).
KERNELS = {"evaluate": (evaluate, lambda ev: flatten(ev.grads)), "hessian": (hessian, lambda H: H)}


def _arb_evaluate(benchmark, bk: Mpmath) -> np.ndarray:
    """arb_risk.evaluate on arb_mat inputs converted once; its layer gradients as float64."""
    Z, layers = _inputs(bk)
    with bk.arb_precision():
        Za = flint.arb_mat(bk.to_arb(Z).tolist())
        La = [flint.arb_mat(bk.to_arb(W).tolist()) for W in layers]
        _, _, grads = benchmark(arb_risk.evaluate, EXP, Za, La)
    return np.concatenate([[float(G[i, j].mid()) for i in range(G.nrows()) for j in range(G.ncols())] for G in grads])


def _bench_kernel(benchmark, kernel: str, name: str) -> None:
    fn, values = KERNELS[kernel]
    bk = _backend(name)  # a fresh context per benchmark
    if kernel == "evaluate" and getattr(bk, "arb_kernels", False):
        got = _arb_evaluate(benchmark, bk)
    else:
        Z, layers = _inputs(bk)
        out = benchmark(fn, Z, EXP, layers, bk)
        got = bk.to_float(values(out)).astype(float)
    _record(benchmark, kernel, bk, name)
    Z64, layers64 = _problem()
    want = values(fn(Z64, EXP, layers64))
    assert got.shape == want.shape and np.all(np.isfinite(got))
    assert np.max(np.abs(got - want)) <= AGREE * np.max(np.abs(want))


@pytest.mark.benchmark(group="one evaluation by backend (d=5, L=4, n=20)")
@pytest.mark.parametrize("name", BACKENDS)
def test_one_evaluation(benchmark, name):
    _bench_kernel(benchmark, "evaluate", name)


@pytest.mark.benchmark(group="one exact Hessian by backend (d=5, L=4, n=20)")
@pytest.mark.parametrize("name", BACKENDS)
def test_one_hessian(benchmark, name):
    _bench_kernel(benchmark, "hessian", name)
