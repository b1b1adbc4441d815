"""The gradient-flow field in log-norm time, shared by the float64 and the high-precision integrators.

Gradient flow dW/dt = −∇R is followed in *log-norm time* s, in which the path is the same but
‖dθ/ds‖ = sqrt(1 + ‖θ‖²) (θ = all layers as one vector):

    dθ/ds = F(θ) = −c(θ)·ĝ(θ),   c = sqrt(1 + ‖θ‖²),   ĝ = ∇log R/‖∇log R‖.

Any positive scalar reparametrisation traces the same path, so every path claim (directions,
alignment, rank, the balancedness invariants, Lemma 2) can be judged on it, while log‖θ‖ grows
about linearly in s instead of like log log t (the speed is sqrt(1 + ‖θ‖²) rather than ‖θ‖ so that
a start at θ = 0 still moves). Its Jacobian, with H = ∇²_θ log R (exact, from
:func:`aligncheck.numerics.risk.hessian`) and ∇c = θ/c, is

    ∂F/∂θ = −ĝ (θ/c)^T − (c/‖∇log R‖)(I − ĝĝ^T) H.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aligncheck.numerics.backends import FLOAT64, Backend
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers, flatten, unflatten
from aligncheck.numerics.risk import RiskEval, evaluate, hessian


class FlowField:
    """F(θ) and ∂F/∂θ on data Z (n, d) for layers of the given ``shapes``, in the backend ``bk``
    (θ a float64 vector, or an object vector of the backend's numbers). ``evals`` counts every
    gradient evaluation (a Jacobian counts as one)."""

    def __init__(self, Z: np.ndarray, loss: Loss, shapes: Sequence[tuple[int, int]], bk: Backend = FLOAT64) -> None:
        self.Z, self.loss, self.shapes, self.bk = (Z if bk is FLOAT64 else bk.asarray(Z)), loss, list(shapes), bk
        self.evals = 0

    def layers(self, theta: np.ndarray) -> Layers:
        return unflatten(theta, self.shapes)

    def evaluate(self, theta: np.ndarray) -> RiskEval:
        """log R and its gradients at θ (counted)."""
        self.evals += 1
        return evaluate(self.Z, self.loss, unflatten(theta, self.shapes), self.bk)

    def grad(self, theta: np.ndarray) -> tuple[RiskEval, np.ndarray]:
        """The evaluation at θ and ∇_θ log R as one vector."""
        ev = self.evaluate(theta)
        return ev, flatten(ev.grads)

    def speed(self, theta: np.ndarray):
        """c(θ) = ‖F(θ)‖ = sqrt(1 + ‖θ‖²) (≈ ‖θ‖ late, and > 0 at θ = 0)."""
        return self.bk.sqrt(1 + theta @ theta)

    def f(self, theta: np.ndarray) -> np.ndarray:
        """F(θ) = −c ĝ (0 where ∇log R = 0: a critical point, where the flow stands still)."""
        _, g = self.grad(theta)
        gn = self.bk.norm(g)
        return -self.speed(theta) * (g / gn) if gn > 0 else g * 0

    def jac(self, theta: np.ndarray) -> np.ndarray:
        """∂F/∂θ, shape (N, N) (see the module docstring)."""
        _, g = self.grad(theta)
        gn = self.bk.norm(g)
        gh = g / gn
        c = self.speed(theta)
        H = hessian(self.Z, self.loss, unflatten(theta, self.shapes), self.bk)
        return -np.outer(gh, theta) / c - (c / gn) * (H - np.outer(gh, gh @ H))
