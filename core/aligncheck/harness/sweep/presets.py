"""Built-in sweep presets (``aligncheck sweep NAME``), as TOML documents in the SPEC format of
aligncheck.harness.sweep.spec. ``aligncheck sweep --show NAME`` prints one, as a start for one's own."""

from __future__ import annotations

PRESETS: dict[str, str] = {
    # The throughput benchmark's preset: small problems, every gradient-flow claim.
    "default": """\
name = "default"
seeds = 4
[grid]
d = [2, 4, 6]
n = [10, 50]
gamma = [0.05, 0.1, 0.25, 0.5]
depth = [1, 2, 3, 4]
init = ["gaussian", "balanced"]
init_scale = [0.1, 1.0]
loss = ["exp", "logistic"]
""",
    # Where the max-margin claims stop being judgeable: margin x depth.
    "margin-depth": """\
name = "margin-depth"
seeds = 4
claims = ["gf.max_margin_*", "gf.margin_corollary", "gf.risk_to_zero", "gf.rank_one"]
[grid]
d = 3
n = 12
gamma = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
depth = [1, 2, 3, 4, 6]
""",
    # Initialisation scale x width.
    "scale-width": """\
name = "scale-width"
seeds = 4
claims = ["gf.max_margin_*", "gf.margin_corollary", "gf.rank_one", "gf.adjacent_alignment"]
[grid]
d = 3
n = 12
depth = 3
width = [1, 2, 3, 6]
init_scale = [0.01, 0.1, 1.0, 10.0, 100.0]
""",
    # Support vectors that do not span R^d: the conjecture's territory, and where the theorem stops.
    "degenerate": """\
name = "degenerate"
seeds = 4
claims = ["gf.max_margin_product", "conj.max_margin_degenerate_sv"]
[grid]
d = [3, 5]
n = 12
sv = ["full", "data", "partial"]
gamma = [0.05, 0.25]
depth = [1, 2, 3]
""",
    # Counterexample hunts: a search on the conjecture's measured value (aligncheck.harness.sweep.hunt).
    "hunt-degenerate": """\
name = "hunt-degenerate"
mode = "hunt"
budget = "30m"
claims = ["conj.max_margin_degenerate_sv"]
[hunt]
target = "conj.max_margin_degenerate_sv"
[grid]
d = [2, 3, 4, 5, 6]
n = [4, 6, 8, 12, 20, 40]
sv = ["data", "partial"]
sv_rank = [1, 2, 3, 4, 5]
n_sv = [1, 2, 3, 4, 5, 6, 8]
gamma = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8]
depth = [1, 2, 3, 4]
init = ["gaussian", "balanced", "w1zero"]
init_scale = [0.01, 0.1, 1.0, 3.0]
loss = ["exp", "logistic"]
""",
    "hunt-smoothed": """\
name = "hunt-smoothed"
mode = "hunt"
budget = "30m"
claims = ["conj.smoothed_margin_monotone"]
[hunt]
target = "conj.smoothed_margin_monotone"
[grid]
d = [1, 2, 3, 4, 6]
n = [2, 4, 8, 16, 32, 50]
sv = ["full", "data", "partial"]
gamma = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8]
depth = [1, 2, 3, 4, 5]
init = ["gaussian", "balanced", "w1zero"]
init_scale = [0.01, 0.1, 1.0, 3.0, 10.0]
loss = ["exp", "logistic"]
""",
}
