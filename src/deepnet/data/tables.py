"""CSV and Parquet tables: numeric and categorical columns, a target, missing values.

Numeric columns are taken as they are; a column of text is categorical, one-hot encoded
when it has at most `data.onehot_max` categories and ordinal-coded (categories in sorted
order, 0, 1, 2, ...) otherwise; `data.categorical: {column: onehot|ordinal}` overrides the
choice, and also makes a numeric column categorical. Categories come from all rows (an
unknown category at predict time is all zeros one-hot, -1 ordinal); imputed values
(`missing: impute`: median of a numeric column, most frequent category) from the training
rows only. Rows are numbered from 0, the header not counted.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError, did_you_mean
from deepnet.core.lazy import lazy
from deepnet.data import interactions
from deepnet.data.checks import (
    BadValues,
    check_not_empty,
    encode_target,
    label_key,
    not_float32,
    number_problem,
    shown,
    typed_labels,
)
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import Column, TableEncoding
from deepnet.data.given import PART, mark_frame, split_columns

pd = lazy("pandas")

# the files read_frame reads, by file_kind
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".csv.gz", ".tsv.gz")


def file_kind(path: str | Path) -> str:
    """A file's kind by its suffix, lowercased; a gzip-compressed table keeps its own
    (`.csv.gz`, `.tsv.gz`), which pandas decompresses."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if len(suffixes) == 2 and suffixes[1] == ".gz" and suffixes[0] in (".csv", ".tsv"):
        return "".join(suffixes)
    return path.suffix.lower()


def read_frame(path: str | Path) -> pd.DataFrame:
    """A table from a .csv, .tsv or .parquet file; DataError when it cannot be read."""
    path = Path(path)
    where = str(path)
    suffix = file_kind(path)
    sep = "\t" if suffix.startswith(".tsv") else ","
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            _check_header(pq.read_schema(path).names, where)  # pyarrow's read would fail
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=sep)
            # pandas renames a repeated header ('a', 'a.1'): check the header as written
            _check_header(pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str,
                                      keep_default_na=False).iloc[0].tolist(), where)
    except FileNotFoundError:
        raise DataError(f"{where!r} not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}: the data set is empty (the file has no header and no "
                        "rows)") from None
    except ImportError as e:
        raise DataError(f"{where}: reading Parquet needs pyarrow ({e}); run `make setup`") from None
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise DataError(f"{where}: not a readable {suffix.lstrip('.') or 'table'} file: "
                        f"{str(e).strip()}") from None
    except Exception as e:  # pyarrow raises its own error types for corrupt files
        if type(e).__module__.startswith("pyarrow"):
            raise DataError(f"{where}: not a readable Parquet file: {e}") from None
        raise
    frame.columns = [str(c) for c in frame.columns]
    _check_header(list(frame.columns), where)
    return frame


def _check_header(names: list[str], where: str) -> None:
    """DataError naming each column name the header repeats, with its column numbers (from
    1); empty names are left to pandas, which numbers them ('Unnamed: 3')."""
    repeated = {n: [i + 1 for i, m in enumerate(names) if m == n]
                for n in names if n != "" and names.count(n) > 1}
    if repeated:
        raise DataError(f"{where}: column names must be unique, but the header repeats "
                        + "; ".join(f"{n!r} (columns {', '.join(map(str, cols))})"
                                    for n, cols in repeated.items())
                        + "; rename the columns so that each name is used once")


