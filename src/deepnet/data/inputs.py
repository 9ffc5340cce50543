"""Raw files -> a trained run's raw inputs, with the encoding saved in the run.

`predict` and `evaluate --data` read the same kinds of file as training: an .npz of `x`
(and `y`), a table (.csv/.tsv/.parquet) encoded column by column as in training, a text
table tokenised with the training vocabulary, or an image folder (images at its top, or
root/<class>/*.png) decoded at the training size and channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
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
)
from deepnet.data.sources import TABLE_SUFFIXES, load_npz

_KINDS = {"array": "arrays", "table": "tables", "text": "text tables", "image": "images"}


def read_raw(encoding: Encoding | None, path: str | Path, labelled: bool = False
             ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(raw inputs, labels or None, image paths or None) of a file or an image folder."""
    path = Path(path)
    where = str(path)
    encoding = encoding or ArrayEncoding()
    kind = encoding.kind
    trained = f"this run was trained on {_KINDS[kind]}"
    if path.is_dir():
        if kind != "image":
            raise DataError(f"{where} is a folder, but {trained}; pass a file of that kind")
        return _images(encoding, path, labelled)
    if not path.exists():
        raise DataError(f"{where!r} not found")
    suffix = path.suffix.lower()
    if kind == "image" and suffix != ".npz":
        raise DataError(f"{where}: {trained}; pass a folder of images (or an .npz of x)")
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
    from deepnet.data.tables import encode_frame, read_frame, require_columns

    where = str(path)
    frame = read_frame(path)
    check_not_empty(len(frame), where)
    target = _target(encoding, frame, where, labelled)
    labels = frame[target].to_numpy() if labelled else None
    if isinstance(encoding, TextEncoding):
        from deepnet.data.text import encode_texts, tokenize

        require_columns(frame, [encoding.column], where, "text")
        docs = [tokenize(t) for t in frame[encoding.column].fillna("").to_numpy()]
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
