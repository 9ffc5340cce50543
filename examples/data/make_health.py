"""Writes examples/data/health.csv: the Wisconsin breast cancer data (scikit-learn ships
them; 569 tumours, malignant or benign) with four of its measurements binned into
quartile categories, as health records often keep them (size "q1" to "q4"), next to the
other measurements as numbers. examples/health.yaml looks the binned columns up in
embeddings.

    python examples/data/make_health.py     # the same file every time
"""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

BINNED = ["mean radius", "mean texture", "worst area", "worst concave points"]


def make() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    for column in BINNED:
        bins = pd.qcut(frame[column], 4, labels=["q1", "q2", "q3", "q4"])
        frame[column.replace(" ", "_") + "_band"] = bins.astype(str)
        frame = frame.drop(columns=column)
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


if __name__ == "__main__":
    out = Path(__file__).with_name("health.csv")
    frame = make()
    frame.to_csv(out, index=False)
    print(f"wrote {out}: {len(frame)} rows, {frame.shape[1] - 1} features "
          f"({len(BINNED)} binned)")