def _not_utf8(path: Path, error: UnicodeDecodeError) -> DataError:
    """The error for a table that is not UTF-8 text, naming the first bad byte by line
    (the header is line 1) and byte in that line: pandas' own position is within a
    buffer, not the file."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        start, end = error.start, error.end  # not found again: pandas' account
    except UnicodeDecodeError as e:
        start, end = e.start, e.end
    line = data.count(b"\n", 0, start) + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return DataError(f"{path}: not UTF-8 text: line {line} (the header is line 1), byte "
                     f"{column} of that line (byte {start} of the file) is "
                     f"{data[start:end].hex(' ')!r}, which is no UTF-8 character; save the "
                     "file as UTF-8 (e.g. in a spreadsheet: CSV UTF-8)")


def require_columns(frame: pd.DataFrame, names: list[str], where: str, what: str) -> None:
    have = list(frame.columns)
    for name in names:
        if name not in frame.columns:
            raise DataError(f"{where}: no {what} column {name!r}{did_you_mean(name, have)}; "
                            f"the table has columns {', '.join(map(repr, have[:30]))}")


def find_target(data, frame: pd.DataFrame, where: str) -> str:
    if data.target is not None:
        require_columns(frame, [data.target], where, "target")
        return data.target
    for name in ("target", "label"):
        if name in frame.columns:
            return name
    raise DataError(f"{where}: which column is the target? Set data.target to one of "
                    f"{', '.join(map(repr, list(frame.columns)[:30]))}")


def drop_missing(data, frame: pd.DataFrame, used: list[str], target: str, where: str,
                 refused: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Apply data.missing to empty cells; (frame, source rows kept or None). With
    `missing: error` the empty cells of `refused` (default: every used column) are refused
    here; the others are left to encode_frame, which lists them with the other bad values."""
    na = frame[used].isna().to_numpy()
    if not na.any():
        return frame, None
    if data.missing == "error" or (data.missing == "impute" and frame[target].isna().any()):
        cols = [target] if data.missing == "impute" else (used if refused is None else refused)
        cells = np.argwhere(frame[cols].isna().to_numpy())
        hint = ("a missing target cannot be imputed: fill it, or set data.missing: drop"
                if data.missing == "impute" else
                "fill the missing values, or set data.missing: drop (skip such rows) or impute")
        problems = BadValues(where)
        problems.add(len(cells), ((r, f"column {cols[c]!r}", "missing value")
                                  for r, c in cells), hint)
        problems.raise_all()
    if data.missing != "drop":
        return frame, None
    keep = ~na.any(axis=1)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise DataError(f"{where}: every row has a missing value, so data.missing: drop "
                        "leaves no data; use impute or fill the table")
    return frame[keep].reset_index(drop=True), rows


def _numbers(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(np.float64).to_numpy(copy=True)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan,
                                                           copy=True)


def _not_numbers(series: pd.Series, nums: np.ndarray) -> np.ndarray:
    return np.flatnonzero(series.notna().to_numpy() & np.isnan(nums))


# The advice for a value that is not a number in a numeric column, when training and
# when the column is read for a trained run.
TYPO_ADVICE = ("the column is numeric otherwise: fix the values, or list the column under "
               "data.categorical to treat it as categories")
TRAINED_NUMERIC = "the run was trained on the column as numbers: fix the values"


def plan_column(series: pd.Series, name: str, data) -> Column:
    """How one feature column is encoded: numeric, onehot or ordinal. A column of text
    that is mostly numbers is numeric: its other values are typos (encode_frame)."""
    kind, dim = categorical_kind(data, name)
    if kind is None:
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            return Column(name)
        bad = _not_numbers(series, _numbers(series))
        if len(bad) == 0 or len(bad) < int(series.notna().sum()) / 2:  # typos, not categories
            return Column(name)
    categories = sorted({label_key(v) for v in series[series.notna()]})
    if kind is None:
        kind = "onehot" if len(categories) <= data.onehot_max else "ordinal"
    return Column(name, kind, categories, dim=dim)


def categorical_kind(data, name: str) -> tuple[str | None, int | None]:
    """(onehot | ordinal | embedding | None, the embedding's width if given) of a column
    by data.categorical."""
    kind = data.categorical.get(name)
    if kind is None or isinstance(kind, str):
        return kind, None
    return "embedding", kind.embedding


def fit_embeddings(columns: list[Column], frame: pd.DataFrame, train: np.ndarray
                   ) -> list[Column]:
    """Embedded columns with the categories of the training rows only: a category seen
    only in validation or test rows is unknown (the reserved index), as it would be at
    predict time, and no embedding row is left untrained."""
    part = frame.iloc[train]
    return [replace(c, categories=sorted({label_key(v) for v in part[c.name].dropna()}))
            if c.type == "embedding" else c for c in columns]


class UnknownCategoryWarning(UserWarning):
    """Categories a run did not see in training, given to it: looked up at the reserved
    index of its embedding."""


