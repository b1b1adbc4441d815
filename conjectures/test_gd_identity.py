"""Gradient descent: the exact one-step balancedness identity (derived, claims.md).

Δ_k(t+1) − Δ_k(t) = η_t² (G_{k+1}^T G_{k+1} − G_k G_k^T) for any step size: checked on every
recorded step to rounding.
"""

import pytest

from aligncheck.claims.registry import ids
from aligncheck.data.planted import planted_problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.testing.strategies import run_cases

CLAIMS = ids(group="gd_identity")

PINS = (
    # GD with the exp loss and η = 0.5 overflows at step 26: the run must end cleanly at the
    # last finite iterate (found by the ci profile; it used to crash the SVD on inf entries).
    (planted_problem(0, n=2, d=2, gamma=0.125, n_sv=2, sv_rank=2, data_rank=2),
     RunSpec(depth=4, loss="exp", init="gaussian", seed=0, widths=(2, 2, 2), method="gd", gd_step=0.5, gd_steps=200)),
)


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gd", min_depth=2), CLAIMS, pins=PINS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
