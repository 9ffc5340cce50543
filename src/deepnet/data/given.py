"""Given splits: `data.split.val` or `data.split.test` as a file of the same form as
data.source (a table with its columns, an .npz of x and y) or as the rows of a table's
column (`{column: fold, value: test}`). Those rows stay in their part; the fractions
split only the other rows. Each row's given part travels with it through the reading of
the data (a column of the table, so that rows dropped for missing values keep it), and
ends as Dataset.given_parts: the part's name, or '' for the rows the fractions split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepnet.core.errors import DataError
from deepnet.core.lazy import lazy

pd = lazy("pandas")

PART = "__deepnet_part__"  # the column carrying each row's given part through a table
PARTS = ("val", "test")


def parts_given(split) -> dict[str, Any]:
    """{part: a file's path or a SplitRows} of the parts the data give, in order."""
    return {p: getattr(split, p) for p in PARTS
            if not isinstance(getattr(split, p), float | int)}


def split_columns(split) -> list[str]:
    """The columns that name parts (not features)."""
    return [g.column for g in parts_given(split).values() if not isinstance(g, str)]


def _file(part: str, path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data.split.{part}: file {path!r} not found", path=f"data.split.{part}")
    return p


def mark_frame(split, frame, where: str, read_frame):
    """The table with the rows of each split file appended (the same columns, in any
    order) and the PART column set; the frame as it is when no part is given."""
    parts = parts_given(split)
    if not parts:
        return frame
    frames, marks = [frame], [np.full(len(frame), "", dtype=object)]
    for part, g in parts.items():
        if isinstance(g, str):
            other = read_frame(_file(part, g))
            if set(other.columns) != set(frame.columns):
                extra = sorted(set(other.columns) - set(frame.columns), key=str)
                lack = sorted(set(frame.columns) - set(other.columns), key=str)
                raise DataError(
                    f"data.split.{part}: {g!r} must have the columns of {where}"
                    + (f"; it also has {extra}" if extra else "")
                    + (f"; it lacks {lack}" if lack else ""), path=f"data.split.{part}")
            frames.append(other[list(frame.columns)])
            marks.append(np.full(len(other), part, dtype=object))
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frame
    mark = np.concatenate(marks)
    for part, g in parts.items():
        if not isinstance(g, str):
            mark = _mark_rows(part, g, out, mark, where)
    return out.assign(**{PART: mark})


def _mark_rows(part: str, rows, frame, mark: np.ndarray, where: str) -> np.ndarray:
    here = f"data.split.{part}"
    if rows.column not in frame.columns:
        raise DataError(f"{here}.column: {where} has no column {rows.column!r}; its columns: "
                        f"{', '.join(map(str, frame.columns))}", path=f"{here}.column")
    values = rows.value if isinstance(rows.value, list) else [rows.value]
    column = frame[rows.column].astype(str)
    present = set(column)
    unknown = [v for v in values if str(v) not in present]
    if unknown:
        shown = sorted(present)[:10]
        raise DataError(f"{here}.value: {unknown} do not occur in column {rows.column!r} of "
                        f"{where}; its values: {shown}{' ...' if len(present) > 10 else ''}",
                        path=f"{here}.value")
    hit = column.isin([str(v) for v in values]).to_numpy()
    taken = hit & (mark != "") & (mark != part)
    if taken.any():
        raise DataError(f"{here}: {int(taken.sum())} rows of column {rows.column!r} are also "
                        f"in another part of the split", path=here)
    mark = mark.copy()
    mark[hit] = part
    return mark


def stack_arrays(split, x: np.ndarray, y: np.ndarray, load, where: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x, y, parts) of arrays with each split file's `load(path) -> (x, y)` appended;
    parts None when no part is given. A column part is refused: arrays have none."""
    parts = parts_given(split)
    if not parts:
        return x, y, None
    xs, ys, marks = [x], [y], [np.full(len(y), "", dtype=object)]
    for part, g in parts.items():
        if not isinstance(g, str):
            raise DataError(f"data.split.{part}: a column names the rows of a part of a "
                            f"table; {where} holds arrays: give the part as an .npz file",
                            path=f"data.split.{part}")
        ox, oy = load(_file(part, g))
        if ox.shape[1:] != x.shape[1:]:
            raise DataError(f"data.split.{part}: {g!r} has samples of shape {ox.shape[1:]}; "
                            f"{where} has {x.shape[1:]}", path=f"data.split.{part}")
        xs.append(ox)
        ys.append(oy)
        marks.append(np.full(len(oy), part, dtype=object))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(marks)
