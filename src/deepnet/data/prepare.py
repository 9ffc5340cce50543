"""spec.data -> the split, preprocessed arrays that training and evaluation use."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import torch

from deepnet.core.errors import DataError
from deepnet.data.augment import validate_augment
from deepnet.data.batches import STREAM_BYTES, InMemory, Streaming
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import Encoding, embedded_positions
from deepnet.data.given import parts_given
from deepnet.data.sources import load_source
from deepnet.data.split import group_split, split_given, split_indices
from deepnet.data.transforms import Preprocess


@dataclass
class Prepared:
    dataset: Dataset
    task: str
    splits: dict[str, np.ndarray]  # row indices into the dataset, per part
    preprocess: Preprocess
    stream: bool = False  # read batches through a DataLoader instead of holding them
    workers: int = 2

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(preprocessed inputs, targets) of one part: train, val or test."""
        idx = self.splits[part]
        return self.preprocess(self.dataset.x[idx]), self.targets(self.dataset.y[idx])

    def targets(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.int64 if self.task == "classification" else np.float32)

    def batches(self, part: str, batch_size: int, device: torch.device,
                drop_last: bool = False):
        """The part's mini-batches: InMemory, or Streaming for large data; with the
        rows' queries when they are ranked (data.interactions). `drop_last` applies to
        shuffled (training) batches (data.batches.batch_bounds)."""
        idx = self.splits[part]
        if not self.stream:
            out = InMemory(*self.arrays(part), batch_size, device, drop_last)
        else:
            out = Streaming(_Reader(self.dataset.x, idx, self.preprocess),
                            self.targets(self.dataset.y[idx]), batch_size, device, self.workers,
                            drop_last)
        if self.dataset.groups is not None and part != "train":
            out.groups = self.dataset.groups[idx]
        return out

    @functools.cached_property
    def x_range(self) -> list[float] | None:
        """[min, max] of the raw training inputs (the valid range for attacks), or None
        for token ids; read in chunks, so streamed data are never held whole."""
        x, rows = self.dataset.x, self.splits["train"]
        if not np.issubdtype(x.dtype, np.floating) or len(rows) == 0:
            return None
        lo, hi = np.inf, -np.inf
        for s in range(0, len(rows), 4096):
            part = np.asarray(x[np.sort(rows[s:s + 4096])])
            lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
        return [lo, hi]

    @property
    def encoding(self) -> Encoding:
        """How raw inputs become the model's inputs, saved with the model."""
        return self.dataset.encoding


@dataclass
class _Reader:
    """positions in a part -> preprocessed inputs; picklable for DataLoader workers."""

    x: object
    idx: np.ndarray
    preprocess: Preprocess

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        return self.preprocess(self.x[self.idx[positions]])


def nbytes(x) -> int:
    return int(np.prod(x.shape)) * 4


def normalisation(data, ds: Dataset) -> str:
    """data.normalize as it applies to these data: none for a waveform (its scale is the
    sound's; the logmel layer and a batchnorm after it normalise the spectrogram) and for
    token ids (a text table)."""
    return "none" if ds.encoding.kind in ("audio", "text") else data.normalize


def prepare(spec, dataset: Dataset | None = None, given=None) -> Prepared:
    """Load (unless `dataset` is given; `given`: data passed in Python instead of
    data.source, deepnet.data.memory), split with the spec's seed, and fit what is learnt
    from data (a vocabulary, imputed values, normalisation) on the training part only."""
    data = spec.data
    ds = dataset if dataset is not None else load_source(data, spec.task, given)
    task = spec.task or ds.task
    if ds.splits is None and ds.split_groups is not None:
        ds = replace(ds, splits=group_split(ds.split_groups, data.split.val, data.split.test,
                                            spec.seed, ds.source or data.source))
    elif ds.split_groups is None and data.split.groups is not None:
        raise DataError(f"{ds.source or data.source}: data.split.groups names the group of "
                        "each file of a folder (images or sound); these data are "
                        f"{ds.encoding.kind} data: remove data.split.groups")
    if parts_given(data.split):
        splits = split_given(ds, task, data.split, spec.seed, ds.source or data.source)
    else:
        splits = ds.splits if ds.splits is not None else split_indices(
            ds.y, task, data.split.val, data.split.test, spec.seed,
            source=ds.source or data.source, class_names=ds.classes, rows=ds.rows,
            stratify=data.split.stratify)
    if ds.refit is not None:
        ds = ds.refit(splits["train"])
    integer = np.issubdtype(ds.x.dtype, np.integer)
    if integer and ds.encoding.kind != "text":  # integer features, not token ids
        ds = replace(ds, x=ds.x.astype(np.float32))
        integer = False
    validate_augment(data.augment, ds.input_shape, integer, ds.encoding.kind)
    stream = data.stream or not isinstance(ds.x, np.ndarray) or nbytes(ds.x) > STREAM_BYTES
    pre = Preprocess.fit_rows(ds.x, splits["train"], normalisation(data, ds)).keeping(
        embedded_positions(ds.encoding))
    return Prepared(ds, task, splits, pre, stream, data.workers)
