"""Raw files -> a trained run's raw inputs, with the encoding saved in the run.

`predict` and `evaluate --data` read the same kinds of file as training: an .npz of `x`
(and `y`), a table (.csv/.tsv/.parquet) encoded column by column as in training, a text
table tokenised with the training vocabulary, or an image folder (images at its top, or
root/<class>/*.png) decoded at the training size and channels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data.audio import EXTENSIONS as SOUND_FILES
from deepnet.data.audio import decode as decode_sound
from deepnet.data.audio import find_sounds, read_sounds
from deepnet.data.checks import (
    INPUT_ADVICE,
    BadValues,
    check_finite,
    check_not_empty,
    check_numeric,
)
from deepnet.data.encoding import (
    ArrayEncoding,
    Column,
    Encoding,
    ImageEncoding,
    TableEncoding,
    TextEncoding,
    pack_arrays,
)
from deepnet.data.sources import load_npz, load_npz_inputs
from deepnet.data.tables import TABLE_SUFFIXES, file_kind

_KINDS = {"array": "arrays", "table": "tables", "text": "text tables", "image": "images",
          "audio": "sound files", "series": "a series"}
_FOLDERS = {"image": "a folder of images", "audio": "a folder of sound files or one"}


def read_raw(encoding: Encoding | None, path: str | Path, labelled: bool = False
             ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(raw inputs, labels or None, image paths or None) of a file or an image folder."""
    path = Path(path)
    where = str(path)
    encoding = encoding or ArrayEncoding()
    kind = encoding.kind
    trained = f"this run was trained on {_KINDS[kind]}"
    if path.is_dir():
        if kind == "audio":
            return _sounds(encoding, path, labelled)
        if kind != "image":
            raise DataError(f"{where} is a folder, but {trained}; pass a file of that kind")
        return _images(encoding, path, labelled)
    if not path.exists():
        raise DataError(f"{where!r} not found")
    suffix = file_kind(path)
    if kind == "audio" and suffix in SOUND_FILES and not labelled:
        return decode_sound(path, encoding)[None], None, [where]
    if kind in _FOLDERS and suffix != ".npz":
        raise DataError(f"{where}: {trained}; pass {_FOLDERS[kind]} (or an .npz of x)")
    if suffix == ".npz" and getattr(encoding, "inputs", None) is not None:
        arrays, y = load_npz_inputs(path, {n: a.array for n, a in encoding.inputs.items()},
                                    need_y=labelled)
        return _packed(encoding, arrays, where), y, None
    if suffix == ".npz":
        x, y = load_npz(path, need_y=labelled)
        check_numeric(x, where, "x")
        check_finite(x, where, advice=INPUT_ADVICE)
        return x, y, None
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{where}: unknown kind of file; expected .csv, .tsv, .parquet, "
                        ".npz or a folder of images")
    return _table(encoding, path, labelled)


def _target(encoding: Encoding, frame, where: str, labelled: bool) -> str | None:
    target = getattr(encoding, "target", None)  # arrays in a table name no target
    if target is None:
        target = next((c for c in ("target", "label") if c in frame.columns), None)
    if labelled:
        from deepnet.data.tables import require_columns

        if target is None:
            raise DataError(f"{where}: no label column (target or label) to evaluate against")
        require_columns(frame, [target], where, "target")
        missing = np.flatnonzero(frame[target].isna().to_numpy())
        problems = BadValues(where)
        problems.add(len(missing), ((i, f"column {target!r}", "missing label") for i in missing),
                     "fill the labels, or remove those rows")
        problems.raise_all()
    return target


def _table(encoding: Encoding, path: Path, labelled: bool):
    from deepnet.data.tables import read_frame

    return _frame(encoding, read_frame(path), str(path), labelled)


def _packed(encoding: ArrayEncoding, arrays: dict, where: str) -> np.ndarray:
    """The arrays of a model of several inputs as its one input (pack_arrays), checked."""
    for name, a in arrays.items():
        check_numeric(np.asarray(a), where, f"input {name!r}")
    try:
        x = pack_arrays(arrays, encoding.inputs)
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None
    check_finite(x, where, advice=INPUT_ADVICE)
    return x


