"""Problem: validation messages, scaling, and the npz/csv loaders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aligncheck.errors import ProblemError
from aligncheck.data.maxmargin import NotSeparableError
from aligncheck.data.problem import Problem, load_problem, scale_to_unit_ball

GOOD_X = np.array([[0.5, 0.1], [-0.2, -0.6], [0.3, 0.4]])
GOOD_Y = np.array([1.0, -1.0, 1.0])
XOR_X = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
XOR_Y = np.array([1.0, -1.0, 1.0, -1.0])


def raises_one_line(fragment: str, exc=ProblemError):
    """pytest.raises for ProblemError whose message contains `fragment` (regex) and is one line."""

    class _Check:
        def __enter__(self):
            self._cm = pytest.raises(exc, match=fragment)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *args):
            out = self._cm.__exit__(*args)
            assert "\n" not in str(self.info.value)
            return out

    return _Check()


# ---------------------------------------------------------------------------
# construction


def test_valid_problem_fields():
    p = Problem.from_arrays(GOOD_X.tolist(), [1, -1, 1])
    assert (p.n, p.d) == (3, 2)
    assert p.X.dtype == np.float64 and p.y.dtype == np.float64
    np.testing.assert_array_equal(p.Z, GOOD_Y[:, None] * GOOD_X)
    assert p.max_norm == pytest.approx(np.sqrt(0.4), rel=1e-15)  # ‖(−0.2, −0.6)‖, to rounding
    assert p.separable and p.max_margin.gamma > 0
    with pytest.raises(ValueError):
        p.X[0, 0] = 1.0  # read-only copy
    assert GOOD_X[0, 0] == 0.5


def test_inputs_are_copied_not_aliased():
    X = GOOD_X.copy()
    p = Problem.from_arrays(X, GOOD_Y)
    X[0, 0] = 99.0
    assert p.X[0, 0] == 0.5


@pytest.mark.parametrize(
    "X, y, fragment",
    [
        ("not an array", GOOD_Y, r"X is not a numeric array"),
        (None, GOOD_Y, r"X is not a numeric array"),
        ([[1.0, 2.0], [3.0]], [1, -1], r"X is not a numeric array"),
        (GOOD_X.astype(complex), GOOD_Y, r"X is not a numeric array \(dtype complex"),
        (GOOD_X, ["a", "b", "c"], r"y is not a numeric array"),
        (GOOD_X, np.array([True, False, True]), r"y is not a numeric array \(dtype bool"),
        (np.array([0.5, 0.1]), [1.0], r"X must be 2-D"),
        (GOOD_X[None], GOOD_Y, r"X must be 2-D"),
        (GOOD_X, GOOD_Y[:, None], r"y must be 1-D"),
        (GOOD_X, GOOD_Y[:2], r"X has 3 rows but y has 2 labels"),
        (np.zeros((0, 2)), np.zeros(0), r"empty"),
        (np.zeros((3, 0)), GOOD_Y, r"empty"),
        (np.array([[0.5, 0.1], [np.nan, 0.2], [0.3, 0.4]]), GOOD_Y, r"X row 1 .*nan"),
        (np.array([[0.5, 0.1], [0.1, 0.2], [0.3, -np.inf]]), GOOD_Y, r"X row 2 .*-inf"),
        (GOOD_X, [1.0, np.nan, 1.0], r"y row 1 is nan"),
        (GOOD_X, [1.0, -1.0, 0.0], r"y row 2 is 0,.*exactly \+1 or -1"),
        (GOOD_X, [2.0, -1.0, 1.0], r"y row 0 is 2,"),
        (GOOD_X, [1.0, -0.5, 1.0], r"y row 1 is -0.5,"),
        (np.array([[0.5, 0.1], [0.0, 0.0], [0.3, 0.4]]), GOOD_Y, r"X row 1 is the origin"),
    ],
)
def test_bad_input_names_problem_and_row(X, y, fragment):
    with raises_one_line(fragment):
        Problem.from_arrays(X, y)


def test_xor_is_rejected():
    with raises_one_line("not linearly separable", NotSeparableError):
        Problem.from_arrays(XOR_X, XOR_Y)


def test_non_separable_allowed_on_request():
    p = Problem.from_arrays(XOR_X, XOR_Y, require_separable=False)
    assert p.max_margin is None and not p.separable
    assert p.n == 4
    # still validated
    with raises_one_line("y row 0"):
        Problem.from_arrays(XOR_X, [0.0, 1.0, 1.0, 1.0], require_separable=False)


def test_separable_data_solved_even_when_not_required():
    p = Problem.from_arrays(GOOD_X, GOOD_Y, require_separable=False)
    assert p.max_margin is not None and p.max_margin.certificate.ok


# ---------------------------------------------------------------------------
# scaling


def test_scale_to_unit_ball_reports_factor():
    X = np.array([[3.0, 4.0], [0.0, 1.0]])
    Xs, factor = scale_to_unit_ball(X)
    assert factor == pytest.approx(5.0, rel=1e-15)  # may be nudged up by an ulp
    assert np.max(np.linalg.norm(Xs, axis=1)) <= 1.0
    np.testing.assert_allclose(Xs * factor, X, rtol=1e-15)
    p = Problem.from_arrays(Xs, [1.0, 1.0])
    assert p.max_norm <= 1.0


def test_scale_nudges_factor_when_rounding_overshoots():
    X = np.array([[0.20538614162244384, -2.005613088286367]])
    top = np.linalg.norm(X, axis=1).max()
    assert np.linalg.norm(X / top, axis=1).max() > 1.0  # the naive division leaves the norm at 1 + ulp
    Xs, factor = scale_to_unit_ball(X)
    assert factor > top and factor == pytest.approx(top, rel=1e-15)  # nudged by ulps
    assert np.linalg.norm(Xs, axis=1).max() <= 1.0


def test_scale_leaves_unit_ball_data_alone():
    Xs, factor = scale_to_unit_ball(GOOD_X)
    assert factor == 1.0
    np.testing.assert_array_equal(Xs, GOOD_X)
    assert Xs is not GOOD_X


def test_margin_scales_with_data():
    X = np.array([[2.0, 0.5], [-1.0, -3.0], [4.0, 1.0]])
    y = np.array([1.0, -1.0, 1.0])
    Xs, factor = scale_to_unit_ball(X)
    a = Problem.from_arrays(X, y).max_margin
    b = Problem.from_arrays(Xs, y).max_margin
    assert b.gamma == pytest.approx(a.gamma / factor, rel=1e-14)  # rounding of the scaled data
    np.testing.assert_allclose(a.u_bar, b.u_bar, atol=1e-14)
    assert a.support.tolist() == b.support.tolist()


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 5)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    )
)
def test_scaled_norms_never_exceed_one(X):
    Xs, factor = scale_to_unit_ball(X)
    assert factor >= 1.0
    assert np.all(np.linalg.norm(Xs, axis=1) <= 1.0)
    top = np.max(np.linalg.norm(X, axis=1))
    if top > 1.0:
        assert factor == pytest.approx(top, rel=1e-14)  # the ulp nudges only
    # rtol: two roundings (divide, multiply); atol: subnormal entries underflow when divided
    np.testing.assert_allclose(Xs * factor, X, rtol=1e-14, atol=1e-300)


# ---------------------------------------------------------------------------
# loading


def test_load_npz(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=GOOD_X, y=GOOD_Y)
    p = load_problem(path)
    np.testing.assert_array_equal(p.X, GOOD_X)
    np.testing.assert_array_equal(p.y, GOOD_Y)
    assert load_problem(str(path)).n == 3


def test_load_npz_missing_array(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=GOOD_X, labels=GOOD_Y)
    with raises_one_line(r"data\.npz: no array 'y' \(or 'Y'\) in the file \(found: X, labels\)"):
        load_problem(path)


def test_load_npz_keys_in_either_case(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=GOOD_X, Y=GOOD_Y)
    p = load_problem(path)
    np.testing.assert_array_equal(p.X, GOOD_X)
    np.savez(path, X=GOOD_X, x=GOOD_X, y=GOOD_Y)
    with raises_one_line(r"data\.npz: both 'X' and 'x' are in the file"):
        load_problem(path)


@pytest.mark.parametrize("text", [
    "x1;x2;y\n0,5;0,1;1\n-0,2;-0,6;-1\n0,3;0,4;1\n",  # semicolons and decimal commas (a spreadsheet export)
    "x1\tx2\ty\n0.5\t0.1\t1\n-0.2\t-0.6\t-1\n0.3\t0.4\t1\n",  # tabs
    "0.5;0.1;1\n-0.2;-0.6;-1\n0.3;0.4;1\n",  # semicolons, no header: the first line is data
    "0,1,y\n0.5,0.1,1\n-0.2,-0.6,-1\n0.3,0.4,1\n",  # numeric feature names
    "0.5,0.1,1,\n-0.2,-0.6,-1,\n0.3,0.4,1,\n",  # a trailing comma on every line
])
def test_load_csv_dialects(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    p = load_problem(path)
    np.testing.assert_array_equal(p.X, GOOD_X)
    np.testing.assert_array_equal(p.y, GOOD_Y)


def test_load_csv_refuses_a_pandas_index_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(",x1,x2,y\n0,0.5,0.1,1\n1,-0.2,-0.6,-1\n2,0.3,0.4,1\n")
    with raises_one_line(r"data\.csv: the first column looks like an index .*index=False"):
        load_problem(path)


def test_load_npz_corrupt(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"this is not a zip file")
    with raises_one_line(r"data\.npz: cannot read as \.npz"):
        load_problem(path)


def test_load_npz_object_array_refused(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.array([[1.0, "a"]], dtype=object), y=np.array([1.0]))
    with raises_one_line(r"data\.npz: cannot read as \.npz"):
        load_problem(path)


def test_load_npz_validates(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X=GOOD_X, y=np.array([1.0, 0.0, 1.0]))
    with raises_one_line(r"bad\.npz: y row 1 is 0"):
        load_problem(path)


@pytest.mark.parametrize("header", ["", "x1,x2,label\n", '"feature 1", "feature 2" ,y\n'])
def test_load_csv(tmp_path, header):
    path = tmp_path / "data.csv"
    path.write_text(header + "0.5,0.1,1\n-0.2,-0.6,-1\n\n0.3, 0.4 ,1\n")
    p = load_problem(path)
    np.testing.assert_array_equal(p.X, GOOD_X)
    np.testing.assert_array_equal(p.y, GOOD_Y)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", r"no data rows"),
        ("x,y\n", r"no data rows"),
        ("1\n2\n", r"line 1 has 1 field"),
        ("0.5,0.1,1\n0.2,abc,-1\n", r"line 2 has a non-numeric field 'abc'"),
        ("x1,0.5,1\n0.5,0.1,1\n", r"line 1 has a non-numeric field 'x1'"),  # a label in the last field: not a header
        ("x1,x2,y\n0.5,0.1,1\nfoo,bar,baz\n", r"line 3 has a non-numeric field 'foo'"),
        ("0.5,0.1,1\n0.2,-1\n", r"line 2 has 2 fields, expected 3"),
        ("x1,x2,y\n0.5,0.1,1\n\n0.2,0.3,0.5\n", r"y row 1 \(line 4\) is 0.5"),
        ("0.5,0.1,1\nnan,0.3,1\n", r"X row 1 \(line 2\) contains a non-finite value nan"),
        ("1,1,1\n-1,1,-1\n-1,-1,1\n1,-1,-1\n", r".*not linearly separable"),
    ],
)
def test_load_csv_errors(tmp_path, text, fragment):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with raises_one_line(r"data\.csv: " + fragment):
        load_problem(path)


def test_load_csv_non_separable_allowed(tmp_path):
    path = tmp_path / "xor.csv"
    path.write_text("1,1,1\n-1,1,-1\n-1,-1,1\n1,-1,-1\n")
    assert load_problem(path, require_separable=False).max_margin is None


def test_load_missing_file(tmp_path):
    with raises_one_line(r"no such data file"):
        load_problem(tmp_path / "absent.csv")


def test_load_directory(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with raises_one_line(r"no such data file"):
        load_problem(tmp_path / "dir.npz")


@pytest.mark.parametrize("name", ["data.txt", "data", "data.npy"])
def test_load_wrong_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("1,1\n")
    with raises_one_line(r"unsupported data file extension"):
        load_problem(path)


def test_load_csv_binary_garbage(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with raises_one_line(r"data\.csv: cannot read as \.csv"):
        load_problem(path)


# ---------------------------------------------------------------------------
# crashes on input the loader accepts (issue 8): each now one line of ProblemError


def _npy_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, GOOD_X)
    return buf.getvalue()


@pytest.mark.parametrize(
    "content, fragment",
    [
        # np.load returns an ndarray for a .npy, not an NpzFile
        (_npy_bytes(), r"not an \.npz archive \(it looks like a \.npy array\): save with np\.savez\(path, X=\.\.\., y=\.\.\.\)"),
        (b"", r"cannot read as \.npz \(the file is empty"),
    ],
)
def test_load_npz_that_is_not_an_archive(tmp_path, content, fragment):
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    with raises_one_line(r"data\.npz: " + fragment):
        load_problem(path)


def test_load_npz_header_declaring_more_than_the_file_holds(tmp_path):
    # A hand-edited .npy header claiming 10^12 rows: numpy would allocate 24 TB before reading.
    import zipfile

    good = tmp_path / "good.npz"
    np.savez(good, X=np.eye(3), y=np.ones(3))
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    header = members["X.npy"]
    forged = header.replace(b"'shape': (3, 3), }           ", b"'shape': (999999999999, 3), }")
    assert len(forged) == len(header)
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", forged)
        zf.writestr("y.npy", members["y.npy"])
    with raises_one_line(r"forged\.npz: array 'X' is truncated or its header is corrupt \(the header declares shape \(999999999999, 3\)"):
        load_problem(path)


def test_load_corrupt_compressed_npz(tmp_path):
    path = tmp_path / "data.npz"
    np.savez_compressed(path, X=np.tile(GOOD_X, (50, 1)), y=np.tile(GOOD_Y, 50))
    raw = bytearray(path.read_bytes())
    for i in range(60, 90):  # inside the first member's deflate stream (zlib.error, not BadZipFile)
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with raises_one_line(r"data\.npz: (cannot read as \.npz|array 'X' is truncated)"):
        load_problem(path)


def test_load_zip_members_without_npy_suffix(tmp_path):
    import zipfile

    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X", b"1,2,3")
        zf.writestr("y", b"1")
    with raises_one_line(r"data\.npz: cannot read as \.npz"):
        load_problem(path)


def test_bool_labels_say_what_to_do():
    with raises_one_line(r"y is not a numeric array \(dtype bool\): labels must be \+1 or -1, e\.g\. save np\.where\(y, 1\.0, -1\.0\)"):
        Problem.from_arrays(GOOD_X, GOOD_Y > 0)


def test_longdouble_beyond_float64_is_refused_without_a_warning():
    X = np.array(GOOD_X, dtype=np.longdouble)
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    X[1, 0] = np.longdouble("1e400")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with raises_one_line(r"X row 1 contains a non-finite value inf"):
            Problem.from_arrays(X, GOOD_Y)


def test_row_of_float64_max_entries_is_refused_without_a_warning():
    X = GOOD_X.copy()
    X[2] = [1.7e308, 1.7e308]  # its norm, 2.4e308, is beyond float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with raises_one_line(r"X row 2 has norm 1\.7e\+308·√2, beyond float64's range, outside \[1e-150, 1e\+150\]: rescale the data"):
            Problem.from_arrays(X, GOOD_Y)


@pytest.mark.parametrize("header", ["", "x1,x2,label\n"])
def test_load_csv_with_a_byte_order_mark(tmp_path, header):
    path = tmp_path / "data.csv"
    path.write_text(header + "0.5,0.1,1\n-0.2,-0.6,-1\n0.3,0.4,1\n", encoding="utf-8-sig")  # as spreadsheets export
    p = load_problem(path)
    np.testing.assert_array_equal(p.X, GOOD_X)
    np.testing.assert_array_equal(p.y, GOOD_Y)


def test_unreadable_npz_leaves_no_open_file(tmp_path):
    # np.load(path) leaves the file it opened unclosed when the zip directory is unreadable: a
    # ResourceWarning when it is collected (found by tests/test_cli_fuzz.py).
    import gc

    path = tmp_path / "data.npz"
    np.savez(path, X=GOOD_X, y=GOOD_Y)
    path.write_bytes(path.read_bytes()[:300])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with raises_one_line(r"data\.npz: cannot read as \.npz"):
            load_problem(path)
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_too_many_features_are_refused_before_the_solver():
    X = np.zeros((2, 4001))
    X[0, 0], X[1, 1] = 1.0, -1.0
    with raises_one_line(r"X has 4001 features; at most 4000 are supported .*project the data onto their span"):
        Problem.from_arrays(X, [1.0, 1.0])