def fit_fills(columns: list[Column], frame: pd.DataFrame, train: np.ndarray) -> list[Column]:
    """Columns with the values that replace missing ones, from the training rows."""
    out = []
    part = frame.iloc[train]
    for col in columns:
        s = part[col.name]
        if col.type == "numeric":
            nums = _numbers(s)
            nums = nums[np.isfinite(nums)]
            fill = float(np.median(nums)) if len(nums) else 0.0
        else:
            counts = s[s.notna()].map(label_key).value_counts()
            fill = str(counts.index[0]) if len(counts) else col.categories[0]
        out.append(replace(col, fill=fill))
    return out


def encode_frame(frame: pd.DataFrame, columns: list[Column], where: str,
                 rows: np.ndarray | None = None, typo_advice: str = TRAINED_NUMERIC,
                 unknown_warning: bool = True) -> np.ndarray:
    """The model's input features (N, width) of a table, as the run's encoding says; one
    DataError lists every cell that is missing (with no fill), not a number in a numeric
    column, or not a finite float32 number. Categories of an embedded column that
    training did not see are counted in one UnknownCategoryWarning (`unknown_warning`)."""
    require_columns(frame, [c.name for c in columns], where, "feature")
    problems = BadValues(where, rows)
    parts = []
    for col in columns:
        name, s = col.name, frame[col.name]
        at = f"column {name!r}"
        missing = s.isna().to_numpy()
        if col.fill is None:
            gaps = np.flatnonzero(missing)
            problems.add(len(gaps), ((i, at, "missing value") for i in gaps),
                         "fill the missing values, or set data.missing: drop (skip such rows) "
                         "or impute")
        if col.type == "numeric":
            v = _numbers(s)
            typos = _not_numbers(s, v)
            problems.add(len(typos), ((i, at, f"{shown(s.iloc[i])} is not a number")
                                      for i in typos), typo_advice)
            huge = np.flatnonzero(~np.isnan(v) & not_float32(v))
            problems.add(len(huge), ((i, at, number_problem(v[i])) for i in huge),
                         "fix or remove those rows")
            if missing.any() and col.fill is not None:
                v[missing] = col.fill
            parts.append(v[:, None])
            continue
        keys = [col.fill if m else label_key(val)
                for m, val in zip(missing, s.to_numpy(), strict=True)]  # fill None: refused
        index = {k: i for i, k in enumerate(col.categories)}
        codes = np.asarray([index.get(k, -1) for k in keys], dtype=np.int64)
        if col.type == "embedding":
            unknown = int((codes < 0).sum())
            if unknown and unknown_warning:
                warnings.warn(f"{where}: {unknown} row{'s' if unknown > 1 else ''} of column "
                              f"{name!r} hold{'' if unknown > 1 else 's'} a category the run "
                              "did not see in training; looked up at its embedding's reserved "
                              "index 0", UnknownCategoryWarning, stacklevel=2)
            parts.append((codes + 1)[:, None].astype(np.float64))
        elif col.type == "ordinal":
            parts.append(codes[:, None].astype(np.float64))
        else:
            onehot = np.zeros((len(codes), len(index)))
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            parts.append(onehot)
    problems.raise_all()
    if not parts:
        return np.zeros((len(frame), 0), np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)


def load_table(data, path: Path, task: str | None = None) -> Dataset:
    """A table file as a Dataset: the encoded features and the target."""
    return load_frame(data, read_frame(path), str(path), task)


def _interactions(data, frame: pd.DataFrame, where: str):
    """(rows of (user, item, label), data with the label as target and the user and item
    columns embedded unless data.categorical says otherwise, the split and the queries)."""
    cfg = data.interactions
    others = [c for cols in (data.inputs or {}).values() for c in cols
              if c not in (cfg.user, cfg.item)]
    if others:
        raise DataError(f"{where}: data.interactions uses the user and item columns only "
                        f"({cfg.user!r}, {cfg.item!r}); data.inputs also asks for "
                        f"{', '.join(map(repr, others))}")
    out, splits, groups = interactions.expand(cfg, frame, where)
    categorical = {cfg.user: "embedding", cfg.item: "embedding", **data.categorical}
    data = data.model_copy(update={"target": interactions.LABEL, "categorical": categorical,
                                   "features": None if data.inputs else [cfg.user, cfg.item]})
    return out, data, {"splits": splits, "groups": groups}


