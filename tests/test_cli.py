"""The command line: known max-margin answers, one-line bad-input errors, and checked runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aligncheck.harness.cli as cli
from aligncheck.claims.registry import REGISTRY
from aligncheck.data.planted import planted_problem
from aligncheck.claims.verdicts import Status, Verdict

ROOT = Path(__file__).resolve().parents[1]
KNOWN = 1e-9  # known-answer tolerance of the brief
STATUSES = {s.value for s in Status}
GF_IDS = [c.id for c in REGISTRY.values() if "gf" in c.methods]
GD_IDS = [c.id for c in REGISTRY.values() if "gd" in c.methods]


# ---------------------------------------------------------------------------
# helpers


def call(capsys, *args: object) -> tuple[int, str, str]:
    """main() in-process on args; returns (exit status, stdout, stderr)."""
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """`python -m aligncheck.harness.cli args` in a subprocess, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "aligncheck.harness.cli", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def assert_bad_input(rc: int, out: str, err: str) -> None:
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("aligncheck: error: "), err
    assert len(lines[0]) > len("aligncheck: error: "), err
    assert out == ""


def save_npz(path: Path, X, y) -> Path:
    np.savez(path, X=np.asarray(X, dtype=float), y=np.asarray(y, dtype=float))
    return path


def max_margin_json(capsys, path: Path) -> dict:
    rc, out, err = call(capsys, "maxmargin", path, "--json")
    assert rc == 0 and err == "", err
    doc = json.loads(out)  # stdout is exactly one JSON document
    assert list(doc) == ["max_margin"]
    mm = doc["max_margin"]
    assert set(mm) == {"u_bar", "gamma", "support", "sv_span_full", "sv_span_data"}
    return mm


# ---------------------------------------------------------------------------
# maxmargin: hand-computed answers


def test_maxmargin_square(capsys, tmp_path):
    # z = (1,0), (0,1), (1,0), (0,1): ū = (1,1)/√2, γ = 1/√2, every row a support vector
    path = save_npz(tmp_path / "square.npz", [[1, 0], [0, 1], [-1, 0], [0, -1]], [1, 1, -1, -1])
    mm = max_margin_json(capsys, path)
    np.testing.assert_allclose(mm["u_bar"], [2**-0.5, 2**-0.5], rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - 2**-0.5) <= KNOWN
    assert mm["support"] == [0, 1, 2, 3]
    assert mm["sv_span_full"] is True and mm["sv_span_data"] is True


def soudry_data() -> tuple[np.ndarray, np.ndarray, float]:
    """Soudry et al. 2018: support vectors (0.5,1.5), (1.5,0.5) (y=+1) and their negatives (y=−1),
    plus points beyond the margin; rescaled by max‖x_i‖ so that ‖x_i‖ ≤ 1. Before scaling
    ŵ = (1,1)/2 (⟨ŵ,z⟩ = 1 on the support vectors, α = 1/4 each) so ū = (1,1)/√2, γ = √2."""
    X = np.array([
        [0.5, 1.5], [1.5, 0.5], [-0.5, -1.5], [-1.5, -0.5],  # support vectors
        [2.0, 3.0], [-2.5, -1.0], [3.0, -0.5], [-1.0, -4.0],  # ⟨ŵ, z⟩ = 2.5, 1.75, 1.25, 2.5
    ])
    y = np.array([1, 1, -1, -1, 1, -1, 1, -1], dtype=float)
    factor = float(np.max(np.linalg.norm(X, axis=1)))  # √17
    return X / factor, y, factor


def test_maxmargin_soudry_rescaled(capsys, tmp_path):
    X, y, factor = soudry_data()
    assert np.max(np.linalg.norm(X, axis=1)) <= 1.0 + 1e-15
    mm = max_margin_json(capsys, save_npz(tmp_path / "soudry.npz", X, y))
    np.testing.assert_allclose(mm["u_bar"], [2**-0.5, 2**-0.5], rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - np.sqrt(2.0) / factor) <= KNOWN
    assert mm["support"] == [0, 1, 2, 3]
    assert mm["sv_span_full"] is True and mm["sv_span_data"] is True


