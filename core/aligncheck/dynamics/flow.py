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

H = J_pᵀ H_w J_p + T (:func:`aligncheck.numerics.risk.hessian`): the first term has rank ≤ d and
carries the stiffness (relative to the field it grows like the margins, ~‖W‖^L), T (the Hessian
of θ ↦ ⟨w_prod, g⟩ at fixed g) stays O(1) relative to it in the late phase (c·‖g‖‖W‖^{L−2}/‖∇log R‖
with ‖∇log R‖ ~ ‖g‖‖W‖^{L−1}). Large networks integrate with the rank-(d+1) part only
(:meth:`FlowField.jac_low_rank`, solved by Woodbury's formula in
:mod:`aligncheck.dynamics.low_rank_bdf`): nothing N×N is formed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from aligncheck.dynamics.low_rank_bdf import LowRank
from aligncheck.numerics.backends import FLOAT64, Backend
from aligncheck.numerics.losses import Loss
from aligncheck.numerics.network import Layers, flatten, product, unflatten
from aligncheck.numerics.risk import RiskEval, evaluate, hessian, hessian_factors, hessian_weights

_EPS64 = float(np.finfo(np.float64).eps)

# In high precision, from this many points on, the field is evaluated on the points that carry it
# only (see FlowField._rows): below it the whole data cost less than a second per re-integration
# (measured: 2-3 ms per point for the span a second look re-integrates) and the results stay as
# they were.
SUBSET_MIN_POINTS = 1000
# The cutoff of FlowField._rows is prec·ln 2 + ln n + SUBSET_SLACK: the dropped points' loss,
# weight and Hessian weight add up to at most B = e^-SUBSET_SLACK·2^-prec/ln 2 ≈ 3e-9·2^-prec of
# the total, so the vector field moves by B·(1 + max‖z‖/‖∇log R‖) relative, accepted while that is
# below 2^-prec, i.e. while max‖z‖/‖∇log R‖ ≤ 3e8 (‖∇log R‖ ≥ γ in the late phase); else all points.
SUBSET_SLACK = 20.0


