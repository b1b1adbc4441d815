"""Figure 1 (aligncheck figure1): the figure's data, not its pixels; its files; the command line's contract.

The data are checked at TEST_STEPS gradient-descent steps (about 0.6 s of GD; drawing adds ~2 s),
not at the command's default (Figure1Setup.steps), whose final numbers are in docs/figure1.txt.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from aligncheck.harness import cli
from aligncheck.harness.figure1 import Figure1Data, Figure1Setup, snapshot_indices, write_figure1
from aligncheck.numerics.metrics import angle_between

TEST_STEPS = 2_000

# Both final boundaries within ANGLE_TOL of ū (the angle between the final w_prod and the certified ū).
# Why 0.02 rad: GD on the logistic loss approaches ū only like 1/log t (Soudry et al. 2018 at depth 1;
# Ji & Telgarsky's theorems for depth L), so after 2,000 steps the linear predictor is still 4.1e-3 rad
# away (the 4-layer network 4.5e-4); 0.02 rad leaves ~5x room for the slower one. And 0.02 rad is
# tight enough to tell ū from other separators: every direction within π/2 − max_i ∠(ū, z_i) =
# 0.22 rad of ū separates these data, at least CONE_FACTOR = 10 times the tolerance
# (test_tolerance_tells_max_margin_from_other_separators), so a boundary within the tolerance is
# the max-margin one, not just any separating line.
ANGLE_TOL = 0.02
CONE_FACTOR = 10

# Every non-trivial layer's final ‖W_k‖₂/‖W_k‖_F at least RATIO_MIN. Why 0.95: above every start
# ratio of this seed (0.77 to 0.93 for W_1..W_3; W_4 is a row, ≡ 1), so the test fails unless GD
# aligned the layers; measured at 2,000 steps: 0.999, 0.977, 0.994. (For gradient flow, Lemma 2
# only guarantees sqrt(1 − D/‖W_k‖_F²) ≈ 0.90 here: the rank gap ‖W_k‖_F² − ‖W_k‖₂² ≤ D = 1.31.)
RATIO_MIN = 0.95

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    return write_figure1(tmp_path_factory.mktemp("figure1"), replace(Figure1Setup(), steps=TEST_STEPS))


def final_angles(data: Figure1Data, u: np.ndarray) -> dict[str, float]:
    return {f"depth {run.depth}": run.angle_to(u) for run in (data.deep, data.linear)}


def assert_boundaries_agree(data: Figure1Data, u: np.ndarray) -> None:
    angles = final_angles(data, u)
    assert all(a <= ANGLE_TOL for a in angles.values()), f"final boundaries off ū by {angles} rad (tolerance {ANGLE_TOL})"


def rotated(u: np.ndarray, theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]]) @ u


def test_final_boundaries_agree_with_u_bar(figure):
    data = figure.data
    assert data.max_margin.certificate.ok
    assert data.deep.depth == 4 and data.linear.depth == 1
    assert data.deep.stop_reason == data.linear.stop_reason == "step budget"
    assert data.deep.t[-1] == data.linear.t[-1] == TEST_STEPS
    assert_boundaries_agree(data, data.max_margin.u_bar)


def test_tolerance_tells_max_margin_from_other_separators(figure):
    """The test can fail: a ū rotated by 0.05 rad (still a separator of the data) is rejected."""
    data = figure.data
    u, Z = data.max_margin.u_bar, data.y[:, None] * data.X
    cone = np.pi / 2 - max(angle_between(z, u) for z in Z)  # every direction within `cone` of ū separates
    assert ANGLE_TOL * CONE_FACTOR <= cone
    wrong = rotated(u, 0.05)
    assert np.all(Z @ wrong > 0)  # a separator, but not the max-margin one
    with pytest.raises(AssertionError, match="final boundaries off"):
        assert_boundaries_agree(data, wrong)


def test_layer_ratios_end_above_the_stated_value(figure):
    deep = figure.data.deep
    end, start = deep.ratios[-1], deep.ratios[0]
    assert np.all(end >= RATIO_MIN), end
    assert all(s < RATIO_MIN for s, shape in zip(start, deep.shapes) if shape[0] > 1), start  # the value is not met at the start
    assert deep.risk[-1] < 1e-4 < deep.risk[0]  # panel (b) spans the risk going down


def test_snapshots_are_increasing_and_end_at_the_last_step(figure):
    for run in (figure.data.deep, figure.data.linear):
        idx = snapshot_indices(run.t)
        assert idx[0] == 0 and idx[-1] == len(run.t) - 1 and idx == sorted(set(idx)) and len(idx) >= 4


def test_files_exist_and_are_png_svg_and_caption(figure):
    assert figure.png.read_bytes()[:8] == PNG_MAGIC
    svg = figure.svg.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    text = figure.caption.read_text()
    u = figure.data.max_margin.u_bar
    for number in (f"{figure.data.deep.angle_to(u):.3e} rad", f"{figure.data.linear.angle_to(u):.3e} rad",
                   f"W_2 {figure.data.deep.ratios[-1][1]:.6f}", f"{TEST_STEPS:,} steps", "CONSTANT step eta = 1"):
        assert number in text, number


def test_cli_writes_the_figure(capsys, tmp_path):
    out = tmp_path / "new" / "dir"
    rc = cli.main(["figure1", "--out", str(out), "--steps", "50"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    for name in ("figure1.png", "figure1.svg", "figure1.txt"):
        assert (out / name).stat().st_size > 0
        assert str(out / name) in stdout
    assert "final angle to ū" in stdout


@pytest.mark.parametrize("args", [["--out", "FILE"], ["--out", "FILE/sub"], ["--steps", "0"], ["--steps", "1000001"]])
def test_cli_bad_input_is_one_line_exit_2(capsys, tmp_path, args):
    (tmp_path / "FILE").write_text("a regular file")
    args = [str(tmp_path / a) if a.startswith("FILE") else a for a in args]
    rc = cli.main(["figure1", *args, *([] if "--out" in args else ["--out", str(tmp_path / "o")])])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert out == "" and "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("aligncheck: error: "), err
    assert not (tmp_path / "o").exists()  # nothing written on a refusal


def test_cli_entry_point_bad_out_in_a_subprocess(tmp_path):
    """The installed entry point's contract, end to end: exit 2, one stderr line, no traceback."""
    (tmp_path / "FILE").write_text("a regular file")
    res = subprocess.run([sys.executable, "-m", "aligncheck.harness.cli", "figure1", "--out", str(tmp_path / "FILE")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr.startswith("aligncheck: error: ") and len(res.stderr.splitlines()) == 1, res.stderr
