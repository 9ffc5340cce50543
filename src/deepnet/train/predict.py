"""`deepnet predict`: raw inputs in, a CSV of classes and probabilities out."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from deepnet.train.api import load_npz
from deepnet.train.runs import Run, load


def read_inputs(run: Run, path: str | Path):
    """Raw inputs from a file, by its suffix."""
    x, _ = load_npz(path)
    return x


def predict_file(run_dir: str | Path, path: str | Path) -> str:
    """CSV text: one row per input, the predicted class and each class's probability."""
    run = load(run_dir)
    x = read_inputs(run, path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if run.task == "regression":
        w.writerow(["row", "prediction"])
        for i, v in enumerate(run.predict(x)):
            w.writerow([i, f"{float(v):.6g}"])
        return buf.getvalue()
    probs = run.predict_proba(x)
    w.writerow(["row", "class", *(f"p_{c}" for c in run.classes)])
    for i, p in enumerate(probs):
        w.writerow([i, run.classes[int(p.argmax())], *(f"{v:.6f}" for v in p)])
    return buf.getvalue()
