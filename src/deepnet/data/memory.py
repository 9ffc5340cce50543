"""Data handed over in Python instead of a file: a pandas DataFrame, an `(X, y)` pair of
numpy arrays or torch tensors, or a dict of arrays.

    DataFrame           a table, as a .csv of it would be read (data.target names the
                        target column, default target or label)
    (X, y)              arrays, as an .npz of x and y would be read; X a DataFrame makes
                        a table of X's columns and y (the target column is y's name, or
                        `target`)
    {"x": X, "y": y}    the same as (X, y)
    {column: values}    a table of those columns

Each becomes the Dataset its file would give, so that training from memory and from the
file gives the same weights. `describe` is what a run records of them (kind, shape,
dtypes, a SHA-256 of the content), never the data themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from deepnet.core.errors import DataError
from deepnet.core.lazy import is_frame, lazy
from deepnet.data.checks import (
    check_finite,
    check_not_empty,
    check_numeric,
    encode_target,
    typed_labels,
)
from deepnet.data.dataset import Dataset

pd = lazy("pandas")

SOURCE = "memory"  # data.source of a run trained on data passed in Python
EXPECTED = ("a pandas DataFrame, an (X, y) pair of numpy arrays or torch tensors, or a dict "
            "of arrays ({'x': X, 'y': y} or {column: values})")


def is_given(data: Any) -> bool:
    """Whether `data` is data handed over in memory (not a path, not None)."""
    return data is not None and not isinstance(data, str | bytes) and \
        not hasattr(data, "__fspath__")


def as_array(values: Any, where: str) -> np.ndarray:
    """numpy arrays, torch tensors (on any device, of any dtype), pandas objects and
    lists as a numpy array."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        values = values.detach().cpu()
        if str(values.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            values = values.float()
        return values.numpy()
    if is_frame(values, ("DataFrame", "Series")):
        return values.to_numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: not an array ({type(values).__name__}): {e}") from None


def check_rows(x: int, y: np.ndarray, where: str) -> None:
    """y holds one label per row of x (`x` rows)."""
    if y.ndim == 0:
        raise DataError(f"{where}: y must hold one label per row of X ({x} rows); got "
                        f"{'None' if y.dtype == object and y.item() is None else 'a scalar'}")
    if len(y) != x:
        raise DataError(f"{where}: X has {x} rows but y has {len(y)}; they must have one "
                        "label per row of X")


def check_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The frame with its column names as strings (as a CSV header gives them); a
    DataError naming the names that repeat."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise DataError(f"{where}: column names must be unique; repeated: {repeated}")
    return frame.set_axis(names, axis=1)


def pair_of(given: Any) -> tuple[Any, Any] | None:
    """(X, y) of a pair or of {'x': X, 'y': y}; None for anything else."""
    if isinstance(given, tuple | list) and len(given) == 2:
        return given[0], given[1]
    if isinstance(given, Mapping) and set(given) == {"x", "y"}:
        return given["x"], given["y"]
    return None


def is_table(given: Any) -> bool:
    """Whether `given` is a table: a DataFrame, a dict of columns, or (X, y) with X a
    DataFrame."""
    pair = pair_of(given)
    if pair is not None:
        return is_frame(pair[0])
    return is_frame(given) or isinstance(given, Mapping)


def target_name(y: Any, target: str | None) -> str:
    """The column y becomes beside a DataFrame X: data.target, else y's name, else
    `target`."""
    return target or str(getattr(y, "name", None) or "target")


def as_frame(given: Any, where: str, target: str | None = None) -> pd.DataFrame | None:
    """The table `given` stands for (a DataFrame, a dict of columns, or X a DataFrame
    with y as the column target_name), column names as strings; None when it is arrays."""
    pair = pair_of(given)
    if pair is not None:
        x, y = pair
        if not is_frame(x):
            return None
        x = check_columns(x, where)
        name = target_name(y, target)
        if name in x.columns:
            raise DataError(f"{where}: X already has a column {name!r}, the name of y; "
                            "rename one of them")
        y = as_array(y, where)
        check_rows(len(x), y, where)
        if y.ndim != 1:
            raise DataError(f"{where}: y must hold one label per row of X; got shape {y.shape}")
        return x.assign(**{name: y})
    if is_frame(given):
        return check_columns(given, where)
    if isinstance(given, Mapping):
        columns = {str(k): as_array(v, f"{where}, column {k!r}") for k, v in given.items()}
        bad = {k: v.shape for k, v in columns.items() if v.ndim != 1}
        if bad:
            raise DataError(f"{where}: a dict of columns needs one value per row in each; "
                            + ", ".join(f"{k!r} has shape {s}" for k, s in bad.items())
                            + " (for arrays pass {'x': X, 'y': y} or (X, y))")
        if len({len(v) for v in columns.values()}) > 1:
            raise DataError(f"{where}: the columns have different lengths: "
                            + ", ".join(f"{k!r} {len(v)}" for k, v in columns.items()))
        return pd.DataFrame(columns)
    raise DataError(f"data: expected {EXPECTED}; got {type(given).__name__}")


def kind_of(given: Any) -> str:
    """How messages name the data: DataFrame, (X, y) or dict."""
    if is_frame(given):
        return "DataFrame"
    return "dict" if isinstance(given, Mapping) and pair_of(given) is None else "(X, y)"


def load_memory(data, given: Any, task: str | None = None) -> Dataset:
    """The Dataset of data handed over in Python, read as its file would be
    (data.tables.load_frame, data.text, arrays_dataset). Beside a DataFrame X, y is the
    target column (data.target, else y's name or `target`)."""
    from deepnet.data.tables import load_frame
    from deepnet.data.text import load_text_frame

    where = f"data ({kind_of(given)})"
    frame = as_frame(given, where, data.target)
    if frame is not None:
        pair = pair_of(given)
        if pair is not None and data.target is None:
            data = data.model_copy(update={"target": target_name(pair[1], None)})
        load = load_text_frame if data.text is not None else load_frame
        return load(data, frame.reset_index(drop=True), where, task)
    x, y = (as_array(v, where) for v in pair_of(given))
    if x.ndim == 0:
        raise DataError(f"{where}: X must have one row per sample; got a scalar")
    check_rows(len(x), y, where)
    return arrays_dataset(x, y, where, task)


def describe(given: Any) -> dict[str, Any]:
    """What a run records of in-memory data: kind, rows, shape or columns and dtypes,
    and a SHA-256 of the content (the same data give the same hash)."""
    where = f"data ({kind_of(given)})"
    digest = hashlib.sha256()
    frame = as_frame(given, where)
    if frame is not None:
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        for name, column in frame.items():
            try:
                digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy())
            except TypeError:
                raise DataError(f"{where}: column {name!r} holds values that are not numbers, "
                                "strings or booleans (lists, dicts, ...); a table cell holds "
                                "one value") from None
        return {"kind": kind_of(given), "rows": len(frame),
                "columns": {str(c): str(t) for c, t in frame.dtypes.items()},
                "sha256": digest.hexdigest()}
    arrays = [as_array(v, where) for v in pair_of(given)]
    for a in arrays:
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        if a.dtype == object:
            digest.update(repr(a.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(a).tobytes())
    return {"kind": kind_of(given), "rows": len(arrays[0]) if arrays[0].ndim else 0,
            "shape": {"x": list(arrays[0].shape), "y": list(arrays[1].shape)},
            "dtypes": {"x": str(arrays[0].dtype), "y": str(arrays[1].dtype)},
            "sha256": digest.hexdigest()}


def arrays_dataset(x: np.ndarray, y: np.ndarray, where: str, task: str | None = None
                   ) -> Dataset:
    """Arrays x (N, ...) and y (N,): tables (N, F), sequences (N, T, F), images (N, C, H, W)."""
    check_not_empty(len(x), where)
    check_numeric(x, where, "x")
    if x.ndim < 2:
        raise DataError(f"{where}: x has shape {x.shape}; it needs a row per sample and at "
                        "least one feature axis, e.g. (N, features) or (N, time, features)")
    check_finite(x, where)  # before float32, which would make 1e308 inf
    if np.issubdtype(x.dtype, np.floating) or x.dtype == bool:
        x = x.astype(np.float32)
    if y.dtype == object:  # labels passed in Python as a list or an object array
        plain = (str, bool, int, float, np.bool_, np.integer, np.floating)
        if not all(isinstance(v, plain) for v in y.ravel()):
            raise DataError(f"{where}: y must hold real numbers or strings; got "
                            f"{type(next(v for v in y.ravel() if not isinstance(v, plain))).__name__}")
        if all(isinstance(v, str) for v in y.ravel()):
            y = y.astype(str)
    elif np.issubdtype(y.dtype, np.complexfloating):
        raise DataError(f"{where}: y must hold real numbers or strings; got {y.dtype}")
    check_finite(y, where, advice="the labels y must be finite numbers within ±3.4e+38: fix "
                                  "or remove those rows")
    labels = y
    y, classes, task = encode_target(y, task, where, "y")
    return Dataset(x, y, task, classes, where, labels=typed_labels(labels, classes))
