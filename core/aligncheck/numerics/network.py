"""Deep linear networks: layer shapes, initialisations, the product and its layer gradients.

Conventions (claims.md): W = (W_1, ..., W_L), W_k of shape (d_k, d_{k−1}) with d_0 = d and
d_L = 1; the predictor is w_prod = (W_L ⋯ W_1)^T, shape (d,). Layers are a tuple of 2-D
numpy arrays (float64 or object arrays of a high-precision backend).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aligncheck.errors import ProblemError

Layers = tuple[np.ndarray, ...]

INITS = ("gaussian", "balanced", "w1zero")
CONTROL_INITS = ("zero",)  # W ≡ 0: a critical point for L ≥ 2 (control.zero_init)
# Every network's parameter count N is capped, and so is N·(d + 1): gradient flow's Jacobian is
# dense (N×N) only up to aligncheck.dynamics.integrate.DENSE_JACOBIAN_MAX parameters and above that
# of rank d + 1, held as a few N×(d + 1) arrays (aligncheck.dynamics.flow.FlowField.jac_low_rank):
# at MAX_JACOBIAN_ENTRIES = 3e7 each is 240 MB. The parts that stay dense refuse larger networks
# themselves (gd.smoothness's search, the high-precision late phase). Checked (check_network_size)
# before a run allocates its layers: --widths 10**9 must fail in one line, not in memory.
MAX_PARAMETERS = 100_000
MAX_JACOBIAN_ENTRIES = 30_000_000


def layer_shapes(d: int, widths: Sequence[int]) -> list[tuple[int, int]]:
    """Shapes (d_k, d_{k−1}) for k = 1..L, where ``widths`` = (d_1, ..., d_{L−1}) and L = len(widths) + 1."""
    if any(isinstance(w, bool) or int(w) != w or w < 1 for w in [d, *widths]):
        raise ProblemError(f"layer widths must be positive integers, got d={d}, widths={list(widths)}")
    dims = [int(d), *(int(w) for w in widths), 1]
    return [(dims[k + 1], dims[k]) for k in range(len(dims) - 1)]


def parameter_count(shapes: Sequence[tuple[int, int]]) -> int:
    """N, the number of parameters of layers of these shapes."""
    return sum(r * c for r, c in shapes)


def check_network_size(d: int, widths: Sequence[int]) -> None:
    """ProblemError unless a network on R^d with these hidden widths has at most MAX_PARAMETERS
    parameters N and N·(d + 1) ≤ MAX_JACOBIAN_ENTRIES (computed from the shapes, before anything
    is allocated)."""
    size = parameter_count(layer_shapes(d, widths))
    if size > MAX_PARAMETERS:
        raise ProblemError(f"the network would have {size} parameters; at most {MAX_PARAMETERS} are supported: use smaller widths or depth")
    if size * (d + 1) > MAX_JACOBIAN_ENTRIES:
        raise ProblemError(f"the network would have {size} parameters on d = {d} features: gradient flow's Jacobian factors "
                           f"(parameters × (d + 1) = {size * (d + 1)}) are capped at {MAX_JACOBIAN_ENTRIES}: use smaller widths or depth")


def product(layers: Layers) -> np.ndarray:
    """w_prod = (W_L ⋯ W_1)^T, shape (d,)."""
    a = layers[-1][0]
    for W in reversed(layers[:-1]):
        a = a @ W
    return a.copy() if len(layers) == 1 else a  # never a view into the layers (their memory may be reused)


def layer_gradients(layers: Layers, g: np.ndarray) -> list[np.ndarray]:
    """∂f/∂W_k for f(W) = F(w_prod), given g = ∇F(w_prod) of shape (d,).

    The exact formula of claims.md, ∂f/∂W_k = W_{k+1}^T ⋯ W_L^T g^T W_1^T ⋯ W_{k−1}^T, is the
    rank-one matrix a_k b_k^T with a_k = (W_L ⋯ W_{k+1})^T (shape d_k) and b_k = W_{k−1} ⋯ W_1 g
    (shape d_{k−1}); both are built by one pass over the layers.
    """
    b = [g]
    for W in layers[:-1]:
        b.append(W @ b[-1])
    # a[:, None] * b[None, :] is what np.outer computes (the same bits), without its overhead
    return [a[:, None] * bk[None, :] for a, bk in zip(left_vectors(layers), b)]


def left_vectors(layers: Layers) -> list[np.ndarray]:
    """a_k = (W_L ⋯ W_{k+1})^T for k = 1..L (shape d_k; a_L = [1]), at list position k−1."""
    L = len(layers)
    a = [None] * L
    a[L - 1] = np.ones(1, dtype=layers[-1].dtype)
    for k in range(L - 2, -1, -1):
        a[k] = layers[k + 1].T @ a[k + 1]
    return a


def flatten(layers: Layers) -> np.ndarray:
    """All layers as one vector (row-major, W_1 first)."""
    return np.concatenate([W.ravel() for W in layers])


def unflatten(theta: np.ndarray, shapes: Sequence[tuple[int, int]]) -> Layers:
    """Inverse of :func:`flatten` for the given shapes (views into theta)."""
    out, i = [], 0
    for r, c in shapes:
        out.append(theta[i : i + r * c].reshape(r, c))
        i += r * c
    return tuple(out)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def init_layers(
    kind: str,
    d: int,
    widths: Sequence[int],
    seed: int,
    *,
    scale: float = 1.0,
    mean_z: np.ndarray | None = None,
) -> Layers:
    """Seeded initial layers.

    - ``gaussian``: independent entries N(0, scale²/d_{k−1}) (generally unbalanced, D > 0).
    - ``balanced``: W_k = c·u_k u_{k−1}^T with random unit u_k (u_L = 1), c = scale, so every
      Δ_k = W_{k+1}^T W_{k+1} − W_k W_k^T = 0 and D = 0: every layer is and stays rank one.
    - ``w1zero``: W_1 = 0, the other layers Gaussian as above; R(W(0)) = ℓ(0) exactly (A1.2 with
      equality) and ∇R ≠ 0 whenever W_L ⋯ W_2 ≠ 0 and mean z ≠ 0.
    - ``zero``: W ≡ 0, the negative control control.zero_init (a critical point for L ≥ 2).

    If ``mean_z`` (the mean of the z_i, shape (d,)) is given, the sign of W_L is chosen so that
    ⟨w_prod, mean_z⟩ ≥ 0, i.e. the mean margin starts non-negative; this is part of the
    initialisation's definition (a random sign would make A1.2 fail half the time).
    """
    if kind not in INITS + CONTROL_INITS:
        raise ProblemError(f"unknown initialisation {kind!r}: choose one of {', '.join(INITS + CONTROL_INITS)}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ProblemError(f"the initialisation seed must be a non-negative integer, got {seed}")
    if not (np.isfinite(scale) and scale > 0):
        raise ProblemError(f"initialisation scale must be a positive finite number, got {scale}")
    shapes = layer_shapes(d, widths)
    rng = np.random.default_rng(seed)
    if kind == "zero":
        return tuple(np.zeros(shape) for shape in shapes)
    if kind == "balanced":
        us = [_unit(rng, r) for r, _ in shapes]
        us[-1] = np.ones(1)
        prev = _unit(rng, d)
        layers = []
        for u in us:
            layers.append(scale * np.outer(u, prev))
            prev = u
    else:
        # Entries beyond float64's range (scale near 1.8e308) become inf; the caller refuses them
        # (aligncheck.dynamics.float_range.check_start), so the overflow is not reported here a second time.
        with np.errstate(over="ignore"):
            layers = [rng.standard_normal((r, c)) * (scale / np.sqrt(c)) for r, c in shapes]
        if kind == "w1zero":
            layers[0] = np.zeros(shapes[0])
    if mean_z is not None and _mean_margin_sign(tuple(layers), mean_z) < 0:
        layers[-1] = -layers[-1]
    return tuple(layers)


def _mean_margin_sign(layers: Layers, mean_z: np.ndarray) -> float:
    """The sign of ⟨w_prod, mean_z⟩, also where w_prod itself over- or underflows (huge or tiny
    init scales): then from the layers divided by their largest |entry| (the sign is invariant
    under positive scaling of each layer)."""
    with np.errstate(over="ignore", invalid="ignore"):
        plain = float(product(layers) @ mean_z)
    if plain != 0.0 and np.isfinite(plain):
        return float(np.sign(plain))
    tops = [float(np.max(np.abs(W))) for W in layers]
    if not all(np.isfinite(tops)):
        return 0.0  # an infinite entry: refused by the caller anyway
    unit = tuple(W / t if t > 0 else W for W, t in zip(layers, tops))
    return float(np.sign(product(unit) @ mean_z))
