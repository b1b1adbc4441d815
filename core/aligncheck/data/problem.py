"""Classification data for aligncheck: validation, loading, and the max-margin solution.

Conventions: X is n×d float64 with one point per row, y is (n,) float64 of
exactly ±1, z_i = y_i x_i. Rows are numbered from 0 in every message. The paper
assumes ‖x_i‖ ≤ 1; data are never rescaled silently: `scale_to_unit_ball`
returns the scaled copy and the factor so the caller can report it.
"""

from __future__ import annotations

import csv
import math
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligncheck.errors import ProblemError
from aligncheck.data.maxmargin import MaxMargin, NotSeparableError, max_margin

__all__ = ["Problem", "load_problem", "scale_to_unit_ball"]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _numeric_array(value: object, name: str) -> np.ndarray:
    """A float64 copy of `value`, or ProblemError if it is not a real numeric array."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ProblemError(f"{name} is not a numeric array ({_one_line(exc)})") from None
    if raw.dtype.kind == "b" and name == "y":
        raise ProblemError("y is not a numeric array (dtype bool): labels must be +1 or -1, e.g. save np.where(y, 1.0, -1.0)")
    if raw.dtype.kind not in "iuf":  # bool, complex, str, object, ... are not data
        raise ProblemError(f"{name} is not a numeric array (dtype {raw.dtype})")
    # A wider float (longdouble) beyond float64's range becomes inf here; _validate reports it.
    with np.errstate(over="ignore"):
        return np.array(raw, dtype=np.float64)


MIN_ROW_NORM, MAX_ROW_NORM = 1e-150, 1e150
# The max-margin solver (quadprog) works on a dense d×d matrix in O(d³) time: measured 3 s at
# d = 1500 and 38 s at d = 3000 (n = 5), so d = 30,000 would take hours and 7 GB.
MAX_FEATURES = 4000


def _row(i: int) -> str:
    return f"row {i}"


def _validate(
    X: object, y: object, row_name: Callable[[int], str] = _row
) -> tuple[np.ndarray, np.ndarray]:
    X = _numeric_array(X, "X")
    y = _numeric_array(y, "y")
    if X.ndim != 2:
        raise ProblemError(f"X must be 2-D (n×d), got shape {X.shape}")
    if y.ndim != 1:
        raise ProblemError(f"y must be 1-D (n,), got shape {y.shape}")
    n, d = X.shape
    if len(y) != n:
        raise ProblemError(f"X has {n} rows but y has {len(y)} labels")
    if n == 0 or d == 0:
        raise ProblemError(f"data are empty (X has shape {X.shape})")
    if d > MAX_FEATURES:
        raise ProblemError(f"X has {d} features; at most {MAX_FEATURES} are supported (the max-margin solver is dense in d): "
                           f"project the data onto their span (rank ≤ n = {n}), which keeps every margin and ū up to that rotation")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ProblemError(f"X {row_name(i)} contains a non-finite value {X[i][~np.isfinite(X[i])][0]}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        i = int(bad[0])
        raise ProblemError(f"y {row_name(i)} is {y[i]}, labels must be +1 or -1")
    bad = np.flatnonzero((y != 1.0) & (y != -1.0))
    if bad.size:
        i = int(bad[0])
        raise ProblemError(f"y {row_name(i)} is {y[i]:g}, labels must be exactly +1 or -1")
    bad = np.flatnonzero(~X.any(axis=1))
    if bad.size:
        raise ProblemError(
            f"X {row_name(int(bad[0]))} is the origin (x = 0), which no direction separates"
        )
    # Row norms far outside float64's comfortable range make the max-margin certificate's exact
    # rationals overflow back to float (1e±308) or γ come out as inf/0: refuse them with a reason.
    top = np.max(np.abs(X), axis=1)
    with np.errstate(over="ignore"):  # a row of entries near 1.8e308 has a norm beyond float64: inf
        norms = np.sqrt(np.sum((X / top[:, None]) ** 2, axis=1)) * top
    bad = np.flatnonzero((norms < MIN_ROW_NORM) | (norms > MAX_ROW_NORM))
    if bad.size:
        i = int(bad[0])
        shown = f"{norms[i]:.3g}" if np.isfinite(norms[i]) else f"{top[i]:.3g}·√{X.shape[1]}, beyond float64's range"
        raise ProblemError(f"X {row_name(i)} has norm {shown}, outside [{MIN_ROW_NORM:g}, {MAX_ROW_NORM:g}]: rescale the data")
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


@dataclass(frozen=True, eq=False)
class Problem:
    """Validated data: X (n×d float64), y (n,) float64 of ±1, and the max-margin solution.

    `max_margin` is None only when the problem was built with
    require_separable=False from data that are not linearly separable.
    The arrays are read-only copies.
    """

    X: np.ndarray
    y: np.ndarray
    max_margin: MaxMargin | None

    @property
    def Z(self) -> np.ndarray:
        """z_i = y_i x_i, shape (n, d)."""
        return self.y[:, None] * self.X

    @property
    def n(self) -> int:
        """Number of points."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.X.shape[1]

    @property
    def max_norm(self) -> float:
        """max_i ‖x_i‖ (the paper assumes ≤ 1)."""
        return float(np.max(np.linalg.norm(self.X, axis=1)))

    @property
    def separable(self) -> bool:
        """True when a max-margin solution exists (γ > 0)."""
        return self.max_margin is not None

    def scaled_to_unit_ball(self) -> tuple[Problem, float]:
        """(the problem with X divided by max_i ‖x_i‖ if that exceeds 1, the factor): every
        ‖x_i‖ ≤ 1 (the paper's convention, which GD's smoothness constant needs); ū and the
        support vectors are unchanged, γ is divided by the factor."""
        X, factor = scale_to_unit_ball(self.X)
        if factor == 1.0:
            return self, 1.0
        return Problem.from_arrays(X, self.y, require_separable=self.max_margin is not None), factor

    @classmethod
    def from_arrays(cls, X: object, y: object, *, require_separable: bool = True) -> Problem:
        """Validate X (n×d) and y (n,) and solve for the max margin.

        Raises ProblemError naming the problem (and the 0-based row) on bad input,
        and on non-separable data when require_separable; without it, non-separable
        data give max_margin = None.
        """
        return cls._build(X, y, require_separable, _row)

    @classmethod
    def _build(
        cls, X: object, y: object, require_separable: bool, row_name: Callable[[int], str]
    ) -> Problem:
        X, y = _validate(X, y, row_name)
        try:
            mm = max_margin(y[:, None] * X)
        except NotSeparableError:
            if require_separable:
                raise
            mm = None
        return cls(X=X, y=y, max_margin=mm)