def test_maxmargin_collinear_duplicates_in_r3(capsys, tmp_path):
    # every z_i is a positive multiple of (1,2,2): ū = (1,2,2)/3 and γ = the shortest, 0.75;
    # rows 0 and 1 are the same point (both support vectors). Rank 1 < d = 3: A2.7 fails,
    # its relaxed form (span SV = span data) holds.
    X = [[0.25, 0.5, 0.5], [0.25, 0.5, 0.5], [-0.5, -1.0, -1.0], [0.75, 1.5, 1.5]]
    mm = max_margin_json(capsys, save_npz(tmp_path / "collinear.npz", X, [1, 1, -1, 1]))
    np.testing.assert_allclose(mm["u_bar"], [1 / 3, 2 / 3, 2 / 3], rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - 0.75) <= KNOWN
    assert mm["support"] == [0, 1]
    assert mm["sv_span_full"] is False and mm["sv_span_data"] is True


def test_maxmargin_support_spans_less_than_data(capsys, tmp_path):
    # z = (1,0) and (2,1): ŵ = (1,0) is feasible (⟨ŵ,(2,1)⟩ = 2) and ŵ = 1·z_0, so ū = (1,0),
    # γ = 1, one support vector: it spans neither R^2 nor the span of the data (R^2).
    mm = max_margin_json(capsys, save_npz(tmp_path / "thin.npz", [[1, 0], [-2, -1]], [1, -1]))
    np.testing.assert_allclose(mm["u_bar"], [1.0, 0.0], rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - 1.0) <= KNOWN
    assert mm["support"] == [0]
    assert mm["sv_span_full"] is False and mm["sv_span_data"] is False


def test_maxmargin_json_full_precision(capsys, tmp_path):
    # json of Python floats is repr: the exact float64 round-trips
    X, y, _ = soudry_data()
    path = save_npz(tmp_path / "soudry.npz", X, y)
    mm = max_margin_json(capsys, path)
    from aligncheck.data.problem import load_problem

    ref = load_problem(path).max_margin
    assert mm["gamma"] == ref.gamma
    assert mm["u_bar"] == ref.u_bar.tolist()


def test_maxmargin_human_output(capsys, tmp_path):
    path = save_npz(tmp_path / "square.npz", [[1, 0], [0, 1], [-1, 0], [0, -1]], [1, 1, -1, -1])
    rc, out, err = call(capsys, "maxmargin", path)
    assert rc == 0 and err == ""
    assert "0.7071067811865475" in out  # ū and γ at full precision
    assert "0, 1, 2, 3" in out
    assert "Assumption 2.7" in out and "holds" in out


# ---------------------------------------------------------------------------
# csv input


@pytest.mark.parametrize("header", [True, False])
def test_csv_input(capsys, tmp_path, header):
    X, y, factor = soudry_data()
    lines = (["x1,x2,label"] if header else []) + [
        f"{a!r},{b!r},{int(c)}" for (a, b), c in zip(X.tolist(), y.tolist())
    ]
    path = tmp_path / "soudry.csv"
    path.write_text("\n".join(lines) + "\n")
    mm = max_margin_json(capsys, path)
    np.testing.assert_allclose(mm["u_bar"], [2**-0.5, 2**-0.5], rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - np.sqrt(2.0) / factor) <= KNOWN
    assert mm["support"] == [0, 1, 2, 3]


def test_csv_check_runs(capsys, tmp_path):
    X, y, _ = soudry_data()
    path = tmp_path / "soudry.csv"
    path.write_text("a,b,y\n" + "".join(f"{a!r},{b!r},{c:g}\n" for (a, b), c in zip(X.tolist(), y.tolist())))
    rc, out, err = call(capsys, "check", path, "--depth", 2, "--loss", "logistic", "--method", "gd",
                        "--step", 0.1, "--steps", 50, "--json")
    assert rc == 0, err
    assert [c["id"] for c in json.loads(out)["claims"]] == GD_IDS