def input_columns(inputs: dict[str, list[str]], frame: pd.DataFrame, where: str) -> list[str]:
    """The feature columns of a model of several inputs, input by input (data.inputs);
    a DataError naming the input and the column when the data lack it, or when two
    inputs take one column."""
    have, owner = list(frame.columns), {}
    for name, columns in inputs.items():
        for c in columns:
            if c in owner:
                raise DataError(f"data.inputs: column {c!r} is taken by both input "
                                f"{owner[c]!r} and input {name!r}; give it to one of them")
            owner[c] = name
            if c not in frame.columns:
                raise DataError(
                    f"{where}: input {name!r} of model.inputs takes column {c!r} "
                    f"(data.inputs.{name}), which the data do not have{did_you_mean(c, have)}; "
                    f"the table has columns {', '.join(map(repr, have[:30]))}. Map each input "
                    f"to its columns with data.inputs: {{{name}: [COLUMN, ...]}}")
    return list(owner)


def _check_kinds(frame: pd.DataFrame, features: list[str], where: str) -> None:
    """A DataFrame's columns of complex numbers, dates or durations (no file read has them)
    are refused: a model takes real numbers and categories."""
    kinds = {"complex numbers": pd.api.types.is_complex_dtype,
             "dates or times": pd.api.types.is_datetime64_any_dtype,
             "durations": pd.api.types.is_timedelta64_dtype}
    bad = [(c, what) for c in features for what, test in kinds.items() if test(frame[c])]
    if bad:
        raise DataError(f"{where}: " + "; ".join(f"column {c!r} holds {what}" for c, what in bad)
                        + ": a model takes real numbers and categories; turn them into numeric "
                        "features (e.g. the real and imaginary parts, the day of the week, "
                        "seconds since a date)")


def load_frame(data, frame: pd.DataFrame, where: str, task: str | None = None) -> Dataset:
    """A table (read from a file, or a user's DataFrame) as a Dataset: the encoded
    features and the target; `where` names it in messages."""
    check_not_empty(len(frame), where)
    given = {}
    if getattr(data, "interactions", None) is not None:
        frame, data, given = _interactions(data, frame, where)
    else:
        frame = mark_frame(data.split, frame, where, read_frame)
    target = find_target(data, frame, where)
    parts = {PART, *split_columns(data.split)}  # columns that place rows, not features
    if data.inputs is not None:
        features = input_columns(data.inputs, frame, where)
    else:
        features = list(data.features) if data.features is not None else [
            c for c in frame.columns if c != target and c not in parts]
    require_columns(frame, features, where, "feature")
    if target in features:
        raise DataError(f"{where}: data.{'inputs' if data.inputs else 'features'} lists the "
                        f"target column {target!r}; a model must not see its own target")
    if not features:
        raise DataError(f"{where}: no feature columns besides the target {target!r}")
    for name in data.categorical:
        if name not in features:
            raise DataError(f"data.categorical: {name!r} is not a feature column of {where}"
                            f"{did_you_mean(name, features)}")
    _check_kinds(frame, features, where)
    frame, rows = drop_missing(data, frame, [*features, target], target, where, [target])
    if PART in frame.columns:
        given["given_parts"] = frame[PART].to_numpy()
    columns = [plan_column(frame[c], c, data) for c in features]
    y, classes, task = encode_target(frame[target].to_numpy(), task, where, target, rows)
    labels = typed_labels(frame[target].to_numpy(), classes)

    refit = data.missing == "impute" or any(c.type == "embedding" for c in columns)

    def build(train: np.ndarray) -> Dataset:
        cols = fit_fills(columns, frame, train) if data.missing == "impute" else columns
        cols = fit_embeddings(cols, frame, train)
        x = encode_frame(frame, cols, where, rows, TYPO_ADVICE, unknown_warning=False)
        encoding = TableEncoding(target, cols, inputs=None if data.inputs is None else {
            name: list(c) for name, c in data.inputs.items()})
        return Dataset(x, y, task, classes, where, rows, encoding,
                       refit=build if refit else None, labels=labels, **given)

    return build(np.arange(len(frame)))
