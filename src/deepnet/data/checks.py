"""Checks of the data before any training. Each problem is a DataError that names the
file and, where they apply, the row (0-based, in the source), the column and the value."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable

import numpy as np

from deepnet.core.errors import DataError

# An integer-valued target with at most this many distinct values is read as classes
# when the spec gives no task.
MAX_INFERRED_CLASSES = 50
MAX_LISTED = 10  # the problems one error names one by one; it counts the rest
F32_MAX = float(np.finfo(np.float32).max)  # models compute in float32: ±3.4e38 at most
FEATURE_ADVICE = ("features must be finite numbers within ±3.4e+38 (32-bit floats): fix or "
                  "remove those rows (tables can use data.missing: drop or impute for empty "
                  "cells)")
INPUT_ADVICE = "inputs must be finite numbers within ±3.4e+38: fix or remove those rows"
TARGET_ADVICE = ("a regression needs finite numbers within ±3.4e+38 as targets: fix or remove "
                 "those rows (or set task: classification)")


def source_row(rows: np.ndarray | None, i: int) -> int:
    """The row in the source file of the i-th row kept."""
    return int(rows[i]) if rows is not None else int(i)


def shown(value) -> str:
    """A value as a message quotes it: 1e+308, 'abc', nan."""
    return repr(value.item() if isinstance(value, np.generic) else value)


class BadValues:
    """The bad values one pass over the data finds, refused together by `raise_all`: one
    DataError that names the first MAX_LISTED by row ('row 7, column 'b': ...', rows of
    the source), counts the rest and gives each kind's advice once."""

    def __init__(self, where: str, rows: np.ndarray | None = None):
        self.where, self.rows = where, rows
        self.found: list[tuple[int, int, str]] = []  # (source row, order found, text)
        self.total = 0
        self.advice: list[str] = []

    def add(self, count: int, found: Iterable[tuple[int, str, str]], advice: str) -> None:
        """`count` problems of one kind; `found` yields each one's (kept row, place or '',
        what is wrong) by row, and is read only as far as a listing could go."""
        if count == 0:
            return
        self.total += count
        for i, place, problem in itertools.islice(found, MAX_LISTED):
            row = source_row(self.rows, int(i))
            at = f"row {row}" + (f", {place}" if place else "")
            self.found.append((row, len(self.found), f"{at}: {problem}"))
        if advice not in self.advice:
            self.advice.append(advice)

    def raise_all(self) -> None:
        if not self.total:
            return
        listed = [text for *_, text in sorted(self.found)[:MAX_LISTED]]
        advice = "; ".join(self.advice)
        if self.total == 1:
            raise DataError(f"{self.where}: {listed[0]}; {advice}")
        more = self.total - len(listed)
        lines = [*listed, *([f"... and {more} more ({self.total} in all)"] if more else [])]
        raise DataError(f"{self.where}: {self.total} problems:\n"
                        + "\n".join(f"  {line}" for line in lines) + f"\n{advice}")


def not_float32(values: np.ndarray) -> np.ndarray:
    """True where a value is no finite float32 number: NaN, infinite, beyond ±F32_MAX."""
    with np.errstate(invalid="ignore"):
        return ~(np.abs(values) <= F32_MAX)


def number_problem(value: float) -> str:
    """What is wrong with a value that not_float32 flags."""
    if np.isfinite(value):
        return (f"value {shown(value)} is too large: beyond ±3.4e+38, the range of the 32-bit "
                "floats models compute in")
    return f"value {shown(value)} is not a finite number"


def check_not_empty(n: int, where: str, what: str = "rows") -> None:
    if n == 0:
        raise DataError(f"{where}: the data set is empty (no {what} found); "
                        "a data source needs at least a few labelled samples")


def check_numeric(x: np.ndarray, where: str, name: str = "x") -> None:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where}: {name} must hold numbers; got an array of {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{where}: {name} must hold real numbers; got complex ones ({x.dtype}): "
                        "pass the real part (x.real), or the real and imaginary parts as "
                        "separate features")


