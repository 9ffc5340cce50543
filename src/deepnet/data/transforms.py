"""Preprocessing fitted on the training split only, saved with the model as JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _stat_axes(ndim: int) -> tuple[int, ...]:
    """Axes to reduce over: images per channel, sequences per feature, tables per column."""
    if ndim == 4:  # (N, C, H, W)
        return (0, 2, 3)
    if ndim == 3:  # (N, T, F)
        return (0, 1)
    return (0,)


@dataclass
class Preprocess:
    """x -> (x - shift) / scale, with shift and scale broadcast over one sample."""

    mode: str  # none | standard | minmax
    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, mode: str) -> Preprocess:
        shape = (1,) * (x.ndim - 1)
        if mode == "none" or not np.issubdtype(x.dtype, np.floating):
            return cls("none", np.zeros(shape, np.float32), np.ones(shape, np.float32))
        axes = _stat_axes(x.ndim)
        x64 = x.astype(np.float64)
        if mode == "standard":
            shift, scale = x64.mean(axis=axes, keepdims=True), x64.std(axis=axes, keepdims=True)
        else:
            shift = x64.min(axis=axes, keepdims=True)
            scale = x64.max(axis=axes, keepdims=True) - shift
        scale = np.where(scale < 1e-8, 1.0, scale)  # constant features stay as they are
        return cls(mode, shift[0].astype(np.float32), scale[0].astype(np.float32))

    @classmethod
    def fit_rows(cls, x, rows: np.ndarray, mode: str, chunk: int = 512) -> Preprocess:
        """Like fit(x[rows]) for data read in chunks (images left on disk)."""
        if isinstance(x, np.ndarray):
            return cls.fit(x[rows], mode)
        shape = (1,) * (len(x.shape) - 1)
        if mode == "none" or not np.issubdtype(x.dtype, np.floating) or len(rows) == 0:
            return cls("none", np.zeros(shape, np.float32), np.ones(shape, np.float32))
        axes = _stat_axes(len(x.shape))
        total = total_sq = lo = hi = None
        count = 0
        for s in range(0, len(rows), chunk):
            part = x[rows[s:s + chunk]].astype(np.float64)
            n = part.size // int(np.prod([part.shape[a] for a in range(part.ndim)
                                          if a not in axes]))
            stats = (part.sum(axis=axes, keepdims=True), (part ** 2).sum(axis=axes, keepdims=True),
                     part.min(axis=axes, keepdims=True), part.max(axis=axes, keepdims=True))
            if total is None:
                total, total_sq, lo, hi = stats
            else:
                total, total_sq = total + stats[0], total_sq + stats[1]
                lo, hi = np.minimum(lo, stats[2]), np.maximum(hi, stats[3])
            count += n
        if mode == "standard":
            shift = total / count
            scale = np.sqrt(np.maximum(total_sq / count - shift ** 2, 0.0))
        else:
            shift, scale = lo, hi - lo
        scale = np.where(scale < 1e-8, 1.0, scale)
        return cls(mode, shift[0].astype(np.float32), scale[0].astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "none":
            return x
        return ((x - self.shift) / self.scale).astype(np.float32)

    def module(self) -> nn.Module:
        """The same transform as a module, for models that take raw inputs (attacks)."""
        return Normalize(self.shift, self.scale)

    def to_json(self) -> dict:
        return {"mode": self.mode, "shape": list(self.shift.shape),
                "shift": self.shift.ravel().tolist(), "scale": self.scale.ravel().tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Preprocess:
        shape = tuple(d["shape"])
        return cls(d["mode"], np.asarray(d["shift"], np.float32).reshape(shape),
                   np.asarray(d["scale"], np.float32).reshape(shape))


class Normalize(nn.Module):
    def __init__(self, shift: np.ndarray, scale: np.ndarray):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift))
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, x):
        return (x - self.shift) / self.scale
