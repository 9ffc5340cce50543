"""Preprocessing fitted on the training split only, saved with the model as JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _stat_axes(x: np.ndarray) -> tuple[int, ...]:
    """Axes to reduce over: images per channel, sequences per feature, tables per column."""
    if x.ndim == 4:  # (N, C, H, W)
        return (0, 2, 3)
    if x.ndim == 3:  # (N, T, F)
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
        axes = _stat_axes(x)
        x64 = x.astype(np.float64)
        if mode == "standard":
            shift, scale = x64.mean(axis=axes, keepdims=True), x64.std(axis=axes, keepdims=True)
        else:
            shift = x64.min(axis=axes, keepdims=True)
            scale = x64.max(axis=axes, keepdims=True) - shift
        scale = np.where(scale < 1e-8, 1.0, scale)  # constant features stay as they are
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