def check_finite(x: np.ndarray, where: str, rows: np.ndarray | None = None,
                 names: list[str] | None = None, advice: str = FEATURE_ADVICE) -> None:
    """DataError listing the values of `x` (N, ...) that are no finite float32 number (NaN,
    infinite, or too large), each by row and column, feature or position."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad = not_float32(x)
    if not bad.any():
        return
    if names is not None and (x.ndim != 2 or len(names) != x.shape[1]):
        names = None

    def place(pos: tuple[int, ...]) -> str:
        if names is not None and len(pos) == 1:
            return f"column {names[pos[0]]!r}"
        if len(pos) == 1:
            return f"feature {pos[0]}"
        return f"position {pos}" if pos else ""

    def found():
        for r in np.flatnonzero(bad.reshape(len(x), -1).any(axis=1)):
            for pos in np.argwhere(bad[r]):
                pos = tuple(int(p) for p in pos)
                yield int(r), place(pos), number_problem(float(x[(r, *pos)]))

    problems = BadValues(where, rows)
    problems.add(int(bad.sum()), found(), advice)
    problems.raise_all()


def warn_outside(x: np.ndarray, bounds, where: str = "inputs",
                 names: list[str] | None = None) -> None:
    """An InputRangeWarning naming the rows of `x` (N, ...) with a value outside
    `bounds` (the training inputs' [min, max]; None: no check) and, given the `names` of
    x's columns, the columns."""
    if bounds is None or not np.issubdtype(x.dtype, np.floating) or not len(x):
        return
    lo, hi = bounds
    flat = x.reshape(len(x), -1)
    outside = (flat < lo) | (flat > hi)
    out = np.flatnonzero(outside.any(axis=1))
    if len(out) == 0:
        return
    if names is not None and len(names) == flat.shape[1]:
        columns = dict.fromkeys(names[c] for c in np.flatnonzero(outside.any(axis=0)))
        where += f", column{'s' if len(columns) > 1 else ''} " + ", ".join(map(repr, columns))
    named = ", ".join(str(int(r)) for r in out[:MAX_LISTED])
    more = f" and {len(out) - MAX_LISTED} more" if len(out) > MAX_LISTED else ""
    rows = f"row {named} has" if len(out) == 1 else f"rows {named}{more} ({len(out)} in all) have"
    warnings.warn(
        f"{where}: {rows} values outside the range of the training inputs saved with the "
        f"model, [{lo:.6g}, {hi:.6g}] (these inputs range from {float(flat.min()):.6g} to "
        f"{float(flat.max()):.6g}): the model never saw such values, so its predictions there "
        "are extrapolations", InputRangeWarning, stacklevel=3)


class InputRangeWarning(UserWarning):
    """Inputs outside the range of the data the model was trained on."""


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
            check_finite(values, where, rows, advice=TARGET_ADVICE)
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
        bad = np.flatnonzero(not_float32(numbers))
        problems = BadValues(where, rows)
        problems.add(len(bad), ((i, f"column {column!r}", "the regression target " + (
            f"{shown(values[i])} is not a number" if np.isnan(numbers[i])
            else number_problem(numbers[i]))) for i in bad), TARGET_ADVICE)
        problems.raise_all()
        return numbers.astype(np.float32), [], "regression"
    keys = np.asarray([label_key(v) for v in values], dtype=object)
    names = sorted(set(keys), key=lambda k: (float(k), k) if _is_number(k) else (np.inf, k))
    check_classes(names, where, f"the target {column!r}", "add rows of the other classes, or "
                  "set data.target to the column to predict")
    index = {k: i for i, k in enumerate(names)}
    return np.asarray([index[k] for k in keys], dtype=np.int64), names, "classification"


def typed_labels(values: np.ndarray, names: list[str]) -> list | None:
    """The label value of each class name as the data gave it (the first value of each
    class, as a plain Python scalar): ints stay ints, strings strings. None (the names
    are the labels) for a regression, for labels that are not all numbers and booleans
    or all strings (a mix, dates, tuples), which come back as their names."""
    if not names:
        return None
    first: dict[str, object] = {}
    for v in np.asarray(values, dtype=object).ravel():
        key = label_key(v)
        if key not in first:
            v = v.item() if isinstance(v, np.generic) else v
            first[key] = v.decode(errors="replace") if isinstance(v, bytes) else v
            if len(first) == len(names):
                break
    labels = [first[n] for n in names]
    kinds = {str if isinstance(v, str) else "number" if isinstance(v, bool | int | float)
             else None for v in labels}
    return labels if len(kinds) == 1 and None not in kinds else None


def check_classes(names: list[str], where: str, what: str, fix: str) -> None:
    """A classification needs two classes at least: a DataError naming the only one."""
    if len(names) == 1:
        raise DataError(f"{where}: {what} has only one class, {names[0]!r}; a classifier "
                        f"learns to tell classes apart and needs examples of two at least: "
                        f"{fix}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


TOKEN_LAYERS = ("embedding", "embeddingbag")  # the layer types that take token ids


def check_model_input(x_dtype, input_shape: tuple[int, ...], first: str, args, where: str,
                      max_id: int | None = None) -> None:
    """Token ids need an embedding (or embeddingbag) first, numbers anything but; the
    vocabulary must fit."""
    integer = np.issubdtype(x_dtype, np.integer)
    if integer and first not in TOKEN_LAYERS:
        raise DataError(f"{where}: the data are token ids of shape {input_shape} per sample, "
                        f"but model.layers[0] is {first}; start the model with "
                        "`- embedding: {vocab: ..., dim: ...}` (or `- embeddingbag: ...`)")
    if not integer and first in TOKEN_LAYERS:
        raise DataError(f"{where}: the data are numbers of shape {input_shape} per sample, but "
                        f"model.layers[0] is an {first}, which takes integer token ids "
                        "(a text table: set data.text)")
    if integer and max_id is not None and max_id >= args.vocab:
        raise DataError(f"{where}: token ids go up to {max_id}, so the vocabulary has "
                        f"{max_id + 1} ids, but model.layers[0].{first}.vocab is "
                        f"{args.vocab}; set it to at least {max_id + 1}")
