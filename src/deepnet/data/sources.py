"""Data sources by name: each loader returns a Dataset of raw inputs and targets.

Raw inputs are what a user hands to `predict`: the digits' pixels in [0, 1], a table's
values. Nothing is downloaded: the built-in sets ship inside scikit-learn.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepnet.errors import DataError, did_you_mean


@dataclass
class Dataset:
    """Raw inputs `x` (N, *shape) and targets `y` (N,), in source order."""

    x: np.ndarray
    y: np.ndarray
    task: str  # classification | regression
    classes: list[str] = field(default_factory=list)  # class names, classification only
    source: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def sklearn_data_file(name: str) -> Path:
    """A data file shipped inside scikit-learn, found without importing it (seconds)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("the built-in data sets need scikit-learn; run `make setup`")
    return Path(spec.origin).parent / "datasets" / "data" / name


def _digits(data) -> Dataset:
    # scikit-learn's load_digits reads this same file; reading it directly avoids
    # importing scikit-learn (about 2 s) on every command.
    raw = np.loadtxt(sklearn_data_file("digits.csv.gz"), delimiter=",", dtype=np.float32)
    x = (raw[:, :-1] / 16.0).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8), pixels in [0, 1]
    y = raw[:, -1].astype(np.int64)
    return Dataset(x, y, "classification", [str(c) for c in range(10)], "digits")


SOURCES: dict[str, Callable] = {"digits": _digits}


def load_source(data) -> Dataset:
    """The Dataset for `spec.data`; DataError for an unknown source."""
    loader = SOURCES.get(data.source)
    if loader is None:
        raise DataError(
            f"data.source: unknown source {data.source!r}{did_you_mean(data.source, list(SOURCES))}; "
            f"expected one of {', '.join(SOURCES)}"
        )
    return loader(data)
