"""One step of the high-precision gradient flow that keeps the balancedness exactly, solved
where the flow is stiff (the step of :mod:`aligncheck.dynamics.late_phase`).

The step, with Φ(w) = log R as a function of w = w_prod ∈ R^d and J(θ) = ∂w/∂θ:

    θ1 = θ0 − 2 J(m)ᵀ u,   m = (θ0 + θ1)/2,   u = μ ∇Φ(P(x)),   x = θ0 + α(θ1 − θ0),

a τ-step of 2μ. Why this form:
- **Every update θ1 = θ0 − 2J(m)ᵀu conserves the balancedness Δ_k = W_{k+1}ᵀW_{k+1} − W_kW_kᵀ
  exactly, whatever u ∈ R^d.** With δ = θ1 − θ0 and M_k the layers of m, Δ_k(θ1) − Δ_k(θ0) =
  M_{k+1}ᵀδ_{k+1} + δ_{k+1}ᵀM_{k+1} − M_kδ_kᵀ − δ_kM_kᵀ, and δ is the gradient at m of the function
  θ ↦ −2⟨w_prod(θ), u⟩ of the product alone, for which M_{k+1}ᵀδ_{k+1} = δ_kM_kᵀ (the identity
  behind the invariance of Δ under gradient flow). So Δ is kept up to rounding, ~10^-digits
  relative, where float64's BDF keeps it to ~rtol; Lemma 2's rank and alignment gaps follow from it.
- α = 1/2 is the implicit midpoint rule (second order). It does not damp stiff components (its
  stability function tends to −1): an error off the slow manifold is reflected at every step, not
  removed. The stiffness sits in the margins' differences (the softmax weights relax at a rate ∝
  the margins), and once the tolerated local error, rtol·max|m_i|, exceeds one unit of margin
  those reflected errors are far outside the region where the weights are linear in them: the
  step-size control then sees them, not the path, and steps shrink until the run stalls
  (measured, d = 5, L = 3: Newton on the midpoint equations stalled at margins 2.75e14).
  From there on (``STIFF_MARGIN_UNITS``) α = 1: the weights are taken at the END point, which puts
  every output state on the slow manifold, like implicit Euler, while the transport J(m)ᵀ stays
  at the midpoint, so the invariants stay exact. That is first order in the weights' drift
  dq/ds, which decays like the gradient flow's convergence of q to its limit; the step doubling
  of aligncheck.dynamics.late_phase measures what it costs (measured, d = 5: steps of 0.2-1 units of s).
- The implicit equations are solved by Newton's method on θ1 with the map w ↦ ∇Φ(w) kept exact:
  each iteration linearises the transport, (I + T(m, u)) δ = θ0 − θ1 − 2J(m)ᵀu (T = ∇²_θ⟨w_prod, u⟩,
  O(1)-conditioned: :func:`aligncheck.numerics.risk.multilinear_hessian`), so w = P(x) becomes an
  affine function of u and the d-dimensional equation w − b + K∇Φ(w) = 0 is solved by Newton's
  method in R^d, started from the previous iteration's w (a point where the softmax weights are
  right). A Newton iteration over all of θ at once linearises the softmax too, and from any
  predictor more than O(1) margin units off (every predictor, once margins pass ~1e7) its model of
  the weights is wrong by O(1): it overshot and stalled (measured). The dense N×N solve is the one
  with I + T, whose condition stays O(1).
"""

from __future__ import annotations

import contextlib
import math

import flint
import numpy as np

from aligncheck.dynamics.flow import FlowField
from aligncheck.numerics import arb_risk
from aligncheck.numerics.losses import log_sum_and_weights
from aligncheck.numerics.network import product, unflatten
from aligncheck.numerics.risk import (
    multilinear_hessian,
    product_jacobian,
    weight_hessian,
)

