"""Export the real data sets aligncheck's tests and examples use, from the copies scikit-learn ships
(no download): run once with scikit-learn installed (the `bench` extra); the files are committed.

    python tools/export_datasets.py [OUT_DIR]      (default: tests/data)

- iris_setosa_versicolor.csv: iris classes 0 (setosa, y = +1) and 1 (versicolor, y = −1), the 4 raw
  features (cm), a header line; n = 100, d = 4; max‖x_i‖ ≈ 9.2 (raw, not in the unit ball).
- digits_0_vs_1.npz: digits 0 (y = +1) and 1 (y = −1), the 64 raw pixel intensities (0–16);
  n = 360, d = 64.
- breast_cancer.npz: malignant (y = +1) and benign (y = −1), the 30 raw features; n = 569, d = 30.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn import datasets


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    iris = datasets.load_iris()
    keep = iris.target < 2
    X, y = iris.data[keep], np.where(iris.target[keep] == 0, 1.0, -1.0)
    header = ",".join(n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names) + ",y"
    np.savetxt(out / "iris_setosa_versicolor.csv", np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.10g")
    digits = datasets.load_digits()
    keep = digits.target < 2
    np.savez_compressed(out / "digits_0_vs_1.npz", X=digits.data[keep].astype(float), y=np.where(digits.target[keep] == 0, 1.0, -1.0))
    bc = datasets.load_breast_cancer()
    np.savez_compressed(out / "breast_cancer.npz", X=bc.data.astype(float), y=np.where(bc.target == 0, 1.0, -1.0))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "data")
