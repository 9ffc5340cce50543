"""spec.data -> the split, preprocessed arrays that training and evaluation use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepnet.data.sources import Dataset, load_source
from deepnet.data.split import split_indices
from deepnet.data.transforms import Preprocess


@dataclass
class Prepared:
    dataset: Dataset
    task: str
    splits: dict[str, np.ndarray]  # row indices into the source, per part
    preprocess: Preprocess

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(preprocessed inputs, targets) of one part: train, val or test."""
        idx = self.splits[part]
        return self.preprocess(self.dataset.x[idx]), self.targets(self.dataset.y[idx])

    def targets(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.int64 if self.task == "classification" else np.float32)


def prepare(spec, dataset: Dataset | None = None) -> Prepared:
    """Load (unless given), split with the spec's seed, and fit preprocessing on train."""
    data = spec.data
    ds = dataset if dataset is not None else load_source(data)
    task = spec.task or ds.task
    splits = split_indices(ds.y, task, data.split.val, data.split.test, spec.seed,
                           source=ds.source or data.source)
    pre = Preprocess.fit(ds.x[splits["train"]], data.normalize)
    return Prepared(ds, task, splits, pre)
