"""The paper's Figure 1 (Ji & Telgarsky, ICLR 2019), redrawn from a fixed seed.

(a) "Margin maximization": 2-D separable data, and the decision boundaries {x : ⟨w_prod, x⟩ = 0}
of a 4-layer linear network and of a linear predictor (depth 1) along gradient descent (lighter:
earlier), converging to the max-margin separator {x : ⟨ū, x⟩ = 0} (ū certified by
:func:`aligncheck.data.maxmargin.max_margin`), with the margin band |⟨ū, x⟩| ≤ γ and the support
vectors marked. (b) "Alignment and risk minimization": ‖W_k‖₂/‖W_k‖_F for every layer of the
4-layer network against the risk (log scale, decreasing to the right), going to 1 as R → 0.

The paper does not state its data, widths, initialisation, step or number of iterations; the
choices are :class:`Figure1Setup`'s defaults, and the caption file written beside the figures
names them with the run's final numbers. Conventions: the risk is the MEAN logistic loss over the
n points, R(W) = (1/n) Σ_i ℓ(⟨w_prod, z_i⟩) with z_i = y_i x_i and ‖x_i‖ ≤ 1; gradient descent
with a constant step (η_t = η), both predictors from a small Gaussian start of the same seed.

matplotlib is imported only when drawing, on its Agg canvas (no pyplot, no global backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligncheck.data.maxmargin import MaxMargin, max_margin
from aligncheck.data.planted import planted_problem
from aligncheck.dynamics.gd import check_gd_steps, gradient_descent
from aligncheck.errors import ProblemError
from aligncheck.numerics.losses import get_loss
from aligncheck.numerics.metrics import angle_between
from aligncheck.numerics.network import init_layers, product

NAMES = ("figure1.png", "figure1.svg", "figure1.txt")
PNG_DPI = 150


@dataclass(frozen=True)
class Figure1Setup:
    """What the paper leaves open, fixed. Data: planted_problem(seed, n, d=2, gamma, n_sv,
    sv_rank=2) (support vectors span R², every ‖x_i‖ < 1); networks: hidden ``widths`` (depth
    len(widths) + 1 = 4) and depth 1, Gaussian init (entries N(0, init_scale²/fan-in), seed
    ``seed``, sign with a non-negative mean margin); GD with the constant ``step`` for ``steps``
    steps, ``n_checkpoints`` log-spaced iterates recorded."""

    seed: int = 0
    n: int = 30
    gamma: float = 0.2
    n_sv: int = 3
    widths: tuple[int, ...] = (3, 3, 3)
    init_scale: float = 0.35
    loss: str = "logistic"
    step: float = 1.0
    steps: int = 20_000
    n_checkpoints: int = 200


@dataclass(frozen=True)
class Run:
    """One predictor's GD run at its checkpoints (k of them, in time order): ``t`` (k,) step
    indices, ``w`` (k, 2) w_prod, ``risk`` (k,) R(W(t)) (a mean over points), ``ratios`` (k, L)
    ‖W_j‖₂/‖W_j‖_F per layer j = 1..L, ``shapes`` of W_1..W_L, and the run's stop reason."""

    depth: int
    t: np.ndarray
    w: np.ndarray
    risk: np.ndarray
    ratios: np.ndarray
    shapes: tuple[tuple[int, int], ...]
    stop_reason: str

    def angle_to(self, u: np.ndarray) -> float:
        """Angle (rad) between the final w_prod and u (d,): the angle between the final boundary
        and the line ⟨u, x⟩ = 0, oriented (−u draws the same line but swaps the classes: angle π)."""
        return angle_between(self.w[-1], np.asarray(u, dtype=float))


@dataclass(frozen=True)
class Figure1Data:
    """Everything the figure draws: data X (n, 2), labels y (n,), the certified max margin of
    Z = y x, the 4-layer run ``deep`` and the depth-1 run ``linear``."""

    setup: Figure1Setup
    X: np.ndarray
    y: np.ndarray
    max_margin: MaxMargin
    deep: Run
    linear: Run


