"""The README's Python API example, run as it stands there (on a planted problem saved as data.npz)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import aligncheck as ac
from aligncheck.data.planted import planted_problem

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    p = planted_problem(3, n=12, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    np.savez(tmp_path / "data.npz", X=p.X, y=p.y)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_example(), "README.md", "exec"), namespace)
    verdicts = {v.claim: v for v in namespace["verdicts"]}
    # The hand-written GD loop is judged as GD: its one-step identity holds to rounding, and the
    # paper-rule claims do not apply to a constant step.
    assert verdicts["gd.balancedness_identity"].status == ac.Status.HOLDS
    assert verdicts["gd.descent"].status == ac.Status.NOT_APPLICABLE
    run = {v.claim: v for v in namespace["outcome"].verdicts}
    assert run["gf.risk_to_zero"].status == ac.Status.HOLDS
    out = capsys.readouterr().out
    assert "gf.risk_to_zero holds" in out and "soudry.offset" in out


def test_a_broken_update_is_caught_through_the_api():
    # The same loop with the second layer's update off by a factor 2: the identity fails.
    p = planted_problem(3, n=12, d=3, gamma=0.3, n_sv=3, sv_rank=3)
    problem = ac.Problem.from_arrays(p.X, p.y)
    W = [np.zeros((3, 3)), np.ones((1, 3)) / 3]
    Z, iterates = problem.Z, []
    for _ in range(50):
        iterates.append([A.copy() for A in W])
        w = (W[1] @ W[0])[0]
        q = np.exp(-(Z @ w)) / len(Z)
        g = -(q @ Z)
        W = [W[0] - 0.5 * np.outer(W[1][0], g), W[1] - 1.0 * (W[0] @ g)[None, :]]
    v = {x.claim: x for x in ac.check(problem, ac.trajectory(problem, iterates, loss="exp", step=0.5))}
    assert v["gd.balancedness_identity"].status == ac.Status.VIOLATED


def test_the_readme_links_stay_inside_the_repository():
    # A clone has only the repository: every relative link of the README names a file in it.
    root = README.parent
    targets = re.findall(r"\]\((?!https?:|#)([^)#\s]+)", README.read_text())
    assert targets, "the README links to files (docs/claims.md at least)"
    missing = [t for t in targets if not (root / t).resolve().is_relative_to(root) or not (root / t).exists()]
    assert missing == []
