"""Mini-batches of in-memory data, held on the device and indexed with index tensors:
no per-sample DataLoader, so Python overhead does not dominate small models."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class InMemory:
    """(x, y) tensors on the device, served in shuffled or ordered mini-batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device):
        self.x = torch.as_tensor(x).to(device)
        self.y = torch.as_tensor(y).to(device)
        self.batch_size = batch_size
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.starts())

    def __iter__(self):
        return self.batches()

    @property
    def n(self) -> int:
        return len(self.y)

    def starts(self) -> range:
        # A one-sample last batch breaks batch normalisation; drop it when shuffling.
        n = self.n - 1 if self.n % self.batch_size == 1 and self.n > 1 else self.n
        return range(0, n, self.batch_size)

    def batches(self, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches when a generator is given (training), else in order."""
        if generator is None:
            for s in range(0, self.n, self.batch_size):
                yield self.x[s:s + self.batch_size], self.y[s:s + self.batch_size]
            return
        order = torch.randperm(self.n, generator=generator).to(self.x.device)
        for s in self.starts():
            idx = order[s:s + self.batch_size]
            yield self.x[idx], self.y[idx]