# ---------------------------------------------------------------------------
# bad input: exit 2, one line on stderr, no traceback


def _bad_data_files(tmp: Path) -> dict[str, Path]:
    files = {
        "missing": tmp / "missing.npz",
        "extension": tmp / "data.txt",
        "directory": tmp / "dir.npz",
        "non_separable": save_npz(tmp / "xor.npz", [[1, 1], [-1, 1], [-1, -1], [1, -1]], [1, -1, 1, -1]),
        "labels_0_2": save_npz(tmp / "labels.npz", [[1, 0], [0, 1]], [0, 2]),
        "labels_half": save_npz(tmp / "half.npz", [[1, 0], [0, 1]], [1, 0.5]),
        "nan_x": save_npz(tmp / "nan.npz", [[1, np.nan], [0, 1]], [1, 1]),
        "inf_x": save_npz(tmp / "inf.npz", [[1, 0], [np.inf, 1]], [1, 1]),
        "nan_y": save_npz(tmp / "nany.npz", [[1, 0], [0, 1]], [1, np.nan]),
        "x_1d": save_npz(tmp / "x1d.npz", [1, 0], [1, 1]),
        "y_2d": save_npz(tmp / "y2d.npz", [[1, 0], [0, 1]], [[1], [1]]),
        "length_mismatch": save_npz(tmp / "mismatch.npz", [[1, 0], [0, 1]], [1, 1, 1]),
        "origin": save_npz(tmp / "origin.npz", [[1, 0], [0, 0]], [1, 1]),
        "empty": save_npz(tmp / "empty.npz", np.zeros((0, 2)), np.zeros(0)),
        "string_x": tmp / "strings.npz",
        "missing_key": tmp / "nokey.npz",
        "corrupt_npz": tmp / "corrupt.npz",
        "csv_empty": tmp / "empty.csv",
        "csv_ragged": tmp / "ragged.csv",
        "csv_text": tmp / "text.csv",
        "csv_labels": tmp / "labels.csv",
        "csv_nan": tmp / "nan.csv",
    }
    (tmp / "data.txt").write_text("1,0,1\n")
    (tmp / "dir.npz").mkdir()
    np.savez(tmp / "strings.npz", X=np.array([["a", "b"]]), y=np.array([1.0]))
    np.savez(tmp / "nokey.npz", X=np.eye(2))
    (tmp / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (tmp / "empty.csv").write_text("")
    (tmp / "ragged.csv").write_text("1,0,1\n0,1\n")
    (tmp / "text.csv").write_text("1,0,1\n0,abc,1\n")
    (tmp / "labels.csv").write_text("1,0,1\n0,1,3\n")
    (tmp / "nan.csv").write_text("1,0,1\nnan,1,1\n")
    return files


BAD_DATA = [
    "missing", "extension", "directory", "non_separable", "labels_0_2", "labels_half", "nan_x",
    "inf_x", "nan_y", "x_1d", "y_2d", "length_mismatch", "origin", "empty", "string_x",
    "missing_key", "corrupt_npz", "csv_empty", "csv_ragged", "csv_text", "csv_labels", "csv_nan",
]


@pytest.mark.parametrize("case", BAD_DATA)
@pytest.mark.parametrize("command", ["maxmargin", "check"])
def test_bad_data_exit_2(capsys, tmp_path, case, command):
    path = _bad_data_files(tmp_path)[case]
    extra = ["--depth", "2", "--loss", "exp"] if command == "check" else []
    assert_bad_input(*call(capsys, command, path, *extra))


@pytest.fixture(scope="module")
def planted_npz(tmp_path_factory) -> Path:
    pp = planted_problem(0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)
    path = tmp_path_factory.mktemp("planted") / "planted.npz"
    np.savez(path, X=pp.X, y=pp.y)
    return path


BAD_OPTIONS = {
    "no_command": [],
    "unknown_command": ["frobnicate"],
    "maxmargin_no_data": ["maxmargin"],
    "maxmargin_extra_arg": ["maxmargin", "{data}", "extra"],
    "unknown_loss": ["check", "{data}", "--depth", "2", "--loss", "hinge"],
    "missing_loss": ["check", "{data}", "--depth", "2"],
    "unknown_init": ["check", "{data}", "--depth", "2", "--loss", "exp", "--init", "zeros"],
    "unknown_method": ["check", "{data}", "--depth", "2", "--loss", "exp", "--method", "sgd"],
    "missing_depth": ["check", "{data}", "--loss", "exp"],
    "depth_zero": ["check", "{data}", "--depth", "0", "--loss", "exp"],
    "depth_text": ["check", "{data}", "--depth", "two", "--loss", "exp"],
    "widths_text": ["check", "{data}", "--depth", "3", "--loss", "exp", "--widths", "3,x"],
    "widths_zero": ["check", "{data}", "--depth", "2", "--loss", "exp", "--widths", "0"],
    "widths_negative": ["check", "{data}", "--depth", "2", "--loss", "exp", "--widths", "-2"],
    "widths_float": ["check", "{data}", "--depth", "2", "--loss", "exp", "--widths", "2.5"],
    "widths_too_many": ["check", "{data}", "--depth", "2", "--loss", "exp", "--widths", "3,4"],
    "widths_too_few": ["check", "{data}", "--depth", "3", "--loss", "exp", "--widths", "3"],
    "widths_empty_for_depth_2": ["check", "{data}", "--depth", "2", "--loss", "exp", "--widths", ""],
    "widths_trailing_comma": ["check", "{data}", "--depth", "3", "--loss", "exp", "--widths", "3,"],
    "seed_negative": ["check", "{data}", "--depth", "2", "--loss", "exp", "--seed", "-1"],
    "seed_text": ["check", "{data}", "--depth", "2", "--loss", "exp", "--seed", "abc"],
    "step_zero": ["check", "{data}", "--depth", "2", "--loss", "exp", "--method", "gd", "--step", "0"],
    "step_nan": ["check", "{data}", "--depth", "2", "--loss", "exp", "--method", "gd", "--step", "nan"],
    "step_inf": ["check", "{data}", "--depth", "2", "--loss", "exp", "--method", "gd", "--step", "inf"],
    "precision_too_low": ["check", "{data}", "--depth", "2", "--loss", "exp", "--precision", "10"],
    "precision_with_gd": ["check", "{data}", "--depth", "2", "--loss", "logistic", "--method", "gd", "--precision", "30"],
    "late_phase_with_gd": ["check", "{data}", "--depth", "2", "--loss", "logistic", "--method", "gd", "--late-phase"],
    "init_scale_zero": ["check", "{data}", "--depth", "2", "--loss", "exp", "--init-scale", "0"],
    "steps_zero": ["check", "{data}", "--depth", "2", "--loss", "exp", "--method", "gd", "--steps", "0"],
    "step_with_gf": ["check", "{data}", "--depth", "2", "--loss", "exp", "--step", "0.1"],
    "unknown_flag": ["check", "{data}", "--depth", "2", "--loss", "exp", "--bogus"],
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_options_exit_2(capsys, planted_npz, case):
    args = [str(planted_npz) if a == "{data}" else a for a in BAD_OPTIONS[case]]
    assert_bad_input(*call(capsys, *args))


@pytest.mark.parametrize(
    "case",
    ["missing_file", "non_separable", "unknown_loss", "bad_widths", "no_command", "nan"],
)
def test_bad_input_subprocess(tmp_path, planted_npz, case):
    """The same contract seen from outside: real exit status, real stderr, `python -m aligncheck.harness.cli`."""
    files = _bad_data_files(tmp_path)
    args = {
        "missing_file": ["maxmargin", files["missing"]],
        "non_separable": ["check", files["non_separable"], "--depth", "2", "--loss", "exp"],
        "unknown_loss": ["check", planted_npz, "--depth", "2", "--loss", "square"],
        "bad_widths": ["check", planted_npz, "--depth", "3", "--loss", "exp", "--widths", "4;4"],
        "no_command": [],
        "nan": ["maxmargin", files["nan_x"], "--json"],
    }[case]
    proc = run_cli(*args)
    assert_bad_input(proc.returncode, proc.stdout, proc.stderr)


def test_error_message_names_the_problem(capsys, tmp_path):
    files = _bad_data_files(tmp_path)
    _, _, err = call(capsys, "maxmargin", files["non_separable"])
    assert "xor.npz" in err and "not linearly separable" in err
    _, _, err = call(capsys, "maxmargin", files["origin"])
    assert "row 1" in err and "origin" in err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert cli.main(["check", "--help"]) == 0
    out, err = capsys.readouterr()
    assert "--depth" in out and err == ""


# ---------------------------------------------------------------------------
# check


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("depth", [2, 3])
def test_check_planted_json(capsys, planted_npz, depth, loss):
    rc, out, err = call(capsys, "check", planted_npz, "--depth", depth, "--loss", loss, "--json")
    assert rc == 0, err
    assert err == ""
    doc = json.loads(out)
    assert list(doc) == ["max_margin", "claims", "assumptions", "run", "advice", "scale_factor", "init_scale"]

    pp = planted_problem(0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)
    mm = doc["max_margin"]
    np.testing.assert_allclose(mm["u_bar"], pp.u_bar, rtol=0, atol=KNOWN)
    assert abs(mm["gamma"] - pp.gamma) <= KNOWN
    assert mm["support"] == pp.support.tolist()

    claims = {c["id"]: c for c in doc["claims"]}
    assert [c["id"] for c in doc["claims"]] == GF_IDS  # every gf claim, once, in registry order
    for c in doc["claims"]:
        assert {"id", "status", "value", "threshold", "reason", "backend"} <= set(c) <= {"id", "status", "value", "threshold", "reason", "backend", "confirmation", "float64_value", "certificate", "judged_from", "exponent", "expected_exponent"}
        assert c["backend"] == "float64"
        assert c["status"] in STATUSES and c["status"] != "violated", c
        assert isinstance(c["reason"], str) and c["reason"]
    assert claims["gf.rank_one"]["value"] < 1e-3

    assumptions = doc["assumptions"]
    assert {"separable", "A1.1", "A1.2", "A2.7"} <= set(assumptions)
    for a in assumptions.values():
        assert set(a) == {"holds", "reason"} and isinstance(a["holds"], bool) and isinstance(a["reason"], str)
    assert assumptions["separable"]["holds"] and assumptions["A1.2"]["holds"]

    run = doc["run"]
    assert run["method"] == "gf" and run["depth"] == depth and run["loss"] == loss
    assert run["init"] == "gaussian" and run["seed"] == 0
    assert run["widths"] == [3] * (depth - 1)  # default: d each
    assert isinstance(run["stop_reason"], str) and run["stop_reason"]
    assert isinstance(run["grad_evals"], int) and run["grad_evals"] > 0
    assert isinstance(run["wall_time"], float) and run["wall_time"] >= 0


def test_check_gd(capsys, planted_npz):
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "logistic", "--method", "gd",
                        "--step", 0.1, "--steps", 100, "--widths", 4, "--seed", 3, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    ids = [c["id"] for c in doc["claims"]]
    assert ids == GD_IDS and "gd.balancedness_identity" in ids
    identity = next(c for c in doc["claims"] if c["id"] == "gd.balancedness_identity")
    assert identity["status"] in STATUSES
    run = doc["run"]
    # 100 steps evaluate 101 states: every iterate's risk is logged, the last one's too.
    assert (run["method"], run["widths"], run["seed"], run["grad_evals"]) == ("gd", [4], 3, 101)


def test_init_scale_is_used_and_replayed(capsys, planted_npz):
    args = ("check", planted_npz, "--depth", 2, "--loss", "exp", "--method", "gd", "--step", 0.1, "--steps", 20)
    small = json.loads(call(capsys, *args, "--init-scale", 0.01, "--json")[1])
    default = json.loads(call(capsys, *args, "--json")[1])
    assert small["run"]["init_scale"] == 0.01 and default["run"]["init_scale"] == 1.0
    assert small["claims"] != default["claims"]  # a different start gives different measurements
    rc, out, _ = call(capsys, *args, "--init-scale", 0.01)
    assert "--init-scale 0.01" in out  # the replay command carries it


def test_late_phase_and_precision(capsys, monkeypatch, planted_npz):
    # Three high-precision runs (each 5-10 s): the late phase read as a user reads it (a wide
    # terminal: the table has its backend column), and the two kernels of --precision compared
    # through --json.
    monkeypatch.setenv("COLUMNS", "200")
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--late-phase")
    assert rc == 0, err
    assert "switched from float64" in out and "float64 floor" in out
    table = [line for line in out.splitlines() if line.startswith("│ gf.") or line.startswith("│ conj.")]
    assert table and all("mpmath-50" in line for line in table)  # every verdict judged at 50 digits
    assert out.splitlines()[-1].endswith("--late-phase")  # the replay asks for the late phase again
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 1, "--loss", "exp", "--precision", 20, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["run"]["backend"] == "mpmath-20" and {c["backend"] for c in doc["claims"]} == {"mpmath-20"}
    assert doc["run"]["kernels"] == "flint"
    # the reference kernels (mpmath) give the same verdicts, and the replay asks for them again
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 1, "--loss", "exp", "--precision", 20, "--backend", "mpmath", "--json")
    ref = json.loads(out)
    assert rc == 0 and ref["run"]["kernels"] == "mpmath"
    assert [(c["id"], c["status"]) for c in ref["claims"]] == [(c["id"], c["status"]) for c in doc["claims"]]
    assert ref["run"]["replay"].endswith("--precision 20 --backend mpmath")


@pytest.mark.parametrize("columns", ["80", "200"])  # a CI log's width and a wide terminal
def test_check_human_output(capsys, monkeypatch, planted_npz, columns):
    monkeypatch.setenv("COLUMNS", columns)
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--seed", 5)
    assert rc == 0 and err == ""
    for cid in GF_IDS:
        assert cid in out
    for aid in ("separable", "A1.1", "A1.2", "A2.7"):
        assert aid in out
    assert "stop reason:" in out and "gradient evaluations:" in out and "wall time:" in out
    assert "seed: 5" in out
    assert "holds" in out
    replay = next(line for line in out.splitlines() if line.startswith("replay: "))
    assert replay.rstrip().endswith("--method gf --init-scale 1.0")  # one line, whatever the width


def _with_verdict(monkeypatch, status: Status) -> None:
    """Make run_checked report the first claim with `status` (the rest as computed)."""
    real = cli.run_checked

    def fake(problem, spec, ids=None):
        outcome = real(problem, spec, ids)
        v = outcome.verdicts[0]
        outcome.verdicts[0] = Verdict(v.claim, status, float("inf"), 1.0, "planted for the test")
        return outcome

    monkeypatch.setattr(cli, "run_checked", fake)


def test_violated_claim_exits_1(capsys, monkeypatch, planted_npz):
    _with_verdict(monkeypatch, Status.VIOLATED)
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--method", "gd", "--step", 0.1,
                        "--steps", 20, "--json")
    assert rc == 1 and err == ""
    doc = json.loads(out)
    assert doc["claims"][0]["status"] == "violated" and doc["claims"][0]["value"] == "inf"
    rc, out, _ = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--method", "gd", "--step", 0.1, "--steps", 20)
    assert rc == 1 and "violated" in out


