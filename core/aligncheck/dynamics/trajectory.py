"""A recorded run: checkpoints in time order and typed records of how it was computed.

A :class:`Trajectory` carries the arithmetic it was computed in (the backend object itself),
the integrator's settings (:class:`FlowInfo` for the float64 integrator, :class:`MidpointInfo`
for the high-precision stepper), the per-step log of gradient descent (:class:`GDLog`) and, for
a run continued past the float64 floor, where and why it switched (:class:`LatePhase`).
Predicates read these fields, never a dictionary of settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.numerics.backends import FLOAT64, Backend
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers


@dataclass(frozen=True)
class Checkpoint:
    """One recorded iterate. ``time``: s (log-norm time) for gradient flow, the step index for GD.

    For GD, ``next_layers`` is W(t+1) and ``step_size`` is η_t, so one-step identities can be checked.
    """

    time: float
    layers: Layers
    next_layers: Layers | None = None
    step_size: float | None = None


@dataclass(frozen=True)
class FlowInfo:
    """The float64 gradient-flow integrator (scipy's BDF in log-norm time): its local error
    tolerances (``atol`` relative to max(1, ‖θ(0)‖)), time budget and checkpoint spacing in s."""

    rtol: float
    atol: float
    s_max: float
    checkpoint_every: float
    integrator: str = "scipy BDF, analytic Jacobian"


@dataclass(frozen=True)
class MidpointInfo:
    """The high-precision stepper (:mod:`aligncheck.dynamics.late_phase`): its tangential error
    tolerance per step, digits, Newton tolerance, the precision history [(s, bits)], the steps
    accepted and rejected, and the s from which the softmax weights were taken at the end point of
    each step (the stiff phase; None if never)."""

    rtol: float
    digits: int
    newton_tol: float
    precision_bits: list[tuple[float, int]]
    steps_accepted: int
    steps_rejected: int
    endpoint_weights_from_s: float | None = None
    integrator: str = ("balancedness-exact midpoint transport θ1 = θ0 − 2J(m)ᵀu (implicit midpoint; weights at the end point once stiff), "
                       "step doubling on the tangential error, Newton with the softmax solved exactly in R^d")


@dataclass(frozen=True)
class LatePhase:
    """Where a float64 run was continued in high precision: at s = ``switched_at_s``, because the
    float64 run stopped (``because``: its stop reason), from the backend ``head`` on."""

    switched_at_s: float
    because: str
    head: str
    stepper: MidpointInfo


@dataclass(frozen=True)
class GDLog:
    """Gradient descent's step rule and its per-step record over every step (not only checkpoints).

    ``rule``: "constant" (step ``step``) or "paper" (Assumption 3.5; "paper×c" when every η_t was
    multiplied by ``step_scale`` = c, for controls). Arrays, for t = 0..N (N steps done): ``eta``
    (N,) η_t; ``radius`` (N+1,) R_t (paper rule; the constant rule keeps max_k ‖W_k‖_F + 1, no
    role); ``log_risk`` (N+1,) log R(W(t)); ``log_grad_sq`` (N+1,) log ‖∇R(W(t))‖² (Frobenius over
    all layers); ``max_frob`` (N+1,) max_k ‖W_k(t)‖_F. ``radii``: R_t at the checkpoints' steps.
    """

    rule: str
    step: float | None
    step_scale: float
    eta: np.ndarray
    radius: np.ndarray
    log_risk: np.ndarray
    log_grad_sq: np.ndarray
    max_frob: np.ndarray
    radii: dict[int, float] = field(default_factory=dict)

    @property
    def paper_rule(self) -> bool:
        return self.rule.startswith("paper")


@dataclass
class Trajectory:
    """A recorded run: method ("gf" or "gd"), data Z (n, d), loss, checkpoints in time order, why
    it stopped, the gradient evaluations and wall time (s) it took, its backend and its records."""

    method: str
    Z: np.ndarray
    loss: Loss
    checkpoints: list[Checkpoint]
    stop_reason: str
    grad_evals: int
    wall_time: float
    backend: Backend = FLOAT64
    integrator: FlowInfo | MidpointInfo | None = None
    gd: GDLog | None = None
    late_phase: LatePhase | None = None

    @property
    def initial(self) -> Layers:
        return self.checkpoints[0].layers

    @property
    def final(self) -> Layers:
        return self.checkpoints[-1].layers

    @property
    def rtol(self) -> float | None:
        """The integrator's relative tolerance (None for GD, which has no integration error)."""
        return self.integrator.rtol if self.integrator is not None else None


def check_finite_layers(layers: Layers) -> None:
    """ProblemError naming the first layer W_k with a NaN or infinite entry (float64 or mpf entries)."""
    for k, W in enumerate(layers, 1):
        if not np.all(np.isfinite(np.asarray(W, dtype=float))):
            raise ProblemError(f"layer W_{k} has a NaN or infinite entry")
