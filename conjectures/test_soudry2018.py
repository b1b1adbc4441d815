"""Soudry, Hoffer, Nacson, Gunasekar & Srebro (2018), "The implicit bias of gradient descent on
separable data", Theorem 3: a linear predictor trained by GD with a small constant step on
separable data turns to ū, its norm grows like ‖ŵ‖ log t, its offset w(t) − ŵ log t tends to the w̃
the dual coefficients predict, and t·L(w(t)) to Σα/η (aligncheck.claims.soudry).

Examples: the paper's toy data (pinned), and planted problems in general position (d independent
support vectors), with and without points beyond the margin; W(0) = 0, the exp or the logistic
loss, GD with 0.9 times the theorem's largest step, 20,000 steps (~0.5 s each).
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from aligncheck.claims.registry import ids
from aligncheck.data.problem import Problem
from aligncheck.dynamics.spec import RunSpec
from aligncheck.harness.profiles import examples
from aligncheck.numerics.losses import get_loss
from aligncheck.testing.strategies import generic_planted_problems

CLAIMS = ids(paper="soudry_2018")
DATA = Path(__file__).parent / "data"
STEPS = 20_000
# Of the theorem's bound η < 2/(L(w(0))·σ_max²(X)) on the sum loss (aligncheck.claims.soudry):
# close to it, as a user would choose, and inside it.
STEP_FRACTION = 0.9


def theorem_step(Z: np.ndarray, loss: str) -> float:
    """0.9 × the theorem's largest step, as a step on the mean risk (n × the step on the sum loss)
    from W(0) = 0, where L(w(0)) = n·ℓ(0)."""
    n = Z.shape[0]
    bound = 2.0 / (n * get_loss(loss).ell_at_zero * float(np.linalg.norm(Z, 2) ** 2))
    return n * STEP_FRACTION * bound


@st.composite
def soudry_cases(draw):
    planted = draw(generic_planted_problems(max_others=draw(st.sampled_from([0, 0, 3]))))
    loss = draw(st.sampled_from(["exp", "logistic"]))
    return planted, RunSpec(depth=1, loss=loss, init="w1zero", seed=0, widths=(), method="gd",
                            gd_step=theorem_step(planted.Z, loss), gd_steps=STEPS)


def _toy() -> tuple[Problem, RunSpec, dict]:
    # Support vectors (0.5, 1.5), (1.5, 0.5) with y = +1 and their negatives with y = −1, plus two
    # points well beyond the margin; rescaled so that max ‖x_i‖ = 1 (claims.md, known answer).
    X = np.array([[0.5, 1.5], [1.5, 0.5], [-0.5, -1.5], [-1.5, -0.5], [3.0, 2.0], [-2.0, -3.0]])
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0])
    p = Problem.from_arrays(X / np.linalg.norm(X, axis=1).max(), y)
    return p, RunSpec(depth=1, loss="exp", init="w1zero", seed=0, widths=(), method="gd", gd_step=theorem_step(p.Z, "exp"), gd_steps=STEPS), {"seed": 0, "label": "soudry-toy"}


# Minimised failures of the fresh-seed campaign (seed 716760295; issue 8), pinned: planted problems
# whose offset crawls (t^-λ with λ = 0.000287, 0.02, 0.027) were reported violated when their gap
# did not decrease over a x132 growth of t; the rule now asks for the growth over which t^-λ halves
# the gap (aligncheck.claims.soudry.implicit_bias.OFFSET_VISIBLE_FALL). (seed, step as replayed)
CAMPAIGN_PINS = ((0, 0.7077138649475471), (3, 0.6431830254118789), (2543, 0.7595962834758465))


def _campaign_pin(seed: int, step: float) -> tuple[Problem, RunSpec, dict]:
    with np.load(DATA / f"soudry-offset-planted-{seed}.npz") as f:
        p = Problem.from_arrays(f["X"], f["y"])
    return p, RunSpec(depth=1, loss="logistic", init="w1zero", seed=0, widths=(), method="gd", gd_step=step, gd_steps=STEPS), {"seed": seed, "label": "planted"}


@pytest.fixture(scope="module")
def group(request, check_group):
    pins = (_toy(), *(_campaign_pin(*pin) for pin in CAMPAIGN_PINS))
    return check_group(request, soudry_cases(), CLAIMS, pins=pins, budget=settings(max_examples=examples("long")))


@pytest.mark.parametrize("claim", CLAIMS)
def test_claim(group, claim):
    group.assert_claim(claim)