def _run(Z: np.ndarray, setup: Figure1Setup, widths: tuple[int, ...]) -> Run:
    loss = get_loss(setup.loss)
    layers0 = init_layers("gaussian", Z.shape[1], widths, setup.seed, scale=setup.init_scale, mean_z=Z.mean(axis=0))
    tr = gradient_descent(Z, loss, layers0, step=setup.step, steps=setup.steps, n_checkpoints=setup.n_checkpoints)
    t = np.array([int(cp.time) for cp in tr.checkpoints])
    ratios = np.array([[np.linalg.norm(W, 2) / np.linalg.norm(W) for W in cp.layers] for cp in tr.checkpoints])
    return Run(len(widths) + 1, t, np.array([product(cp.layers) for cp in tr.checkpoints]), np.exp(tr.gd.log_risk[t]),
               ratios, tuple(W.shape for W in layers0), tr.stop_reason)


def figure1_data(setup: Figure1Setup = Figure1Setup()) -> Figure1Data:
    """Make the data, certify its max margin, and run GD on the 4-layer network and on the linear
    predictor. Raises ProblemError on a bad setup (e.g. steps outside [1, 10^6]) or a failed
    certificate."""
    check_gd_steps(setup.steps)
    p = planted_problem(setup.seed, n=setup.n, d=2, gamma=setup.gamma, n_sv=setup.n_sv, sv_rank=2)
    Z = p.Z
    mm = max_margin(Z)
    return Figure1Data(setup, np.asarray(p.X), np.asarray(p.y), mm, _run(Z, setup, setup.widths), _run(Z, setup, ()))


def snapshot_indices(t: np.ndarray) -> list[int]:
    """Checkpoints drawn in panel (a): the first, the last, and those nearest to 10, 100, 1000, …
    (positions into ``t``, the checkpoint steps (k,), distinct and increasing)."""
    last = int(t[-1])
    targets = [0] + [10**e for e in range(1, 12) if 10**e < last] + [last]
    return sorted({int(np.argmin(np.abs(t - x))) for x in targets})


