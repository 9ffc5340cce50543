"""Mini-batches. Small data (InMemory) is held on the device and indexed with index
tensors: no per-sample DataLoader, so Python overhead does not dominate small models.
Large data (Streaming) is read batch by batch from disk or host memory by a DataLoader,
in worker processes with pinned memory. Both draw the same order from the same
generator, so the two paths give the same batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

# Data larger than this (as float32) streams even without `data.stream: true`.
STREAM_BYTES = 1 << 30


def batch_bounds(n: int, batch_size: int, drop_last: bool = False) -> list[tuple[int, int]]:
    """(start, stop) of each shuffled training batch over `n` rows. `drop_last`: full
    batches only, the last short one left out. Otherwise every row is trained on; a last
    batch of one row (which batch normalisation cannot take) joins the one before."""
    if drop_last:
        return [(s, s + batch_size) for s in range(0, n - n % batch_size, batch_size)]
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def rows_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """The rows one epoch of shuffled batches trains on."""
    return sum(b - a for a, b in batch_bounds(n, batch_size, drop_last))


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None,
                  device: torch.device | str = "cpu", drop_last: bool = False
                  ) -> Iterator[torch.Tensor | slice]:
    """Shuffled index tensors (on `device`) when a generator is given (training), else
    in-order slices of every row."""
    if generator is None:
        for s in range(0, n, batch_size):
            yield slice(s, min(s + batch_size, n))
        return
    order = torch.randperm(n, generator=generator).to(device)
    for start, stop in batch_bounds(n, batch_size, drop_last):
        yield order[start:stop]


class Batches:
    """What both kinds of batches share: the targets on the device, the batch size and
    the number of batches. `batches(generator)` is each kind's own."""

    # each row's query, when the rows are queries of a ranking (data.interactions)
    groups: np.ndarray | None = None

    def __init__(self, y: np.ndarray, batch_size: int, device: torch.device,
                 drop_last: bool = False):
        self.y = torch.as_tensor(y).to(device)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.drop_last = drop_last  # of the shuffled (training) batches

    def __len__(self) -> int:
        """The shuffled (training) batches of an epoch."""
        return len(batch_bounds(self.n, self.batch_size, self.drop_last))

    @property
    def rows_per_epoch(self) -> int:
        """The rows one epoch of shuffled batches trains on."""
        return rows_per_epoch(self.n, self.batch_size, self.drop_last)

    def __iter__(self):
        return self.batches()

    @property
    def n(self) -> int:
        return len(self.y)

    def batches(self, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError


class InMemory(Batches):
    """(x, y) tensors on the device, served in shuffled or ordered mini-batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device,
                 drop_last: bool = False):
        super().__init__(y, batch_size, device, drop_last)
        self.x = torch.as_tensor(x).to(device)

    def batches(self, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches when a generator is given (training), else in order."""
        for idx in batch_indices(self.n, self.batch_size, generator, self.x.device,
                                 self.drop_last):
            yield self.x[idx], self.y[idx]


class _Rows(torch.utils.data.Dataset):
    """One batch per key: the rows at the given positions, read and transformed."""

    def __init__(self, read: Callable[[np.ndarray], np.ndarray]):
        self.read = read

    def __getitem__(self, positions) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.read(np.asarray(positions))))


class Streaming(Batches):
    """Batches read on demand: `read(positions) -> inputs` runs in `workers` processes.

    The interface of InMemory: batches(generator), __len__, n, y, device, batch_size;
    only the targets `y` live on the device whole.
    """

    def __init__(self, read: Callable[[np.ndarray], np.ndarray], y: np.ndarray,
                 batch_size: int, device: torch.device, workers: int = 2,
                 drop_last: bool = False):
        super().__init__(y, batch_size, device, drop_last)
        self.read = read
        self.workers = workers

    def batches(self, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        keys = []
        for idx in batch_indices(self.n, self.batch_size, generator,
                                 drop_last=self.drop_last):
            keys.append(idx.numpy() if isinstance(idx, torch.Tensor)
                        else np.arange(idx.start, idx.stop))
        if not keys:
            return
        loader = torch.utils.data.DataLoader(
            _Rows(self.read), sampler=keys, batch_size=None,
            num_workers=min(self.workers, len(keys)),
            pin_memory=self.device.type == "cuda")
        for positions, xb in zip(keys, loader, strict=True):
            idx = torch.from_numpy(positions).to(self.device)
            yield xb.to(self.device, non_blocking=True), self.y[idx]
