"""Fuzz test of the command line: malformed and extreme data files and option values.

Every call goes through ``aligncheck.harness.cli.main`` in-process and is held to the exit-status contract of
aligncheck.harness.cli: status 0 or 1 with nothing on stderr, or status 2 with exactly one stderr line
``aligncheck: error: ...`` (and nothing on stdout); never 3 (an internal error), never a
traceback. Warnings are turned into errors inside each call, so a RuntimeWarning (overflow,
invalid value, ...) anywhere in the engine surfaces as an internal error and fails the test.

Cost. Data are tiny (n ≤ 8, d ≤ 3), networks have depth ≤ 3 and widths ≤ 4, GD runs take ≤ 20
steps, and the two claim searches whose cost does not depend on the input size, gd.leaves_ball
(up to 50,000 constant-step GD steps) and gd.smoothness (200 pairs and 3 Powell searches per
radius), run with small budgets here (``_cheap_searches``): the fuzz is about how input reaches
the engine, not about the searches' budgets, which tests/test_paper_gd.py covers. With the ``ci``
profile the module takes ~30 s on the 2-core machine. Every failure found is pinned as an
@example.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.extra.numpy import arrays

import aligncheck.harness.cli as cli
from aligncheck.claims.registry import REGISTRY
from aligncheck.testing.strategies import planted_problem

ERROR_PREFIX = "aligncheck: error: "

# ---------------------------------------------------------------------------
# the contract


def run_main(args: list[str]) -> tuple[int, str, str]:
    """cli.main(args) in-process with stdout/stderr captured and every warning an error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("error")
        rc = cli.main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def assert_contract(rc: int, out: str, err: str, args: list[str]) -> None:
    """The exit-status contract of aligncheck.harness.cli for one call."""
    where = f"\nargs: {args!r}\nstatus: {rc}\nstderr: {err!r}\nstdout (tail): {out[-1500:]!r}"
    assert rc in (0, 1, 2), "status must be 0, 1 or 2" + where
    assert "Traceback" not in out and "Traceback" not in err, where
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and err.endswith("\n"), "bad input: exactly one stderr line" + where
        assert lines[0].startswith(ERROR_PREFIX) and len(lines[0]) > len(ERROR_PREFIX), where
        assert out == "", "bad input: nothing on stdout" + where
    else:
        assert err == "", "a run prints nothing on stderr" + where


def check_call(args: list[str]) -> int:
    rc, out, err = run_main(args)
    assert_contract(rc, out, err, args)
    if currently_in_test_context():  # for --hypothesis-show-statistics: statuses and kinds of bad input
        event(f"{args[0]}: status {rc}" + (f": {' '.join(err[len(ERROR_PREFIX):].split()[:4])}"[:80] if rc == 2 else ""))
    return rc


@pytest.fixture(scope="module", autouse=True)
def _cheap_searches():
    """Small budgets for the two input-independent claim searches (see the module docstring)."""
    with pytest.MonkeyPatch.context() as mp:
        for cid, kw in (("gd.leaves_ball", {"max_steps": 300}), ("gd.smoothness", {"n_pairs": 8, "n_searches": 1})):
            claim = REGISTRY[cid]
            mp.setitem(REGISTRY, cid, dataclasses.replace(claim, predicate=functools.partial(claim.predicate, **kw)))
        yield


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------------------
# data files

# Row magnitudes: zero, subnormal, around and beyond the validated range [1e-150, 1e150], and
# the ends of float64.
VALID_MAGNITUDES = [1e-149, 1e-140, 1e-20, 1e-3, 0.5, 1.0, 7.0, 1e20, 1e140, 1e149]
MAGNITUDES = VALID_MAGNITUDES + [0.0, 5e-324, 1e-300, 1e-160, 1e151, 1e300, 1.7e308]
SPECIALS = [np.nan, np.inf, -np.inf]
BAD_LABELS = [0.0, 2.0, 0.5, -3.0, np.nan, np.inf]
X_DTYPES = ["float64", "float64", "float64", "float32", "float16", "int64", "longdouble", "complex128", "bool", "str", "object"]
Y_DTYPES = ["float64", "float64", "float64", "int8", "bool", "str", "float32"]
CONTAINERS = ["npz", "npz", "npz", "npz_compressed", "csv", "csv", "truncated", "corrupted", "npy", "garbage", "empty", "keys"]