def out_dir(path: str | Path) -> Path:
    """``path`` as the output directory, created with its parents if missing: ProblemError if it
    exists and is not a directory, OSError if it cannot be created (e.g. a parent is a file)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ProblemError(f"--out {path}: exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _boundary(ax, w: np.ndarray, reach: float, **style) -> None:
    """The line ⟨w, x⟩ = 0 across the panel."""
    p = np.array([-w[1], w[0]]) / np.linalg.norm(w)
    ax.plot([-reach * p[0], reach * p[0]], [-reach * p[1], reach * p[1]], **style)


def _panel_a(ax, data: Figure1Data) -> None:
    from matplotlib import colormaps

    mm, X, y = data.max_margin, data.X, data.y
    u, g, lim = mm.u_bar, mm.gamma, 1.05
    n_vec = np.array([-u[1], u[0]])
    s = 2 * lim
    band = np.array([g * u + s * n_vec, g * u - s * n_vec, -g * u - s * n_vec, -g * u + s * n_vec])
    ax.fill(band[:, 0], band[:, 1], color="0.85", zorder=0, label=f"margin band |ū·x| ≤ γ = {g:.3g} (dashed: ū·x = ±γ)")
    for sign in (1, -1):
        ax.plot(*zip(sign * g * u - s * n_vec, sign * g * u + s * n_vec), color="0.4", lw=0.8, ls="--", zorder=1)
    # ū's line wide and translucent underneath, so the final boundaries (on it) stay visible
    _boundary(ax, u, s, color="black", lw=7, alpha=0.22, solid_capstyle="butt", zorder=1, label="max-margin separator ū·x = 0 (certified ū)")
    for run, cmap, final_ls, name in ((data.linear, "Greens", "-", "linear predictor (depth 1)"),
                                      (data.deep, "Oranges", (0, (4, 2)), f"{data.deep.depth}-layer network")):
        idx = snapshot_indices(run.t)
        shades = colormaps[cmap](np.linspace(0.3, 1.0, len(idx)))
        for j, (i, c) in enumerate(zip(idx, shades)):
            last = j == len(idx) - 1
            _boundary(ax, run.w[i], s, color=c, lw=1.6 if last else 1.0, ls=final_ls if last else "-", zorder=3 if last else 2,
                      label=f"{name}, t = " + ", ".join(f"{run.t[k]:,}" for k in idx) + " (light → dark)" if last else None)
    pos, neg = y > 0, y < 0
    ax.scatter(X[pos, 0], X[pos, 1], s=22, color="tab:blue", marker="o", zorder=4, label="y = +1")
    ax.scatter(X[neg, 0], X[neg, 1], s=26, color="tab:red", marker="s", zorder=4, label="y = −1")
    sv = X[mm.support]
    ax.scatter(sv[:, 0], sv[:, 1], s=150, facecolors="none", edgecolors="black", lw=1.2, zorder=5, label="support vectors")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title("(a) Margin maximization")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7.5, frameon=False, ncol=2)


def _panel_b(ax, data: Figure1Data) -> None:
    from matplotlib import colormaps

    run = data.deep
    colours = colormaps["viridis"](np.linspace(0.0, 0.85, len(run.shapes)))  # not panel (a)'s greens and oranges
    for j, (shape, c) in enumerate(zip(run.shapes, colours)):
        note = " (a row: ≡ 1)" if shape[0] == 1 else ""
        ax.plot(run.risk, run.ratios[:, j], color=c, lw=1.5, marker="o", ms=2.5, label=f"W_{j + 1} ({shape[0]}×{shape[1]}){note}")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.invert_xaxis()  # the risk decreases to the right, as in the paper
    ax.set_xlabel("risk R(W(t)) (mean logistic loss; decreasing →)")
    ax.set_ylabel("‖W_k‖₂ / ‖W_k‖_F")
    ax.set_title(f"(b) Alignment and risk minimization ({run.depth}-layer network)")
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="lower right", fontsize=8)


def draw_figure1(data: Figure1Data, out: Path) -> tuple[Path, Path]:
    """Write both panels side by side to ``out``/figure1.png (PNG_DPI) and ``out``/figure1.svg."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 6.4))
    FigureCanvasAgg(fig)
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.15]})
    _panel_a(ax_a, data)
    _panel_b(ax_b, data)
    s = data.setup
    fig.suptitle(f"Figure 1 (Ji & Telgarsky, ICLR 2019), redrawn: gradient descent, constant step η = {s.step:g}, "
                 f"{s.steps:,} steps, {s.loss} loss, planted 2-D data (n = {s.n}, seed {s.seed})", fontsize=10)
    fig.tight_layout()
    png, svg = out / NAMES[0], out / NAMES[1]
    fig.savefig(png, dpi=PNG_DPI, bbox_inches="tight")
    with matplotlib.rc_context({"svg.hashsalt": "aligncheck-figure1"}):  # the same SVG bytes on every run
        fig.savefig(svg, metadata={"Date": None}, bbox_inches="tight")
    return png, svg


