"""`deepnet predict`: raw inputs in, a CSV of classes and probabilities out.

Inputs are read with the run's saved encoding (deepnet.data.inputs): an .npz of `x`, a
table or text CSV/Parquet file, or a folder of images. Rows are numbered from 0 in the
input's order; image rows also give the file's path. Inputs that are not finite real
numbers are refused; rows outside the training inputs' range are predicted, with a
warning on stderr that names them.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from pathlib import Path

from deepnet.core.errors import DataError
from deepnet.data.checks import InputRangeWarning
from deepnet.data.encoding import SeriesEncoding
from deepnet.data.inputs import read_raw
from deepnet.runs.load import load
from deepnet.train.decision import decide_probabilities


def predict_file(run_dir: str | Path, path: str | Path) -> str:
    """CSV text: one row per input, the predicted class and each class's probability."""
    run = load(run_dir)
    if isinstance(run.encoding, SeriesEncoding):  # continue the series in the file
        return _forecast(run, path)
    x, _, paths = read_raw(run.encoding, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputRangeWarning)
        text = _predictions(run, x, paths, str(path))
    for w in caught:
        if issubclass(w.category, InputRangeWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:  # not ours: shown as it would have been
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return text


def _forecast(run, path: str | Path) -> str:
    """CSV text: the `horizon` steps after the end of the series in a table file."""
    from deepnet.data.tables import TABLE_SUFFIXES, file_kind, read_frame

    if file_kind(path) not in TABLE_SUFFIXES:
        raise DataError(f"{path}: a forecasting run continues a series in a table file "
                        f"({', '.join(TABLE_SUFFIXES)}) with the column(s) "
                        f"{', '.join(run.encoding.columns)}")
    values = run.forecast(read_frame(path), str(path))
    return "step,forecast\n" + "".join(f"{i + 1},{v:.6g}\n" for i, v in enumerate(values))


def _predictions(run, x, paths: list[str] | None, where: str) -> str:
    first = ["row", "path"] if paths is not None else ["row"]

    def row(i: int) -> list:
        return [i, paths[i]] if paths is not None else [i]

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if run.task == "regression":
        w.writerow([*first, "prediction"])
        for i, v in enumerate(run.predict(x, where)):
            w.writerow([*row(i), f"{float(v):.6g}"])
        return buf.getvalue()
    probs = run.predict_proba(x, where)
    w.writerow([*first, "class", *(f"p_{c}" for c in run.classes)])
    chosen = decide_probabilities(probs, run.meta.threshold)  # the run's threshold, if any
    for i, p in enumerate(probs):
        w.writerow([*row(i), run.classes[int(chosen[i])], *(f"{v:.6f}" for v in p)])
    return buf.getvalue()
