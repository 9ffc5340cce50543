"""Seeded train/val/test splits, stratified by class for classification."""

from __future__ import annotations

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data.checks import source_row


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