def scale_to_unit_ball(X: np.ndarray) -> tuple[np.ndarray, float]:
    """(X / factor, factor) with factor = max_i ‖x_i‖ if that exceeds 1, else (copy of X, 1.0).

    After scaling every ‖x_i‖ ≤ 1 holds in float64 (the factor is nudged up by an
    ulp or two when rounding would leave a norm at 1 + 2⁻⁵²). The margin γ and
    the max-margin α scale by 1/factor and factor; ū and the support set do not change.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ProblemError(f"X must be 2-D (n×d), got shape {X.shape}")
    if X.size == 0:
        return X.copy(), 1.0
    top = float(np.max(np.linalg.norm(X, axis=1)))
    if not np.isfinite(top):
        raise ProblemError("X contains a non-finite value")
    if top <= 1.0:
        return X.copy(), 1.0
    factor = top
    for _ in range(8):  # each nudge is one ulp; rounding errors in the norms are a few ulps
        scaled = X / factor
        if np.max(np.linalg.norm(scaled, axis=1)) <= 1.0:
            return scaled, factor
        factor = float(np.nextafter(factor, np.inf))
    raise ProblemError("could not scale X into the unit ball")  # unreachable for finite data


def load_problem(path: str | Path, *, require_separable: bool = True) -> Problem:
    """Load a Problem from `.npz` (arrays X and y) or `.csv` (last column y).

    A csv file is separated by commas, semicolons or tabs; its first line may be a header
    (see _read_csv). Every failure raises ProblemError with one line naming
    the file; csv rows are named with their line in the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        shown = repr(suffix) if suffix else "(none)"
        raise ProblemError(
            f"{path.name}: unsupported data file extension {shown} (expected .npz or .csv)"
        )
    if not path.is_file():
        raise ProblemError(f"{path}: no such data file")
    try:
        if suffix == ".npz":
            X, y, row_name = *_read_npz(path), _row
        else:
            X, y, lines = _read_csv(path)

            def row_name(i: int) -> str:
                return f"row {i} (line {lines[i]})"

        return Problem._build(X, y, require_separable, row_name)
    except ProblemError as exc:
        raise type(exc)(f"{path.name}: {_one_line(exc)}") from None