# Newton iterations allowed per step over θ, and in R^d per iteration, before the step is rejected
# and halved (measured, d = 5, L = 3 and 4: 4-6 over θ, 3-9 in R^d; a step too long for its
# linearisation fails within these and is retried at half the length, which is cheaper than
# iterating on).
MAX_NEWTON = 12
MAX_NEWTON_W = 30
# The weights move to the end point of the step (α = 1, see the module docstring) once
# rtol·max|m_i| ≥ STIFF_MARGIN_UNITS: the local error the controller tolerates is then a unit of
# margin or more, beyond which the softmax weights are no longer linear in it.
STIFF_MARGIN_UNITS = 1.0

class _Softmax:
    """Φ(w) = log R as a function of w ∈ R^d over the rows Z that carry the field: its gradient,
    log Σ ℓ and Hessian, and the d×d solves of the R^d Newton iteration, in the backend's numbers.
    With the arb kernels (exp and logistic losses) the n-dimensional products run as arb_mat
    (aligncheck.numerics.arb_risk) and vectors are object arrays of arb; else mpf (the reference).
    Call inside ``bk.arb_precision()`` with the arb kernels."""

    def __init__(self, flow: FlowField, Z: np.ndarray) -> None:
        bk = flow.bk
        self.flow, self.bk, self.Z = flow, bk, Z
        self.arb = bk.arb_kernels and flow.loss.name in arb_risk.LOSSES
        self.Za = flint.arb_mat(bk.to_arb(Z).tolist()) if self.arb else None

    def num(self, a):
        """An mpf (or array of them) in this problem's numbers."""
        return self.bk.to_arb(a) if self.arb else a

    def mid(self, x):
        """x's value for comparisons: an arb's midpoint (exact), an mpf itself."""
        return x.mid() if self.arb else x

    def norm(self, v: np.ndarray):
        return (v @ v).sqrt() if self.arb else self.bk.ctx.sqrt(v @ v)

    def grad(self, w: np.ndarray, hessian: bool = False) -> tuple[np.ndarray, object, np.ndarray | None]:
        """(∇Φ(w) (d,), log Σ ℓ(m_i), ∇²Φ(w) (d, d) if ``hessian`` else None); one evaluation."""
        self.flow.evals += 1
        if self.arb:
            g, lse, H = arb_risk.weights(self.flow.loss, self.Za, flint.arb_mat([[x] for x in w]), hessian)
            return np.array([g[i, 0] for i in range(len(w))], dtype=object), lse, None if H is None else np.array(H.tolist(), dtype=object)
        loss, bk, Z = self.flow.loss, self.bk, self.Z
        m = Z @ w
        lse, q = log_sum_and_weights(loss, m, bk)
        g = -(q @ Z)
        return g, lse, weight_hessian(Z, bk.exp(loss.log_ddell(m, bk) - lse), g) if hessian else None

    def solve(self, A: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """x with A x = r (d×d), or None where A is numerically singular."""
        if not self.arb:
            return self.bk.solve(A, r)
        try:
            x = flint.arb_mat(A.tolist()).solve(flint.arb_mat([[v] for v in r]), algorithm="approx")
        except ZeroDivisionError:
            return None
        x = np.array([x[i, 0] for i in range(len(r))], dtype=object)
        return x if all(v.mid().is_finite() for v in x) else None

    def max_margin(self, w: np.ndarray) -> float:
        """max_i |⟨w, z_i⟩| as a float (from the midpoints with the arb kernels)."""
        if self.arb:
            return max(abs(float(v.mid())) for v in (self.Za * flint.arb_mat([[x] for x in w])).entries())
        return float(max(abs(v) for v in self.Z @ w))


def _solve_w(sm: _Softmax, K: np.ndarray, b: np.ndarray, w: np.ndarray, tol) -> np.ndarray | None:
    """w with w − b + K∇Φ(w) = 0 (R^d) by Newton's method from ``w``, backtracking on the residual's
    norm; None if it does not converge within MAX_NEWTON_W iterations.

    The accuracy asked of w is tol/max|m_i| relative (an error δw moves the weights by ~|Zδw|), or
    the rounding level 2^10·eps·max|m_i| where that is larger (the precision's headroom covers
    the margins' size once, measured: the iteration's corrections stall at ~eps·max|m_i|).
    """
    I = np.eye(len(w), dtype=object)
    big = max(1.0, sm.max_margin(w))
    tol_w = max(float(tol) / big, 1024 * sm.bk.eps * big)
    g, _, H = sm.grad(w, hessian=True)
    r = w - b + K @ g
    rr = r @ r
    for _ in range(MAX_NEWTON_W):
        step = sm.solve(I + K @ H, -r)
        if step is None:
            return None
        if sm.mid(sm.norm(step)) <= sm.mid(tol_w * sm.norm(w)):
            return w + step
        a = 1.0
        while True:
            cand = w + a * step
            gc, _, Hc = sm.grad(cand, hessian=True)
            rc = cand - b + K @ gc
            if sm.mid(rc @ rc) <= sm.mid((1 - 1e-4 * a) * rr):
                break
            a /= 2
            if a < 1e-12:
                return None
        w, H, r, rr = cand, Hc, rc, rc @ rc
    return None


def step(flow: FlowField, theta0: np.ndarray, mu, alpha: float, tol) -> np.ndarray | None:
    """θ1 = θ0 − 2J(m)ᵀu with u = μ∇Φ(P(θ0 + α(θ1 − θ0))) (module docstring), or None if Newton's
    iteration does not converge (or meets a numerically singular matrix: seen at starts of scale
    1e-300, and W_1 = 0 next to layers of norm 1e100). Newton starts at θ0, and the first solve
    in R^d at θ0's w_prod, whose softmax weights are right (starting both from the neighbouring
    steps' results instead was measured slower: 7,547 evaluations against 6,665 at d = 5, L = 4)."""
    bk, shapes = flow.bk, flow.shapes
    Z, keep = flow.rows(theta0)
    arb = bk.arb_kernels
    conv = bk.to_arb if arb else (lambda a: a)
    scale = bk.norm(theta0)
    theta1 = theta0.copy()
    with bk.arb_precision() if arb else contextlib.nullcontext():
        sm = _Softmax(flow, Z)
        w = sm.num(product(unflatten(theta0, shapes)))
        mu_n = sm.num(mu)
        u = mu_n * sm.grad(w)[0]
        prev = None
        for _ in range(MAX_NEWTON):
            flow.evals += 1
            m, x = (theta0 + theta1) / 2, theta0 + alpha * (theta1 - theta0)
            Lm = tuple(conv(W) for W in unflatten(m, shapes))
            Lx = tuple(conv(W) for W in unflatten(x, shapes))
            Jm = product_jacobian(Lm)
            Jx = Jm if alpha == 0.5 else product_jacobian(Lx)
            A = np.eye(len(theta0), dtype=object) + multilinear_hessian(Lm, conv(u) if arb and not sm.arb else u)
            X = bk.solve_columns(A, np.column_stack([conv(theta0 - theta1), Jm.T]))
            if X is None:
                return None
            K = (2 * alpha * conv(mu)) * (Jx @ X[:, 1:])
            b = product(Lx) + alpha * (Jx @ X[:, 0])
            if arb and not sm.arb:
                K, b = bk.from_arb(K), bk.from_arb(b)
            w = _solve_w(sm, K, b, w, tol)
            if w is None:
                return None
            u = mu_n * sm.grad(w)[0]
            delta = X[:, 0] - 2 * (X[:, 1:] @ (conv(u) if arb and not sm.arb else u))
            delta = bk.from_arb(delta) if arb else delta
            theta1 = theta1 + delta
            size = bk.norm(delta)
            if size <= tol * scale or (prev is not None and size > prev / 2 and prev <= math.sqrt(tol) * scale):
                break  # converged, or at the rounding level: stopped contracting
            prev = size
        else:
            return None
    if keep is not None:  # the rows chosen at θ0 must still carry the field at θ1
        _, keep1 = flow.rows(theta1)
        if keep1 is None or not set(keep1.tolist()) <= set(keep.tolist()):
            return None
    return theta1
