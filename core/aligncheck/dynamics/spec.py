"""What to run, and running it: a run specification and the dynamics it asks for.

:func:`run` initialises the network of a :class:`RunSpec` on data Z and follows gradient flow
(float64, mpmath from the start, or float64 then mpmath past the floor) or gradient descent
(the paper's step rule, or a constant step). Where a gradient-flow run stops (its target layer
norm) is for the caller to say: it depends on the claims being judged (aligncheck.harness.runner).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from aligncheck.dynamics.float_range import check_start
from aligncheck.dynamics.gd import check_gd_steps, gradient_descent, paper_step_gd
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.late_phase import check_size, continue_in_mpmath, gradient_flow_mp
from aligncheck.dynamics.trajectory import Trajectory
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import get_loss
from aligncheck.numerics.network import Layers, check_network_size, init_layers, layer_shapes, parameter_count
from aligncheck.numerics.risk import evaluate

# --late-phase: how much further (log-norm time s, so a factor e^5 ≈ 150 in ‖θ‖) the mpmath
# continuation follows the flow past the float64 floor.
LATE_PHASE_SPAN = 5.0
# --late-phase without --precision: the digits of the continuation.
LATE_PHASE_DIGITS = 50
# --precision: the mpmath run's budget in s (the float64 integrator's default s_max is 40; a
# target is normally met far earlier).
MP_S_MAX = 40.0
METHODS = ("gf", "gd")
# The automatic initialisation scale (the command line's default): the largest 2^-k, k = 0 ..
# AUTO_SCALE_HALVINGS, at which the seeded W(0) meets Assumption 1.2 (R(W(0)) ≤ ℓ(0), ∇R ≠ 0).
# Why halving finds one: the init's sign makes the mean margin ⟨w_prod, mean z⟩ ≥ 0, so with the
# layers scaled by c the risk is ℓ(0) + ℓ'(0)·c^L·mean(m) + O(c^{2L}), below ℓ(0) for c small
# enough unless the mean margin is 0. 40 halvings reach c ≈ 1e-12 (w_prod ≈ 1e-12^L): far below
# any scale measured to be needed (raw breast cancer data, R(W(0)) = 1e76 at c = 1 and depth 2,
# need c = 2^-9 at depth 1, 2^-5 at depth 2, 2^-3 at depth 4 with the exp loss), and still far
# above float64's gradient underflow (check_start).
AUTO_SCALE_HALVINGS = 40


@dataclass(frozen=True)
class RunSpec:
    """What to run: depth L, hidden widths (L−1 ints; default d each), loss, init, init seed and
    scale (see aligncheck.numerics.network.init_layers), method and, for GD, the step and the number of steps."""

    depth: int
    loss: str = "exp"
    init: str = "gaussian"
    seed: int = 0
    init_scale: float = 1.0
    widths: tuple[int, ...] | None = None
    method: str = "gf"
    gd_step: float | None = None  # None: the paper's step rule (Assumption 3.5); else a constant step
    gd_steps: int = 2000
    precision: int | None = None  # digits: run gradient flow on the mpmath backend (None: float64)
    late_phase: bool = False  # gradient flow: float64 to its floor, then continued in mpmath
    kernels: str = "flint"  # high precision: the late phase's linear algebra in python-flint, or "mpmath" (the reference)

    def hidden_widths(self, d: int) -> tuple[int, ...]:
        if self.depth < 1:
            raise ProblemError(f"depth must be at least 1, got {self.depth}")
        w = self.widths if self.widths is not None else (d,) * (self.depth - 1)
        if len(w) != self.depth - 1:
            raise ProblemError(f"depth {self.depth} needs {self.depth - 1} hidden width(s), got {len(w)}")
        return tuple(int(x) for x in w)

    def initial_layers(self, Z: np.ndarray) -> Layers:
        """W(0) for data Z (n, d): the seeded initialisation, its sign fixed by the mean of the z_i,
        after every check that can refuse the run up front (method and options, widths and
        network size, GD steps, W(0) inside the float64 engine's range): ProblemError naming what
        is wrong, before anything runs."""
        if self.method not in METHODS:
            raise ProblemError(f"unknown method {self.method!r}: choose gf or gd")
        if self.method == "gd":
            check_gd_steps(self.gd_steps)
            if self.precision is not None or self.late_phase:
                raise ProblemError("--precision and --late-phase apply to gradient flow (--method gf); GD runs are replayed at high precision only to confirm a violation")
        d = Z.shape[1]
        check_network_size(d, self.hidden_widths(d))  # before allocating the layers
        if self.precision is not None or self.late_phase:
            check_size(parameter_count(layer_shapes(d, self.hidden_widths(d))))
        layers0 = init_layers(self.init, d, self.hidden_widths(d), self.seed, scale=self.init_scale, mean_z=Z.mean(axis=0))
        check_start(Z, get_loss(self.loss), layers0)
        return layers0


def run(Z: np.ndarray, spec: RunSpec, *, target_layer_norm: float | None = None, layers0: Layers | None = None) -> Trajectory:
    """The trajectory ``spec`` asks for on data Z (n, d). Gradient flow stops at its target (the risk
    below 1e-100·e⁻¹ and, where given, min_k ‖W_k‖_F ≥ ``target_layer_norm``), at the float64 floor
    or at its budget; with ``spec.late_phase`` it runs to the float64 floor, then on in mpmath.
    ``layers0``: ``spec.initial_layers(Z)``, if the caller already has it."""
    loss = get_loss(spec.loss)
    layers0 = spec.initial_layers(Z) if layers0 is None else layers0
    if spec.method == "gd":
        if spec.gd_step is None:
            return paper_step_gd(Z, loss, layers0, steps=spec.gd_steps)
        return gradient_descent(Z, loss, layers0, step=spec.gd_step, steps=spec.gd_steps)
    if spec.late_phase:  # float64 as far as it goes (its floor), then high precision
        head = gradient_flow(Z, loss, layers0, target_layer_norm=math.inf)
        return continue_in_mpmath(head, digits=spec.precision or LATE_PHASE_DIGITS, s_span=LATE_PHASE_SPAN, kernels=spec.kernels)
    if spec.precision is not None:
        return gradient_flow_mp(Z, loss, layers0, digits=spec.precision, s_span=MP_S_MAX, target_layer_norm=target_layer_norm,
                                kernels=spec.kernels)
    return gradient_flow(Z, loss, layers0, target_layer_norm=target_layer_norm)



def with_admissible_scale(spec: RunSpec, Z: np.ndarray) -> tuple[RunSpec, str]:
    """``spec`` with its initialisation scale chosen for data Z (n, d): the largest 2^-k ≤ ``spec.init_scale``
    (k ≤ AUTO_SCALE_HALVINGS) at which the seeded W(0) has R(W(0)) ≤ ℓ(0) and ∇R ≠ 0 (Assumption 1.2),
    and one line saying what was chosen and why. ``w1zero`` meets A1.2 at every scale (R = ℓ(0)) and
    keeps its scale. Where no scale meets it (mean margin 0, e.g. data symmetric about the origin)
    the spec keeps its scale, and the line says so."""
    if spec.init == "w1zero":
        return spec, f"init scale {spec.init_scale!r} (w1zero: R(W(0)) = ℓ(0) at every scale)"
    loss = get_loss(spec.loss)
    log_l0 = math.log(loss.ell_at_zero)
    for k in range(AUTO_SCALE_HALVINGS + 1):
        trial = dataclasses.replace(spec, init_scale=spec.init_scale * 2.0**-k)
        try:
            layers0 = trial.initial_layers(Z)
        except ProblemError:
            break  # beyond the float64 engine's range (check_start): smaller scales are too
        ev = evaluate(Z, loss, layers0)
        if float(ev.log_risk) <= log_l0 and any(np.any(G) for G in ev.grads):
            if k == 0:
                return trial, f"init scale {trial.init_scale!r} (automatic: A1.2 holds at W(0) at this scale)"
            tried = f"{spec.init_scale!r}" + ("" if k == 1 else f" .. {spec.init_scale * 2.0 ** (1 - k)!r}")
            return trial, (f"init scale {trial.init_scale!r} (automatic: the largest 2^-k·{spec.init_scale!r} with A1.2 at W(0); "
                           f"R(W(0)) > ℓ(0) at {tried})")
    return spec, (f"init scale {spec.init_scale!r}: no scale down to 2^-{AUTO_SCALE_HALVINGS}·{spec.init_scale!r} meets A1.2 at W(0) "
                  "(the mean margin of this start is 0); try --init w1zero or another --seed")