class FlowField:
    """F(θ) and ∂F/∂θ on data Z (n, d) for layers of the given ``shapes``, in the backend ``bk``
    (θ a float64 vector, or an object vector of the backend's numbers). ``evals`` counts every
    gradient evaluation (a Jacobian counts as one), also those answered from memory: in float64
    the last evaluation is remembered, since after each accepted step the integrator's three
    stop checks and its Jacobian ask for the same state (the stop checks were 11 s of a 26 s flow
    at n = 1e5, profiled; two thirds of it repeats); the same bits as recomputing."""

    def __init__(self, Z: np.ndarray, loss: Loss, shapes: Sequence[tuple[int, int]], bk: Backend = FLOAT64) -> None:
        self.Z, self.loss, self.shapes, self.bk = (Z if bk is FLOAT64 else bk.asarray(Z)), loss, list(shapes), bk
        self.Z64 = np.asarray(Z, dtype=float)
        self.absZ64 = np.abs(self.Z64)
        self.zmax = float(np.max(np.linalg.norm(self.Z64, axis=1)))
        # exp and logistic only: the bounds of _rows need weights that fall like e^{−m}
        self.subset = bk is not FLOAT64 and len(self.Z64) >= SUBSET_MIN_POINTS and loss.name in ("exp", "logistic")
        self.evals = 0
        self._last: tuple[bytes, RiskEval] | None = None

    def layers(self, theta: np.ndarray) -> Layers:
        return unflatten(theta, self.shapes)

    def evaluate(self, theta: np.ndarray) -> RiskEval:
        """log R and its gradients at θ over every point (counted)."""
        self.evals += 1
        if self.bk is not FLOAT64:
            return evaluate(self.Z, self.loss, unflatten(theta, self.shapes), self.bk)
        key = theta.tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, evaluate(self.Z, self.loss, unflatten(theta, self.shapes)))
        return self._last[1]

    def grad(self, theta: np.ndarray) -> tuple[RiskEval, np.ndarray]:
        """The evaluation at θ and ∇_θ log R as one vector."""
        ev = self.evaluate(theta)
        return ev, flatten(ev.grads)

    def speed(self, theta: np.ndarray):
        """c(θ) = ‖F(θ)‖ = sqrt(1 + ‖θ‖²) (≈ ‖θ‖ late, and > 0 at θ = 0)."""
        return self.bk.sqrt(1 + theta @ theta)

    def f(self, theta: np.ndarray) -> np.ndarray:
        """F(θ) = −c ĝ (0 where ∇log R = 0: a critical point, where the flow stands still)."""
        _, g, gn, _ = self.parts(theta)
        return -self.speed(theta) * (g / gn) if gn > 0 else g * 0

    def jac(self, theta: np.ndarray) -> np.ndarray:
        """∂F/∂θ, shape (N, N) (see the module docstring), in the backend's numbers: the dense
        Jacobian of the float64 integrator (the high-precision stepper solves with I + T instead)."""
        ev, g, gn, Z = self.parts(theta)
        gh = g / gn
        c = self.speed(theta)
        H = hessian(Z, self.loss, unflatten(theta, self.shapes), self.bk, ev=ev)
        return -np.outer(gh, theta) / c - (c / gn) * (H - np.outer(gh, gh @ H))

    def jac_low_rank(self, theta: np.ndarray) -> LowRank:
        """∂F/∂θ without T (see the module docstring), as U Vᵀ of rank d + 1 (float64):
        U = [−ĝ, −(c/‖∇log R‖)(J_pᵀ − ĝ(ĝᵀJ_pᵀ))], V = [θ/c, J_pᵀH_w]; O(N·d) memory."""
        ev, g, gn, Z = self.parts(theta)
        gh = g / gn
        c = self.speed(theta)
        Jp, H_w = hessian_factors(Z, unflatten(theta, self.shapes), hessian_weights(self.loss, ev), ev.grad_w)
        P = Jp.T
        U = np.column_stack([-gh, -(c / gn) * (P - np.outer(gh, gh @ P))])
        V = np.column_stack([theta / c, P @ H_w])
        return LowRank(U, V)

    def rows(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(the points the field at θ is formed on, their indices or None for all): in high
        precision from SUBSET_MIN_POINTS on, the ones that carry it (see _rows), else all."""
        return self._field(theta)[3:]

    def parts(self, theta: np.ndarray) -> tuple[RiskEval, np.ndarray, object, np.ndarray]:
        """(evaluation, ∇_θ log R, its norm, the points it was formed on) at θ: every point, or in
        high precision the ones that carry the field (see _rows) when that cannot show."""
        return self._field(theta)[:4]

    def _field(self, theta: np.ndarray) -> tuple[RiskEval, np.ndarray, object, np.ndarray, np.ndarray | None]:
        """:meth:`parts` and the indices of its points (None for all)."""
        if self.subset:
            layers = unflatten(theta, self.shapes)
            keep, B = self._rows(layers)
            if keep is not None:
                self.evals += 1
                Z = self.Z[keep]
                ev = evaluate(Z, self.loss, layers, self.bk)
                g = flatten(ev.grads)
                gn = self.bk.norm(g)
                if gn > 0 and B * (1 + self.zmax / gn) <= self.bk.eps:
                    return ev, g, gn, Z, keep
                # else the dropped points might move the direction by more than the precision
        ev, g = self.grad(theta)
        return ev, g, self.bk.norm(g), self.Z, None

    def _margins64(self, layers: Layers) -> tuple[np.ndarray, float]:
        """float64 margins of the current w_prod and a bound on their error |m64_i − m_i|: rounding
        w to float64 (eps/2 relative) and the float dot products (γ_d, Higham Thm 3.1), each
        ≤ (d+2)·eps·|z_i|ᵀ|w|; the factor 2 covers the rounding of the bound itself."""
        w = np.asarray(self.bk.to_float(product(layers)), dtype=float)
        d = len(w)
        return self.Z64 @ w, 2.0 * (d + 2) * _EPS64 * float(np.max(self.absZ64 @ np.abs(w)))

    def _rows(self, layers: Layers) -> tuple[np.ndarray | None, float]:
        """(indices of the points that carry the flow at these layers, B) or (None, 0) for all.

        Dropped: points with m_i − max(m_min, 0) > C = prec·ln 2 + ln n + SUBSET_SLACK (shown by
        the float64 margins less their error bound). For both losses ℓ(m_i)/ℓ(m_min) ≤
        e^{−(m_i − max(m_min, 0))}/ln 2 (exp: equality without the ln 2; logistic: ℓ(m) ≤ e^{−m},
        and ℓ(m_min) ≥ ln 2·e^{−m_min} for m_min ≥ 0, ≥ ln 2 below), and −ℓ' ≤ ℓ, ℓ'' ≤ −ℓ'; so
        the dropped points' share of Σ ℓ, of the weights q and of the Hessian weights r is at
        most B = n_dropped·e^{−C}/ln 2 (SUBSET_SLACK has the consequence).
        """
        if not self.subset:
            return None, 0.0
        m, err = self._margins64(layers)
        gap = m - err - max(float(m.min()) + err, 0.0)  # ≤ m_i − max(m_min, 0) for every i
        n = len(m)
        C = self.bk.prec * math.log(2.0) + math.log(n) + SUBSET_SLACK
        keep = np.flatnonzero(~(gap > C))  # ~(>) keeps NaN rows (none: θ is checked finite)
        if keep.size == n:
            return None, 0.0
        return keep, (n - keep.size) * math.exp(-C) / math.log(2.0)

    def max_abs_margin(self, theta: np.ndarray) -> float:
        """max_i |m_i| in the backend, over the points whose float64 margin can be the largest (the
        same value as over all points)."""
        layers = unflatten(theta, self.shapes)
        m, err = self._margins64(layers)
        top = np.abs(m)
        cand = np.flatnonzero(~(top < float(top.max()) - 2 * err))
        return float(max(abs(x) for x in self.Z[cand] @ product(layers)))