def _one_in(draw, k: int) -> bool:
    return draw(st.integers(0, k - 1)) == 0


@st.composite
def raw_data(draw, valid: bool) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) float64 with rows of mixed magnitudes and duplicated points, and y: the labels of
    a random direction, so that the data are separable. Unless ``valid``: sometimes no points or
    no features, a NaN/inf entry, random labels (often not separable) or a label other than ±1."""
    n = 0 if not valid and _one_in(draw, 10) else draw(st.integers(1, 8))
    d = 0 if not valid and _one_in(draw, 10) else draw(st.integers(1, 3))
    # Valid rows have entries of size ≥ 1e-3 before scaling (no row at the origin or below 1e-150).
    entries = st.floats(-1, 1) if not valid else st.one_of(st.floats(1e-3, 1), st.floats(-1, -1e-3))
    X = draw(arrays(np.float64, (n, d), elements=entries))
    if n and draw(st.booleans()):
        scales = np.array(draw(st.lists(st.sampled_from(VALID_MAGNITUDES if valid else MAGNITUDES), min_size=n, max_size=n)))
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            X = X * scales[:, None]
    if n and d and not valid and _one_in(draw, 4):
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(st.sampled_from(SPECIALS))
    if n >= 2 and _one_in(draw, 4):
        X[1] = X[0]  # a duplicated point
    u = np.array(draw(st.lists(st.floats(-1, 1), min_size=d, max_size=d)))
    with np.errstate(all="ignore"):
        y = np.where(X @ u >= 0, 1.0, -1.0) if d else np.ones(n)
    if not valid and _one_in(draw, 3):
        y = np.array(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n)))
    if n and not valid and _one_in(draw, 4):
        y[draw(st.integers(0, n - 1))] = draw(st.sampled_from(BAD_LABELS))
    return X, y


def _as_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        if dtype == "str":
            return a.astype(str)
        if dtype == "object":
            return a.astype(object)
        if dtype in ("int64", "int8"):
            return np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0).clip(-1e6, 1e6).astype(dtype)
        if dtype == "bool":
            return a > 0
        return a.astype(dtype)


def _fmt(v: float, style: str) -> str:
    return {"repr": repr(float(v)), "g3": f"{v:.3g}", "e": f"{v:e}", "int": f"{v:g}"}[style]


@st.composite
def csv_text(draw, X: np.ndarray, y: np.ndarray, plain: bool) -> str:
    """X and y as a .csv text: with ``plain`` comma separated (numbers in repr, %g or %e, a
    header line, a byte-order mark, CRLF or blank lines allowed), else with the oddities of
    hand-made files (other separators, an odd field, trailing separators, a truncated line)."""
    sep = "," if plain else draw(st.sampled_from([",", ", ", ";", "\t", " ", "|"]))
    style = draw(st.sampled_from(["repr", "g3", "e", "int"]))
    rows = [[_fmt(v, style) for v in x] + [_fmt(c, "int")] for x, c in zip(X.tolist(), y.tolist())]
    if rows and not plain and _one_in(draw, 2):  # one odd field
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
        rows[i][j] = draw(st.sampled_from(["", "abc", "1,5", "0x10", "1_000", " 1 ", "nan", "inf", "1e400", '"1"', "\x00", "−1"]))
    lines = [sep.join(r) for r in rows]
    headers = [None, "features,label"] + ([] if plain else ["x1,x2,y", "a;b", "1,2,3", "x,y,label,extra", "#comment"])
    header = draw(st.sampled_from(headers))
    if header is not None:
        lines.insert(0, header)
    if lines and not plain and _one_in(draw, 3):
        lines = [line + sep for line in lines]  # trailing separators
    if lines and _one_in(draw, 4):
        lines.insert(draw(st.integers(0, len(lines))), "")  # a blank line
    if lines and not plain and _one_in(draw, 3):
        lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]  # truncated last line
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    return ("\ufeff" if _one_in(draw, 4) else "") + text


@st.composite
def data_file(draw, directory: Path) -> Path:
    """A data file in ``directory``: half of them well-formed (.npz or .csv of raw_data(valid=True),
    extreme magnitudes included), the other half with defects: odd dtypes or shapes, bad values,
    or a broken container (compressed, truncated, corrupted, wrong keys, a .npy or garbage under
    the .npz name, empty), or a .csv with the oddities of csv_text."""
    valid = draw(st.booleans())
    X, y = draw(raw_data(valid))
    shape_change = None if valid else draw(st.sampled_from([None] * 4 + ["x1d", "x3d", "y2d", "ylong", "yshort"]))
    if shape_change == "x1d":
        X = X.ravel()
    elif shape_change == "x3d":
        X = X[None]
    elif shape_change == "y2d":
        y = y[:, None]
    elif shape_change == "ylong":
        y = np.append(y, 1.0)
    elif shape_change == "yshort":
        y = y[:-1]
    container = draw(st.sampled_from(["npz", "csv"] if valid else CONTAINERS))
    note(f"container {container}, shape change {shape_change}\nX = {X!r}\ny = {y!r}")
    if container == "csv" and X.ndim == 2 and y.ndim == 1 and len(y) == len(X):
        path = directory / "data.csv"
        text = draw(csv_text(X, y, plain=valid))
        note(f"csv text {text!r}")
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        return path
    if valid:
        Xs, ys = X, y
    else:
        Xs, ys = _as_dtype(X, draw(st.sampled_from(X_DTYPES))), _as_dtype(y, draw(st.sampled_from(Y_DTYPES)))
        note(f"dtypes {Xs.dtype}, {ys.dtype}")
    path = directory / "data.npz"
    if container == "npy":
        with path.open("wb") as fh:
            np.save(fh, Xs)
    elif container == "garbage":
        path.write_bytes(draw(st.sampled_from([b"PK\x03\x04", b"\x93NUMPY", b""])) + draw(st.binary(max_size=64)))
    elif container == "empty":
        path.write_bytes(b"")
    elif container == "keys":
        keys = draw(st.sampled_from([{"X": Xs}, {"y": ys}, {"x": Xs, "y": ys}, {"X": Xs, "y": ys, "extra": ys}, {}]))
        np.savez(path, **keys)
    else:
        (np.savez_compressed if container == "npz_compressed" else np.savez)(path, X=Xs, y=ys)
        raw = bytearray(path.read_bytes())
        if container == "truncated":
            raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
        elif container == "corrupted":
            for _ in range(draw(st.integers(1, 8))):
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        path.write_bytes(bytes(raw))
    return path


# Cheap engine runs for data that load (≤ ~0.3 s each on tiny data): the engine sees every
# extreme the loader lets through (huge, tiny and mixed magnitudes, duplicates, one point, d = 1).
CHEAP_CHECKS = [
    ["--depth", "1", "--loss", "exp"],
    ["--depth", "2", "--loss", "logistic", "--json"],
    ["--depth", "2", "--loss", "exp", "--method", "gd", "--step", "0.1", "--steps", "3"],
    ["--depth", "3", "--loss", "poly", "--init", "w1zero"],
]


@settings(max_examples=120)
@given(data=st.data(), check=st.sampled_from(CHEAP_CHECKS), as_json=st.booleans())
def test_fuzz_data_files(data, check, as_json):
    with tempfile.TemporaryDirectory() as tmp:
        path = data.draw(data_file(Path(tmp)))
        rc = check_call(["maxmargin", path, *(["--json"] if as_json else [])])
        if rc == 0:
            check_call(["check", path, *check])


# Files the generator found crashing, and the cases: each must end in 0, 1 or 2.
def _pinned_files(directory: Path) -> dict[str, Path]:
    out = {}

    def npz(name: str, X, y) -> None:
        out[name] = directory / f"{name}.npz"
        np.savez(out[name], X=np.asarray(X, dtype=float), y=np.asarray(y, dtype=float))

    pp = planted_problem(0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)
    npz("planted", pp.X, pp.y)
    npz("rows_1e149", pp.X * (1e149 / np.max(np.linalg.norm(pp.X, axis=1))), pp.y)
    npz("rows_1e-140", pp.X * 1e-140, pp.y)
    npz("mixed_1e-140_1e140", [[1e-140, 0.0], [0.0, 1e140]], [1.0, 1.0])
    npz("mixed3", [[1e-140, 0.0], [0.0, 1e140], [-1.0, -0.3]], [1.0, 1.0, -1.0])
    npz("one_point", [[0.3, 0.4]], [1.0])
    npz("one_point_1e20", [[1e20]], [1.0])  # found by CI: L(w(0)) underflows to 0 in Soudry's step bound
    npz("d1", [[0.3], [-0.5]], [1.0, -1.0])
    npz("duplicates", [[0.6, 0.2], [0.6, 0.2], [-0.4, -0.35], [-0.2, -0.6]], [1.0, 1.0, -1.0, -1.0])
    npz("outside_unit_ball", [[3.0, 1.0], [-2.0, -4.0]], [1.0, -1.0])
    a = [-0.9518956775564114, 0.2627164072359929, 0.001]  # found: quadprog looped forever on these rows
    npz("repeated_row", [a, a, [0.001, 0.001, 0.001]], [1.0, 1.0, 1.0])
    npz("rows_1e-149_and_1e140", [[1e-149, 1e-149]] * 3 + [[1e140, 1e140]], [1.0] * 4)  # found: singular Newton matrix
    out["row_of_float64_max"] = directory / "row_of_float64_max.npz"  # found: overflow in the row-norm check
    np.savez(out["row_of_float64_max"], X=np.array([[5e-324, 5e-324], [5e-324, 5e-324], [1.7e308, 1.7e308]]), y=np.ones(3))
    out["truncated_npz"] = directory / "truncated.npz"  # found: np.load left the file open (ResourceWarning)
    np.savez(out["truncated_npz"], X=np.eye(2), y=np.ones(2))
    out["truncated_npz"].write_bytes(out["truncated_npz"].read_bytes()[:300])
    out["npy_named_npz"] = directory / "array.npz"
    with out["npy_named_npz"].open("wb") as fh:
        np.save(fh, np.eye(2))
    out["bom_csv"] = directory / "bom.csv"
    out["bom_csv"].write_text("x1,x2,y\n0.6,0.2,1\n-0.4,-0.35,-1\n", encoding="utf-8-sig")
    out["bom_csv_no_header"] = directory / "bom2.csv"
    out["bom_csv_no_header"].write_text("0.6,0.2,1\n-0.4,-0.35,-1\n", encoding="utf-8-sig")
    return out


BAD_FILES = ["npy_named_npz", "row_of_float64_max", "truncated_npz"]
DATASETS = ["planted", "rows_1e149", "rows_1e-140", "mixed_1e-140_1e140", "mixed3", "one_point", "one_point_1e20", "d1", "duplicates", "outside_unit_ball", "repeated_row", "rows_1e-149_and_1e140", "bom_csv", "bom_csv_no_header"]


@pytest.fixture(scope="module")
def pinned(workdir) -> dict[str, Path]:
    return _pinned_files(workdir)


@pytest.mark.parametrize("name", BAD_FILES + DATASETS)
def test_pinned_data_files(pinned, name):
    rc = check_call(["maxmargin", pinned[name]])
    assert rc == (2 if name in BAD_FILES else 0)


# ---------------------------------------------------------------------------
# option values

SCALES = [5e-324, 1e-320, 1e-300, 1e-160, 1e-20, 1e-8, 1e-3, 1.0, 1e3, 1e20, 1e75, 1e100, 1e150, 1e200, 1e308, 1.7976931348623157e308]
STEPS = [5e-324, 1e-300, 1e-8, 0.1, 1.0, 10.0, 1e3, 1e100, 1e308, 1.7976931348623157e308]


def _pow10(lo: float, hi: float):
    return st.floats(lo, hi).map(lambda e: float(10.0**e))


@st.composite
def check_options(draw) -> list[str]:
    """`check` options: depth, loss, init and scale, widths, seed, method, step, steps, precision."""
    depth = draw(st.integers(1, 3))
    args = ["--depth", str(depth), "--loss", draw(st.sampled_from(["exp", "logistic", "poly"])),
            "--init", draw(st.sampled_from(["gaussian", "balanced", "w1zero"]))]
    scale = draw(st.one_of(st.sampled_from(SCALES), _pow10(-300, 308.2)))
    args += ["--init-scale", repr(scale)]
    if depth > 1 and draw(st.booleans()):
        widths = draw(st.lists(st.one_of(st.integers(1, 4), st.sampled_from([10**6, 2**63, 10**30])), min_size=depth - 1, max_size=depth - 1))
        args += ["--widths", ",".join(map(str, widths))]
    args += ["--seed", str(draw(st.one_of(st.integers(0, 2**32), st.sampled_from([2**64, 10**30, 2**200]))))]
    if draw(st.booleans()):
        args += ["--method", "gd", "--steps", str(draw(st.one_of(st.integers(1, 20), st.sampled_from([10**7, 10**30]))))]
        step = draw(st.one_of(st.none(), st.sampled_from(STEPS), _pow10(-300, 308.2)))
        if step is not None:
            args += ["--step", repr(step)]
    else:
        digits = draw(st.sampled_from([None] * 9 + [16]))  # mpmath runs cost ~1-4 s: rare
        if digits is not None and depth == 1:
            args += ["--precision", str(digits)]
    if draw(st.booleans()):
        args.append("--json")
    return args


@settings(max_examples=60)
@given(name=st.sampled_from(DATASETS + BAD_FILES[:1]), options=check_options())
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--init-scale", "1e+100"]).via("issue 8: product 1e200, refused")
@example(name="rows_1e149", options=["--depth", "2", "--loss", "exp"]).via("issue 8: rows of norm 1e149")
@example(name="rows_1e149", options=["--depth", "1", "--loss", "logistic"]).via("sign-lemma search with no start in its region")
@example(name="mixed_1e-140_1e140", options=["--depth", "2", "--loss", "exp"]).via("issue 8: mixed row scales")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--init-scale", "1e+308"]).via("issue 8: SVD of inf layers")
@example(name="planted", options=["--depth", "2", "--loss", "logistic", "--init-scale", "1e-300"]).via("issue 8: gradient norm underflow")
@example(name="planted", options=["--depth", "3", "--loss", "logistic", "--init-scale", "1e-300"]).via("gradients underflow to 0: refused")
@example(name="planted", options=["--depth", "2", "--loss", "logistic", "--init-scale", "1e-08"]).via("false gf.balancedness violation from a 1e-8 start")
@example(name="planted", options=["--depth", "1", "--loss", "logistic", "--init-scale", "1e-300"]).via("BDF's first step with atol 1e-250")
@example(name="planted", options=["--depth", "2", "--loss", "logistic", "--method", "gd", "--steps", "3", "--step", "1e+308"]).via("issue 8: η² overflow in the GD identity")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--init", "w1zero", "--init-scale", "1e+100"]).via("flow leaves the float64 range within one step")
@example(name="planted", options=["--depth", "2", "--loss", "logistic", "--init", "w1zero", "--init-scale", "1e+100"]).via("BDF's LU refuses a non-finite trial step")
@example(name="planted", options=["--depth", "2", "--loss", "logistic", "--method", "gd", "--steps", "3", "--init", "w1zero", "--init-scale", "1e+100"]).via("GD, smoothness search at R = 1e100")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--widths", str(10**9)]).via("--widths huge: refused before allocating")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--method", "gd", "--step", "0.1", "--steps", str(10**12)]).via("--steps huge: refused")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--seed", str(2**200)]).via("--seed huge")
@example(name="rows_1e-149_and_1e140", options=["--depth", "3", "--loss", "poly", "--init", "w1zero"]).via("LinAlgWarning from BDF's LU")
@example(name="repeated_row", options=["--depth", "3", "--loss", "poly", "--init", "w1zero", "--json"]).via("quadprog's infinite loop")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--init", "w1zero", "--init-scale", "1e+100", "--late-phase"]).via("mpmath's LU: singular Newton matrix")
@example(name="planted", options=["--depth", "2", "--loss", "exp", "--init", "w1zero", "--init-scale", "1e-160", "--method", "gd", "--steps", "1", "--step", "1e+308"]).via("‖Δ_k‖ squares ‖W_1‖² ~ 1e296")
@example(name="one_point_1e20", options=["--depth", "2", "--loss", "exp", "--method", "gd", "--step", "0.1", "--steps", "3"]).via("ZeroDivisionError in the Soudry step bound (CI)")
def test_fuzz_check_options(pinned, name, options):
    # Two of the cases are pinned elsewhere, being slow (5-10 s: the flow from R ~ e^(1e6)):
    # --init-scale 1e3 with the exp loss (A1.2's R printed from the log) in test_console_script,
    # the expm1 overflow of conj.smoothed_margin_monotone in tests/test_float_range.py.
    check_call(["check", pinned[name], *options])


# ---------------------------------------------------------------------------
# the parser: arbitrary option text (the data file does not exist, so nothing runs)

OPTIONS = ["--depth", "--loss", "--init", "--init-scale", "--widths", "--seed", "--method", "--step", "--steps", "--precision", "--late-phase", "--json", "--help-not", "-"]
VALUES = ["1", "0", "-1", "2", "3", "1e3", "1e309", "-0", "nan", "inf", "-inf", "0x10", "1_000", "1.5", "", " ", "3,", ",3", "3,,4", "4;4", "exp", "logistic", "gf", "gd", "gaussian", "1e-320", str(10**400), "٣", "\x00", "--json"]


@settings(max_examples=150)
@given(tokens=st.lists(st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), st.text(max_size=6)), max_size=10),
       command=st.sampled_from(["check", "maxmargin", "frobnicate", ""]))
def test_fuzz_argv(tokens, command):
    assume(not {"-h", "--help"} & set(tokens))  # help is status 0, by design
    argv = ([command] if command else []) + ["does-not-exist.npz"] + tokens
    rc, out, err = run_main(argv)
    assert_contract(rc, out, err, argv)
    assert rc == 2  # either the options or the (missing) data file are bad input


# ---------------------------------------------------------------------------
# the real console script: no traceback from outside either


def _console_script() -> str:
    script = Path(sys.executable).with_name("aligncheck")
    return str(script) if script.exists() else shutil.which("aligncheck") or pytest.skip("aligncheck console script not installed")


@pytest.mark.parametrize("case", ["npy_named_npz", "huge_init_scale_exp"])
def test_console_script(pinned, workdir, case):
    if case == "npy_named_npz":
        args = ["maxmargin", str(pinned["npy_named_npz"])]
    else:
        args = ["check", str(pinned["planted"]), "--depth", "2", "--loss", "exp", "--init-scale", "1e3", "--json"]
    proc = subprocess.run([_console_script(), *args], capture_output=True, text=True, timeout=300)
    assert_contract(proc.returncode, proc.stdout, proc.stderr, args)
    if case == "npy_named_npz":
        assert proc.returncode == 2 and "looks like a .npy array" in proc.stderr and "np.savez" in proc.stderr
    else:
        assert proc.returncode in (0, 1) and "R(W(0)) = " in proc.stdout


def test_zip_with_a_wrong_member_name(workdir):
    """A zip whose members are not .npy files (hand-made archive): one line, status 2."""
    path = workdir / "members.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X", b"1,2,3")
        zf.writestr("y", b"1")
    assert check_call(["maxmargin", path]) == 2