def test_inconclusive_is_not_a_violation(capsys, monkeypatch, planted_npz):
    _with_verdict(monkeypatch, Status.INCONCLUSIVE)
    rc, _, _ = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--method", "gd", "--step", 0.1, "--steps", 20)
    assert rc == 0


def test_unexpected_exception_is_an_internal_error(capsys, monkeypatch, planted_npz):
    """A bug must surface as status 3 and one line, not as an exit status that looks like an answer."""

    def broken(problem, spec, ids=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "run_checked", broken)
    rc = cli.main(["check", str(planted_npz), "--depth", "2", "--loss", "exp"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.count("\n") == 1 and "internal error" in err and "a bug" in err


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_closed_stdout_is_not_a_verdict(planted_npz, json_flag):
    """stdout closed before the report (`| head`): status 141, not 1 ("violated"), no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aligncheck.harness.cli", "maxmargin", str(planted_npz), *json_flag],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_module_entry_point(planted_npz):
    proc = run_cli("maxmargin", planted_npz, "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["max_margin"]["support"] == planted_problem(
        0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3
    ).support.tolist()


# ---------------------------------------------------------------------------
# what a new user types first (issue 10)

DATA = ROOT / "tests" / "data"  # exported from scikit-learn by tools/export_datasets.py
THEOREM1 = ["gf.risk_to_zero", "gf.norms_diverge", "gf.lemma2_rank_bound", "gf.lemma2_alignment_bound"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's version action exits 0 itself
        cli.build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("aligncheck ")
    assert call(capsys, "--version")[0] == 0


def test_claims_lists_every_claim_and_selects_by_glob(capsys):
    rc, out, err = call(capsys, "claims", "--json")
    assert rc == 0 and err == ""
    assert [c["id"] for c in json.loads(out)["claims"]] == list(REGISTRY)
    rc, out, _ = call(capsys, "claims", "gf.max_margin_*,gf.rank_one", "--json")
    assert [c["id"] for c in json.loads(out)["claims"]] == ["gf.rank_one", "gf.max_margin_v1", "gf.max_margin_product"]
    monkey_out = call(capsys, "claims")[1]
    assert "gf.margin_corollary" in monkey_out and "Ji & Telgarsky" in monkey_out
    assert_bad_input(*call(capsys, "claims", "gf.nothing_*"))


def test_check_judges_only_the_claims_asked_for(capsys, planted_npz):
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--claims", "gf.rank_one,gf.max_margin_*", "--json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert [v["id"] for v in doc["claims"]] == ["gf.rank_one", "gf.max_margin_v1", "gf.max_margin_product"]
    assert_bad_input(*call(capsys, "check", planted_npz, "--depth", 2, "--loss", "exp", "--claims", "gf.typo"))


def test_scale_unit_ball_keeps_u_bar_and_reports_the_factor(capsys, tmp_path):
    X = np.array([[3.0, 1.0], [-2.0, -4.0], [2.5, 0.3]])
    path = save_npz(tmp_path / "raw.npz", X, [1, -1, 1])
    raw = max_margin_json(capsys, path)
    rc, out, _ = call(capsys, "maxmargin", path, "--scale", "unit-ball", "--json")
    doc = json.loads(out)
    factor = float(np.max(np.linalg.norm(X, axis=1)))
    assert rc == 0 and doc["scale_factor"] == pytest.approx(factor, rel=1e-15)
    np.testing.assert_allclose(doc["max_margin"]["u_bar"], raw["u_bar"], rtol=0, atol=1e-12)  # ū does not change
    assert doc["max_margin"]["gamma"] == pytest.approx(raw["gamma"] / factor, rel=1e-12)  # γ is divided by the factor
    # GD refuses raw data and says how to scale them; with --scale unit-ball it runs
    rc, out, err = call(capsys, "check", path, "--depth", 1, "--loss", "logistic", "--method", "gd", "--steps", 50)
    assert_bad_input(rc, out, err)
    assert "--scale unit-ball" in err
    rc, out, err = call(capsys, "check", path, "--depth", 1, "--loss", "logistic", "--method", "gd", "--steps", 50, "--scale", "unit-ball")
    assert rc in (0, 1) and "scaled: X divided by" in out and "--scale unit-ball" in out.splitlines()[-1]


def test_not_separable_says_through_the_origin_and_what_to_do(capsys, tmp_path):
    # separable by an affine hyperplane (x1 > 2), not by one through the origin
    path = save_npz(tmp_path / "offset.npz", [[3.0, 1.0], [3.0, -1.0], [1.0, 1.0], [1.0, -1.0]], [1, 1, -1, -1])
    rc, out, err = call(capsys, "maxmargin", path)
    assert_bad_input(rc, out, err)
    assert "through the origin" in err and "append a constant feature" in err


@pytest.mark.parametrize("data, depth", [
    ("iris_setosa_versicolor.csv", 2), ("iris_setosa_versicolor.csv", 4), ("digits_0_vs_1.npz", 1), ("soudry.npz", 2)])
def test_default_start_gives_theorem1_verdicts_on_real_data(capsys, tmp_path, data, depth):
    if data == "soudry.npz":  # claims.md's known-answer data, inside the unit ball
        sv = [[0.5, 1.5], [1.5, 0.5]]
        path = save_npz(tmp_path / data, np.array(sv + [[-0.5, -1.5], [-1.5, -0.5], [3, 3.5], [-3, -3.2]]) / 5, [1, 1, -1, -1, 1, -1])
    else:
        path = DATA / data
    rc, out, err = call(capsys, "check", path, "--depth", depth, "--loss", "exp", "--json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    status = {v["id"]: v["status"] for v in doc["claims"]}
    assert all(status[c] == "holds" for c in THEOREM1[: 2 if depth == 1 else None]), status  # Lemma 2: L ≥ 2
    assert doc["assumptions"]["A1.2"]["holds"]
    assert doc["init_scale"].startswith("init scale ")
    # every one of these data sets fails A2.7 or 'generic': the advice says so and names the conjecture
    assert any("conj.max_margin_degenerate_sv" in line for line in doc["advice"]), doc["advice"]
    if data == "soudry.npz":
        assert any("identical z_i" in line for line in doc["advice"])


def test_a12_failing_start_gets_one_line_of_advice():
    # Separable data let the flow fall below ℓ(0) from any start the command line can make (A1.2 is
    # judged from the first admissible time); A1.2 fails for good only at a critical point, as in
    # control.bad_init, whose assumptions these are.
    from types import SimpleNamespace

    from aligncheck.harness.output import advice

    ok = {"separable": (True, ""), "A2.7": (True, ""), "generic": (True, ""),
          "A1.2": (False, "R(W(0)) = 1.01 > ℓ(0) = 1 at every checkpoint")}
    lines = advice(SimpleNamespace(assumptions=ok, verdicts=[]))
    assert len(lines) == 1 and lines[0].startswith("A1.2 fails (R(W(0)) = 1.01") and "--init w1zero" in lines[0]
    assert advice(SimpleNamespace(assumptions={**ok, "A1.2": (True, "")}, verdicts=[])) == []


def test_gd_defaults_reach_verdicts_or_say_why_not(capsys, planted_npz):
    # the default number of GD steps (30,000) judges GD's limits at depth 2 from a small start
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "logistic", "--method", "gd", "--init-scale", 0.1, "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["run"]["grad_evals"] >= cli.CLI_GD_STEPS
    limits = {v["id"]: v["status"] for v in doc["claims"] if v["id"].startswith("gd.") and REGISTRY[v["id"]].kind == "limit"}
    assert "holds" in limits.values(), limits
    # 50 steps settle nothing: the advice says why and what would
    rc, out, err = call(capsys, "check", planted_npz, "--depth", 2, "--loss", "logistic", "--method", "gd", "--steps", 50, "--json")
    doc = json.loads(out)
    assert any(line.startswith("every applicable GD limit claim is inconclusive") for line in doc["advice"])
