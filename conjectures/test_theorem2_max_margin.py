"""Gradient flow, Theorem 2 (submission) and its corollary: the product turns to +ū, v_1 to ±ū,
and the normalised margin tends to γ, for the exp and logistic losses under A1.2 and A2.7.

Examples are drawn in the theorem's setting: d independent support vectors spanning R^d (A2.7,
'almost all data').
"""

import numpy as np
import pytest

from aligncheck.claims.registry import ids
from aligncheck.data.planted import planted_problem
from aligncheck.data.problem import Problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.testing.strategies import run_cases

CLAIMS = ids(group="theorem2")

# False violations found on the way (issue 8), kept as regression examples. Both are depth-1 runs
# on problems whose every point is a support vector, stopped while the offset w_prod − (its ū
# part) was still moving to its limit (aligncheck.claims.verdicts: the judge's comment block has the numbers).
ISSUE_8_X = [
    [0.2778644444794894, 0.3327740864725989, -0.33885948053113146, 0.4055100416373185, -0.14726377272092742, -0.20489422767907203],
    [-0.49212676859066784, -0.1785854290287897, -0.1297125410158235, -0.23439766313237811, -0.421412149995068, -0.08977529586433879],
    [0.42565071655370046, -0.041629800472472306, -0.4314509758324885, 0.02869805483383861, 0.01252917945341028, 0.16460937263475453],
    [0.2630933822649499, 0.22472772210291506, -0.18207745200740247, -0.036756850879780006, -0.1543634565534106, 0.5320955193574933],
    [0.5300565795195333, -0.2501161331218287, -0.10528407660717132, -0.14273544349645903, 0.26184346987145696, 0.6433986292561995],
    [0.17082971345287484, 0.5843074583220919, 0.03891316347480861, 0.40203319224772033, -0.13056029186359752, 0.1097142615911993],
]
ISSUE_8_Y = [-1.0, 1.0, -1.0, -1.0, -1.0, -1.0]
PINS = (
    # The rate constant 1 − |⟨v_1, ū⟩|·‖w‖² still rising ×20 over the late window (to a plateau of
    # ~21 reached at ‖w‖ ≈ 2000): was "violated, confirmed at 50 digits".
    (Problem.from_arrays(np.array(ISSUE_8_X), np.array(ISSUE_8_Y)), RunSpec(depth=1, loss="exp", init="w1zero", seed=0),
     {"seed": 0, "label": "issue8-n6d6"}),
    # The direction passing close to ū (gap 4.6e-8 at ‖w‖ = 98) and turning away (2e-6 at ‖w‖ =
    # 460, where the run stops) before it settles: a rule on the late window's second half read
    # that as a stall.
    (planted_problem(41, n=3, d=3, gamma=0.5, n_sv=3, sv_rank=3), RunSpec(depth=1, loss="exp", init="gaussian", seed=1, widths=())),
)


@pytest.fixture(scope="module")
def group(request, check_group):
    return check_group(request, run_cases(method="gf", generic=True), CLAIMS, pins=PINS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
