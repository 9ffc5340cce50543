"""Seeded train/val/test splits, stratified by class for classification."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data.checks import source_row
from deepnet.data.given import parts_given


def split_indices(y: np.ndarray, task: str, val: float, test: float, seed: int,
                  source: str = "data", class_names: list[str] | None = None,
                  rows: np.ndarray | None = None, stratify: bool = True
                  ) -> dict[str, np.ndarray]:
    """Row indices (sorted) of the train, val and test parts of `y`.

    Classification splits each class in the same proportions (unless `stratify` is
    False), so a rare class appears on every side; every class needs at least 2 rows for
    that.
    """
    n = len(y)
    if n == 0:
        raise DataError(f"{source}: the data set is empty")
    rng = np.random.default_rng(seed)
    if task != "classification" or not stratify:
        groups = [rng.permutation(n)]
    else:
        classes, counts = np.unique(y, return_counts=True)
        few = [(c, k) for c, k in zip(classes, counts, strict=True) if k < 2]
        if few and (val or test):
            def name(c):
                return class_names[int(c)] if class_names and 0 <= int(c) < len(class_names) else c

            listed = ", ".join(f"class {name(c)!r} (only row "
                               f"{source_row(rows, int(np.flatnonzero(y == c)[0]))})"
                               for c, k in few[:5])
            raise DataError(
                f"{source}: a stratified split needs at least 2 rows of each class; "
                f"too few for {listed}. Add rows of those classes or remove them."
            )
        groups = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for idx in groups:
        k = len(idx)
        n_test = int(round(k * test)) if test else 0
        n_val = int(round(k * val)) if val else 0
        if test and k >= 3:
            n_test = max(n_test, 1)
        if val and k >= 3:
            n_val = max(n_val, 1)
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    out = {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}
    if len(out["train"]) == 0:
        raise DataError(f"{source}: no rows are left for training after the split")
    return out


def split_given(ds, task: str, split, seed: int, source: str) -> dict[str, np.ndarray]:
    """The parts of data that give some (Dataset.given_parts: data.split.val/test as a
    file or a column): those rows stay in their part; a part given as a fraction takes
    that share of the other rows (seeded, stratified as split_indices)."""
    marks = ds.given_parts
    if marks is None:
        kinds = {"audio": "sound files", "image": "image files", "text": "a text table"}
        what = kinds.get(ds.encoding.kind, f"{ds.encoding.kind} data")
        raise DataError(f"{source}: data.split gives a part as a file or a column, which "
                        f"tables and .npz arrays can have; these data are {what}: give "
                        "fractions (and data.split.groups for a folder)", path="data.split")
    given = parts_given(split)
    pool = np.flatnonzero(marks == "")
    val, test = (0.0 if p in given else getattr(split, p) for p in ("val", "test"))
    rows = None if ds.rows is None else ds.rows[pool]
    drawn = split_indices(ds.y[pool], task, val, test, seed, source=source,
                          class_names=ds.classes, rows=rows, stratify=split.stratify)
    out = {part: pool[idx] for part, idx in drawn.items()}
    for part in given:
        out[part] = np.flatnonzero(marks == part).astype(np.int64)
        if not len(out[part]):
            raise DataError(f"{source}: data.split.{part} gives no rows",
                            path=f"data.split.{part}")
    return out


def file_groups(paths: list[Path], pattern: str | None, where: str) -> np.ndarray | None:
    """Each file's group (data.split.groups): the first group, or the whole match, of
    `pattern` in its name; None without a pattern."""
    if pattern is None:
        return None
    rx = re.compile(pattern)
    out = []
    for p in paths:
        m = rx.search(p.name)
        if m is None:
            raise DataError(f"{where}: data.split.groups {pattern!r} does not match the file "
                            f"name {p.name!r} ({p}); every file needs a group")
        out.append(m.group(1) if rx.groups else m.group(0))
    return np.asarray(out, dtype=object)


def group_split(groups: np.ndarray, val: float, test: float, seed: int,
                source: str = "data") -> dict[str, np.ndarray]:
    """Row indices (sorted) of train, val and test with every group in one part: the
    groups in a seeded order go to test until it holds `test` of the rows, then to val
    until it holds `val`; the rest train."""
    names, inverse = np.unique(groups.astype(str), return_inverse=True)
    need = sum(1 for f in (val, test) if f) + 1
    if len(names) < need:
        raise DataError(f"{source}: data.split.groups finds {len(names)} group"
                        f"{'s' if len(names) != 1 else ''} ({', '.join(names[:5])}); "
                        f"a split into {need} parts by group needs at least {need}")
    counts = np.bincount(inverse, minlength=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    part = np.full(len(names), 2)  # 0 test, 1 val, 2 train
    n, taken = len(groups), {0: 0, 1: 0}
    for g in order:
        for p, share in ((0, test), (1, val)):
            if share and taken[p] < share * n and (part == 2).sum() > 1:
                part[g] = p
                taken[p] += counts[g]
                break
    rows = part[inverse]
    out = {k: np.flatnonzero(rows == p).astype(np.int64)
           for k, p in (("train", 2), ("val", 1), ("test", 0))}
    for k, share in (("val", val), ("test", test)):
        if share and len(out[k]) == 0:
            raise DataError(f"{source}: data.split.groups left no group for {k}")
    return out
