"""`Dataset`: what every data source returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from deepnet.data.encoding import ArrayEncoding, Encoding


@dataclass
class Dataset:
    """Raw inputs `x` (N, *shape) and targets `y` (N,), in source order.

    `rows` maps each row to its 0-based index in the source when rows were dropped;
    `encoding` (deepnet.data.encoding) says how raw files become `x`, so that predict can read new files;
    `labels` are the classes as the data gave them (predict returns them);
    `refit`, when set, refits what must be learnt from the training rows only (a text
    vocabulary, imputed values) and returns the re-encoded Dataset.
    """

    x: np.ndarray
    y: np.ndarray
    task: str  # classification | regression
    classes: list[str] = field(default_factory=list)  # class names, classification only
    source: str = ""
    rows: np.ndarray | None = None
    encoding: Encoding = field(default_factory=ArrayEncoding)
    refit: Callable[[np.ndarray], Dataset] | None = None
    # the training label of each class as the data gave it (int, float, str or bool);
    # None: the class names are the labels
    labels: list | None = None
    # the split made by the source (rows of each part), instead of data.split's fractions
    splits: dict[str, np.ndarray] | None = None
    # each row's query when rows are ranked (data.interactions: a user's candidates)
    groups: np.ndarray | None = None
    # a series' windows: the level (last value of the target) of each, which forecasts
    # are relative to (data.series)
    levels: np.ndarray | None = None
    origins: np.ndarray | None = None  # and the step of each window's first forecast
    # each row's group (data.split.groups: a file's speaker): whole groups are split
    split_groups: np.ndarray | None = None
    # each row's part when the data give some (data.given: 'val', 'test', or '' for the
    # rows the fractions split)
    given_parts: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def source_rows(self) -> np.ndarray:
        return self.rows if self.rows is not None else np.arange(len(self.y))