def caption(data: Figure1Data) -> str:
    """The caption file's text: the choices and the run's final numbers (none written by hand)."""
    s, mm, deep, lin = data.setup, data.max_margin, data.deep, data.linear
    u = mm.u_bar
    ratios = ", ".join(f"W_{j + 1} {r:.6f}" for j, r in enumerate(deep.ratios[-1]))
    start = ", ".join(f"W_{j + 1} {r:.3f}" for j, r in enumerate(deep.ratios[0]))
    widths = ", ".join(map(str, s.widths))
    shapes = ", ".join(f"{a}×{b}" for a, b in deep.shapes)
    return "\n".join([
        "Figure 1 of Ji & Telgarsky, 'Gradient descent aligns the layers of deep linear networks' (ICLR 2019), redrawn by `aligncheck figure1`.",
        "",
        (f"data: planted_problem(seed={s.seed}, n={s.n}, d=2, gamma={s.gamma:g}, n_sv={s.n_sv}, sv_rank=2) "
         f"(aligncheck.data.planted): {int(np.sum(data.y > 0))} points y = +1, {int(np.sum(data.y < 0))} points y = -1, "
         f"max ||x_i|| = {np.max(np.linalg.norm(data.X, axis=1)):.4f} <= 1."),
        (f"max margin (aligncheck.data.maxmargin.max_margin, exact KKT certificate: {mm.certificate.ok}): "
         f"u_bar = ({u[0]:.6f}, {u[1]:.6f}), gamma = {mm.gamma:.6f}, support vectors: rows {', '.join(map(str, mm.support))}."),
        (f"networks: depth {deep.depth} (hidden widths {widths}; W_k shapes {shapes}) and depth 1 (a linear predictor w, 1×2); "
         f"no bias; w_prod = (W_L ... W_1)^T."),
        (f"init: Gaussian, entries N(0, {s.init_scale:g}^2/fan-in), seed {s.seed}, sign of W_L chosen so the mean margin is >= 0 "
         f"(aligncheck.numerics.network.init_layers); start ratios ||W_k||_2/||W_k||_F: {start}."),
        f"loss: {s.loss}; risk R(W) = (1/n) sum_i loss(<w_prod, y_i x_i>) (a mean over the points).",
        (f"training: gradient descent with a CONSTANT step eta = {s.step:g} (the paper draws gradient descent and does not state its step), "
         f"{s.steps:,} steps for each predictor, {s.n_checkpoints} log-spaced checkpoints; "
         f"stopped by: {deep.stop_reason} (depth {deep.depth}), {lin.stop_reason} (depth 1)."),
        (f"panel (a): boundaries <w_prod(t), x> = 0 at t = {', '.join(f'{deep.t[i]:,}' for i in snapshot_indices(deep.t))} "
         f"(lighter: earlier; the final ones green solid, depth 1, and orange dashed, depth {deep.depth}); wide grey line: <u_bar, x> = 0; "
         "grey band and dashed lines: |<u_bar, x>| <= gamma; circled: support vectors."),
        (f"panel (b): ||W_k||_2/||W_k||_F of the depth-{deep.depth} network at every checkpoint against the risk "
         f"(log scale, inverted: the risk decreases to the right)."),
        "",
        f"final risk: depth {deep.depth} {deep.risk[-1]:.4e}, depth 1 {lin.risk[-1]:.4e}.",
        (f"final angle of the boundary to u_bar (angle between w_prod and u_bar): depth {deep.depth} {deep.angle_to(u):.3e} rad, "
         f"depth 1 {lin.angle_to(u):.3e} rad."),
        f"final ratios ||W_k||_2/||W_k||_F (depth {deep.depth}): {ratios}.",
        "",
    ])


@dataclass(frozen=True)
class Figure1Files:
    """The files written (PNG, SVG, caption) and the data they show."""

    png: Path
    svg: Path
    caption: Path
    data: Figure1Data


def write_figure1(out: str | Path, setup: Figure1Setup = Figure1Setup()) -> Figure1Files:
    """Run :func:`figure1_data` and write figure1.png, figure1.svg and figure1.txt (the caption)
    into the directory ``out`` (see :func:`out_dir`). Bad input is refused before anything runs."""
    check_gd_steps(setup.steps)  # before anything is created
    out = out_dir(out)
    data = figure1_data(setup)
    png, svg = draw_figure1(data, out)
    txt = out / NAMES[2]
    txt.write_text(caption(data), encoding="utf-8")
    return Figure1Files(png, svg, txt, data)


def final_summary(data: Figure1Data) -> str:
    """One line: the final angles to ū and the smallest final layer ratio."""
    u = data.max_margin.u_bar
    return (f"final angle to ū: depth {data.deep.depth} {data.deep.angle_to(u):.2e} rad, depth 1 {data.linear.angle_to(u):.2e} rad; "
            f"min final ‖W_k‖₂/‖W_k‖_F {float(np.min(data.deep.ratios[-1])):.4f}; risk {data.deep.risk[-1]:.2e}")


__all__ = ["Figure1Data", "Figure1Files", "Figure1Setup", "Run", "caption", "draw_figure1", "figure1_data", "final_summary",
           "out_dir", "snapshot_indices", "write_figure1"]
