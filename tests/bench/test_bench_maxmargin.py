"""Benchmarks: the certified max margin against quadprog alone (issue 11).

Usage: pytest -m bench --benchmark-enable tests/bench/test_bench_maxmargin.py

Per (n, d, kind) one group with two rows, quadprog's solve alone and ``max_margin`` (quadprog, then
the KKT certificate: balls, else rationals, else Wolfe in rationals), so the ratio is read off one
table. Kinds: ``random`` (Gaussian points kept at |⟨u, x⟩| ≥ 0.05‖x‖ from a random hyperplane:
at most d support vectors, in general position) and ``degenerate`` (planted problems with
d + 3 support vectors of rank d − 1: dependent support vectors, α not unique, the case that sends
the certificate to its rational fallback). ``extra_info`` says which check decided.
"""

from __future__ import annotations

import numpy as np
import pytest

from aligncheck.data import maxmargin as mmod
from aligncheck.data.maxmargin import max_margin
from aligncheck.data.planted import planted_problem

pytestmark = pytest.mark.bench


def _random(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    X = rng.standard_normal((2 * n, d))
    X = X[np.abs(X @ u) >= 0.05 * np.linalg.norm(u) * np.linalg.norm(X, axis=1)][:n]
    return X * np.sign(X @ u)[:, None]


def _degenerate(n: int, d: int, seed: int = 0) -> np.ndarray:
    pp = planted_problem(seed, n=n, d=d, gamma=0.2, n_sv=d + 3, sv_rank=d - 1)
    return pp.X * pp.y[:, None]


CASES = [(n, d, kind) for kind in ("random", "degenerate") for d in (5, 50) for n in (100, 1000, 10000)]


@pytest.mark.parametrize("solver", ["quadprog", "max_margin"])
@pytest.mark.parametrize("n,d,kind", CASES, ids=[f"{k}-n{n}-d{d}" for n, d, k in CASES])
def test_max_margin_against_quadprog(benchmark, n, d, kind, solver):
    Z = (_random if kind == "random" else _degenerate)(n, d)
    benchmark.group = f"max margin, {kind}, n = {n}, d = {d}"
    if solver == "quadprog":
        out = benchmark(mmod._quadprog, Z)
        assert out is not None
        return
    mm = benchmark(max_margin, Z)
    qp = mmod._quadprog(Z)
    order = qp[2][np.argsort(-qp[1][qp[2]], kind="stable")]
    benchmark.extra_info.update(support=len(mm.support), sv_rank=mm.sv_rank, decided_by_balls=mmod.ball_check(Z, order) is not None)
    assert mm.certificate.ok