NPZ_ADVICE = "save with np.savez(path, X=..., y=...)"


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        # Our own file object: np.load leaves a file it opened itself unclosed when the zip
        # directory is unreadable (a ResourceWarning at exit).
        with path.open("rb") as fh:
            magic = fh.read(6)
            if magic == b"\x93NUMPY":
                raise ProblemError(f"not an .npz archive (it looks like a .npy array): {NPZ_ADVICE}")
            if not magic.startswith(b"PK"):  # every zip archive starts with a "PK" record
                what = "the file is empty" if not magic else "no zip signature"
                raise ProblemError(f"cannot read as .npz ({what}: not an .npz archive): {NPZ_ADVICE}")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as data:
                keys = []
                for key in ("X", "y"):  # X or x, y or Y
                    found = [k for k in (key, key.swapcase()) if k in data.files]
                    if not found:
                        shown = ", ".join(data.files) or "nothing"
                        raise ProblemError(f"no array {key!r} (or {key.swapcase()!r}) in the file (found: {shown}): {NPZ_ADVICE}")
                    if len(found) > 1:
                        raise ProblemError(f"both {found[0]!r} and {found[1]!r} are in the file: keep one of them")
                    keys.append(found[0])
                for key in keys:
                    _check_declared_size(data.zip, key)
                return data[keys[0]], data[keys[1]]
    except ProblemError:
        raise
    # zlib.error: a corrupt compressed member (np.savez_compressed); NotImplementedError: a zip
    # compression method Python cannot read; RuntimeError: an encrypted member.
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ProblemError(f"cannot read as .npz ({_one_line(exc)})") from None


def _check_declared_size(archive: zipfile.ZipFile, key: str) -> None:
    """ProblemError if the .npy header of member ``key`` declares more data than the member holds
    (a corrupt or hand-made header): numpy would allocate the declared size before reading, and a
    header claiming 10^12 rows of a 200-byte file fails with MemoryError instead of a message."""
    name = f"{key}.npy" if f"{key}.npy" in archive.namelist() else key
    info = archive.getinfo(name)
    with archive.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fp)
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise ProblemError(f"array {key!r} is truncated or its header is corrupt (the header declares shape {shape}, "
                           f"{declared} bytes, the archive holds {info.file_size}): {NPZ_ADVICE}")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


DELIMITERS = (",", ";", "\t")


def _delimiter(first_line: str) -> str:
    """The field separator of a csv file, from its first non-empty line: the one of DELIMITERS
    that splits it into the most fields (a semicolon-separated export, a tab-separated file)."""
    return max(DELIMITERS, key=lambda c: (first_line.count(c), c == ","))


def _is_header(row: list[str]) -> bool:
    """A first line is a header when some field is not a number and its last field (the label
    column) is not a label: "x1,x2,y" and "0,1,2,3,y" are headers, "0.5,abc,1" is a data row with
    a typo (reported as such)."""
    return not all(_is_number(f) for f in row) and row[-1].strip() not in ("1", "-1", "+1", "1.0", "-1.0")


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Rows of a csv file: separated by commas, semicolons or tabs (the most frequent in the first
    line), an optional header, decimal commas in a semicolon-separated file, one trailing empty
    field on every line (a trailing separator) dropped; a leading index column (empty first header
    field, values 0, 1, 2, ...: what pandas writes by default) refused with advice."""
    try:
        # utf-8-sig: a leading byte-order mark (spreadsheet exports write one) is not part of the first field.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"cannot read as .csv ({_one_line(exc)})") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _delimiter(first)
    try:
        records = [(i + 1, row) for i, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter))]
    except csv.Error as exc:
        raise ProblemError(f"cannot read as .csv ({_one_line(exc)})") from None
    records = [(line, row) for line, row in records if any(f.strip() for f in row)]
    if records and all(len(row) > 1 and not row[-1].strip() for _, row in records):
        records = [(line, row[:-1]) for line, row in records]  # a trailing separator on every line
    if delimiter == ";":  # decimal commas: "0,5;1,25;1"
        records = [(line, [f.replace(",", ".") if "." not in f else f for f in row]) for line, row in records]
    header = None
    if records and _is_header(records[0][1]):
        header, records = records[0][1], records[1:]
    if not records:
        raise ProblemError("no data rows")
    width = len(records[0][1])
    if width < 2:
        raise ProblemError(f"line {records[0][0]} has {width} field; need features and a label")
    values, lines = [], []
    for line, row in records:
        if len(row) != width:
            raise ProblemError(f"line {line} has {len(row)} fields, expected {width}")
        try:
            values.append([float(f) for f in row])
        except ValueError:
            bad = next(f for f in row if not _is_number(f))
            raise ProblemError(f"line {line} has a non-numeric field {bad.strip()!r}") from None
        lines.append(line)
    data = np.array(values, dtype=np.float64)
    if header is not None and not header[0].strip() and width > 2 and np.array_equal(data[:, 0], np.arange(len(data))):
        raise ProblemError("the first column looks like an index (no header name, values 0, 1, 2, ...), not a feature: "
                           "remove it, e.g. save with DataFrame.to_csv(path, index=False)")
    return data[:, :-1], data[:, -1], lines
