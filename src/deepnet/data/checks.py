"""Checks of the data before any training. Each problem is a DataError that names the
file and, where they apply, the row (0-based, in the source), the column and the value."""

from __future__ import annotations

import numpy as np

from deepnet.core.errors import DataError

# An integer-valued target with at most this many distinct values is read as classes
# when the spec gives no task.
MAX_INFERRED_CLASSES = 50


def source_row(rows: np.ndarray | None, i: int) -> int:
    """The row in the source file of the i-th row kept."""
    return int(rows[i]) if rows is not None else int(i)


def check_not_empty(n: int, where: str, what: str = "rows") -> None:
    if n == 0:
        raise DataError(f"{where}: the data set is empty (no {what} found); "
                        "a data source needs at least a few labelled samples")


def check_numeric(x: np.ndarray, where: str, name: str = "x") -> None:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where}: {name} must hold numbers; got an array of {x.dtype}")


def check_finite(x: np.ndarray, where: str, rows: np.ndarray | None = None,
                 names: list[str] | None = None) -> None:
    """DataError naming the first NaN or infinite value in `x` (N, ...)."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    pos = np.argwhere(bad)[0]
    row, rest = source_row(rows, int(pos[0])), tuple(int(p) for p in pos[1:])
    if names is not None and len(rest) == 1:
        place = f"column {names[rest[0]]!r}"
    elif len(rest) == 1:
        place = f"feature {rest[0]}"
    else:
        place = f"position {rest}"
    count = int(bad.sum())
    more = f" ({count} such values in all)" if count > 1 else ""
    raise DataError(f"{where}: row {row}, {place}: value {float(x[tuple(pos)])!r} is not a finite "
                    f"number{more}. Features must be finite: fix or remove those rows"
                    " (tables can use data.missing: drop or impute for empty cells).")


def label_key(v) -> str:
    """A class name for a label value: 1, 1.0 and '1' are all '1'."""
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def as_numbers(values: np.ndarray) -> np.ndarray:
    """Values as float64, NaN where one is not a number."""
    if np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        return values.astype(np.float64)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def encode_target(values: np.ndarray, task: str | None, where: str, column: str = "y",
                  rows: np.ndarray | None = None) -> tuple[np.ndarray, list[str], str]:
    """(targets, class names, task) from raw label values without missing ones.

    With no task given: numbers that are all whole with few distinct values are classes,
    other numbers a regression, anything else classes."""
    values = np.asarray(values)
    if values.ndim != 1:
        if task == "regression" or (task is None and np.issubdtype(values.dtype, np.floating)):
            check_numeric(values, where, column)
            check_finite(values, where, rows)
            return values.astype(np.float32), [], "regression"
        raise DataError(f"{where}: {column} must hold one label per row; got shape "
                        f"{values.shape}")
    numbers = as_numbers(values)
    numeric = bool(np.isfinite(numbers).all())
    if task is None:
        whole = numeric and bool((numbers == np.round(numbers)).all())
        few = len(np.unique(numbers)) <= MAX_INFERRED_CLASSES if numeric else True
        task = "classification" if not numeric or (whole and few) else "regression"
    if task == "regression":
        bad = np.flatnonzero(~np.isfinite(numbers))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{where}: row {source_row(rows, i)}, column {column!r}: the regression target "
                f"{values[i]!r} is not a finite number; a regression needs numeric targets "
                "(or set task: classification)")
        return numbers.astype(np.float32), [], "regression"
    keys = np.asarray([label_key(v) for v in values], dtype=object)
    names = sorted(set(keys), key=lambda k: (float(k), k) if _is_number(k) else (np.inf, k))
    index = {k: i for i, k in enumerate(names)}
    return np.asarray([index[k] for k in keys], dtype=np.int64), names, "classification"


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def check_model_input(x_dtype, input_shape: tuple[int, ...], first: str, args, where: str,
                      max_id: int | None = None) -> None:
    """Token ids need an embedding first, numbers anything but; the vocabulary must fit."""
    integer = np.issubdtype(x_dtype, np.integer)
    if integer and first != "embedding":
        raise DataError(f"{where}: the data are token ids of shape {input_shape} per sample, "
                        f"but model.layers[0] is {first}; start the model with "
                        "`- embedding: {vocab: ..., dim: ...}`")
    if not integer and first == "embedding":
        raise DataError(f"{where}: the data are numbers of shape {input_shape} per sample, but "
                        "model.layers[0] is an embedding, which takes integer token ids "
                        "(a text table: set data.text)")
    if integer and max_id is not None and max_id >= args.vocab:
        raise DataError(f"{where}: token ids go up to {max_id}, so the vocabulary has "
                        f"{max_id + 1} ids, but model.layers[0].embedding.vocab is "
                        f"{args.vocab}; set it to at least {max_id + 1}")