def given_inputs(encoding: Encoding | None, given, labelled: bool = False,
                 where: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(raw inputs, labels or None) of data passed in Python (deepnet.data.memory): a
    DataFrame or dict of columns is matched to the run's columns by name (order does not
    matter; a missing column is a DataError naming it; other columns are ignored with an
    IgnoredColumnsWarning), `(X, y)` and `{'x': X, 'y': y}` are arrays; unlabelled, X
    alone (an array or tensor) will do."""
    from deepnet.data import memory

    encoding = encoding or ArrayEncoding()
    where = where or f"data ({memory.kind_of(given)})"
    inputs = getattr(encoding, "inputs", None)
    if isinstance(encoding, ArrayEncoding) and inputs is not None and isinstance(given, dict):
        missing = [n for n in inputs if n not in given]
        if missing:
            raise DataError(f"{where}: this run takes the inputs {', '.join(inputs)} (a dict "
                            f"of an array per input); missing {', '.join(missing)}")
        x = _packed(encoding, {n: memory.as_array(given[n], where) for n in inputs}, where)
        labels = given.get("y") if labelled else None
        if labelled and labels is None:
            raise DataError(f"{where}: labelled data need the labels under 'y'")
        return x, None if labels is None else memory.as_array(labels, where)
    if not memory.is_table(given):
        if not labelled:
            return memory.as_array(given, where), None  # X alone
        pair = memory.pair_of(given)
        if pair is None:
            raise DataError(f"{where}: labelled data are a DataFrame with the target column, "
                            f"(X, y) or {{'x': X, 'y': y}}; got {type(given).__name__}")
        x, y = (memory.as_array(v, where) for v in pair)
        memory.check_rows(len(x), y, where)
        return x, y
    pair = memory.pair_of(given)  # (X, y) with X a DataFrame: y gives the labels
    frame = memory.check_columns(pair[0], where) if pair is not None else \
        memory.as_frame(given, where)
    if encoding.kind == "image":
        raise DataError(f"{where}: this run was trained on images; pass an array of them "
                        f"{'with labels ' if labelled else ''}instead of a table")
    known = {encoding.column} if isinstance(encoding, TextEncoding) else \
        {c.name for c in encoding.columns} if isinstance(encoding, TableEncoding) else set()
    target = _target(encoding, frame, where, labelled and pair is None)
    extra = [c for c in frame.columns if known and c not in known and c != target]
    if extra:
        warnings.warn(f"{where}: column{'s' if len(extra) > 1 else ''} "
                      f"{', '.join(map(repr, extra[:10]))}"
                      f"{f' and {len(extra) - 10} more' if len(extra) > 10 else ''} "
                      "ignored: the model was not trained on "
                      f"{'them' if len(extra) > 1 else 'it'}", IgnoredColumnsWarning,
                      stacklevel=4)  # the caller of run.predict
    x, labels, _ = _frame(encoding, frame.reset_index(drop=True), where,
                          labelled and pair is None, empty=not labelled)
    if labelled and pair is not None:
        labels = memory.as_array(pair[1], where)
        memory.check_rows(len(x), labels, where)
    return x, labels


class IgnoredColumnsWarning(UserWarning):
    """Columns given to a trained run that its model does not take."""


def _frame(encoding: Encoding, frame, where: str, labelled: bool, empty: bool = False):
    """(inputs, labels or None, None) of a table; `empty`: no rows are no error (a
    prediction of nothing)."""
    from deepnet.data.tables import encode_frame, require_columns

    if not empty:
        check_not_empty(len(frame), where)
    target = _target(encoding, frame, where, labelled)
    labels = frame[target].to_numpy() if labelled else None
    if isinstance(encoding, TextEncoding):
        from deepnet.data.text import Tokenizer, check_words, encode_texts, tokenize

        require_columns(frame, [encoding.column], where, "text")
        texts = frame[encoding.column].fillna("").to_numpy()
        check_words(texts, [tokenize(t) for t in texts], where, encoding.column)
        docs = Tokenizer.of(encoding).docs(texts)
        return encode_texts(docs, encoding.vocab, encoding.max_len), labels, None
    if isinstance(encoding, TableEncoding):
        return encode_frame(frame, encoding.columns, where), labels, None
    columns = [Column(c) for c in frame.columns if c != target]
    return encode_frame(frame, columns, where), labels, None


def _images(encoding: ImageEncoding, root: Path, labelled: bool):
    from deepnet.data.images import decode, find_images

    paths, labels = find_images(root)
    check_not_empty(len(paths), str(root), "images (.png, .jpg, .jpeg)")
    if labelled and labels is None:
        raise DataError(f"{root}: labelled images are root/<class>/*.png; found images with "
                        "no class folder")
    x = np.stack([decode(p, tuple(encoding.size), encoding.channels) for p in paths])
    return x, (np.asarray(labels, dtype=object) if labels is not None else None), \
        [str(p) for p in paths]


def _sounds(encoding, root: Path, labelled: bool):
    """The sound files of a folder (root/*.wav, or root/<class>/*.wav with their class
    names), decoded as in training."""
    paths, labels = find_sounds(root)
    check_not_empty(len(paths), str(root), "sound files (.wav, .flac, .ogg)")
    if labelled and labels is None:
        raise DataError(f"{root}: labelled sound files are root/<class>/*.wav; found files "
                        "with no class folder")
    return read_sounds(paths, encoding), \
        (np.asarray(labels, dtype=object) if labels is not None else None), \
        [str(p) for p in paths]
