"""Preprocessing fitted on the training split only, saved with the model as JSON
(PreprocessRecord: model.safetensors' `preprocess`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepnet.data.encoding import Bounds, InputTransformRecord, Mode, PreprocessRecord


def _stat_axes(ndim: int) -> tuple[int, ...]:
    """Axes to reduce over: images per channel, sequences per feature, tables per column."""
    if ndim == 4:  # (N, C, H, W)
        return (0, 2, 3)
    if ndim == 3:  # (N, T, F)
        return (0, 1)
    return (0,)


def describe_normalisation(mode: str, shape: tuple[int, ...]) -> str:
    """How inputs of per-sample `shape` are normalised, in words (the summary's line)."""
    if mode == "none":
        return "none"
    per, over = {3: ("channel", "the samples and the pixels"),
                 2: ("feature", "the samples and the time steps")}.get(
        len(shape), ("column", "the samples"))
    n = shape[0] if len(shape) in (1, 3) else shape[-1] if shape else 1
    return (f"{mode}, per {per} ({n} {mode} scaling{'s' if n != 1 else ''}, over {over}), "
            "fitted on the training split")


@dataclass
class Preprocess:
    """x -> (x - shift) / scale, with shift and scale broadcast over one sample."""

    mode: Mode
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

    def keeping(self, positions: list[int]) -> Preprocess:
        """This preprocessing, leaving the features at `positions` of a table as they are
        (the codes of embedded columns)."""
        if not positions or self.mode == "none" or self.shift.ndim != 1:
            return self
        shift, scale = self.shift.copy(), self.scale.copy()
        shift[positions], scale[positions] = 0.0, 1.0
        return replace(self, shift=shift, scale=scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "none":
            return x
        return ((x - self.shift) / self.scale).astype(np.float32)

    def module(self) -> nn.Module:
        """The same transform as a module, for models that take raw inputs (attacks)."""
        return Normalize(self.shift, self.scale)

    def record(self) -> PreprocessRecord:
        """What is saved with the model."""
        return PreprocessRecord(self.mode, tuple(self.shift.shape),
                                self.shift.ravel().tolist(), self.scale.ravel().tolist())

    def to_json(self) -> dict[str, Any]:
        return self.record().to_json()

    @classmethod
    def from_record(cls, r: PreprocessRecord) -> Preprocess:
        """The saved preprocessing, its input transformation (a defense) included; a
        ValueError when `shift` or `scale` does not have the size of `shape`."""
        size = int(np.prod(r.shape))
        if len(r.shift) != size or len(r.scale) != size:
            raise ValueError(f"preprocess: shift and scale have {len(r.shift)} and "
                             f"{len(r.scale)} values, shape {list(r.shape)} needs {size}")
        shift = np.asarray(r.shift, np.float32).reshape(r.shape)
        scale = np.asarray(r.scale, np.float32).reshape(r.shape)
        t = r.input_transform
        if t is None:
            return Preprocess(r.mode, shift, scale)
        return SqueezedPreprocess(r.mode, shift, scale, t.bit_depth, t.smoothing, t.bounds)

    @classmethod
    def from_json(cls, d: Any) -> Preprocess:
        """from_record of a PreprocessRecord or its JSON; a ValueError naming what is wrong."""
        return cls.from_record(d if isinstance(d, PreprocessRecord)
                               else PreprocessRecord.from_json(d))


class Normalize(nn.Module):
    def __init__(self, shift: np.ndarray, scale: np.ndarray):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift))
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, x):
        return (x - self.shift) / self.scale


# ----------------------------------------------------------------------------- input transformation
# A defense (robust.defense.input_transform): applied to raw inputs before the normalisation,
# in training and in every use of the run; saved with the preprocessing.
def squeeze(x: torch.Tensor, bit_depth: int | None, smoothing: int | None,
            bounds: Bounds) -> torch.Tensor:
    """Median smoothing (a `smoothing` x `smoothing` window on images), then bit-depth
    reduction to 2^bit_depth levels across `bounds`."""
    lo, hi = bounds
    if smoothing:
        k = smoothing
        pad = ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2)
        n, c, h, w = x.shape
        windows = F.pad(x, pad, mode="replicate").unfold(2, k, 1).unfold(3, k, 1)
        x = windows.reshape(n, c, h, w, k * k).median(dim=-1).values
    if bit_depth:
        levels = 2 ** bit_depth - 1
        x = torch.round((x.clamp(lo, hi) - lo) / (hi - lo) * levels) / levels * (hi - lo) + lo
    return x


class Squeeze(nn.Module):
    """The input transformation as a module. With `bpda` its backward pass is the
    identity (Athalye et al., 2018): the adaptive attack on a non-differentiable
    transform. The transforms here are deterministic, so one EOT sample is exact."""

    def __init__(self, bit_depth: int | None, smoothing: int | None, bounds: Bounds,
                 bpda: bool = False):
        super().__init__()
        self.bit_depth, self.smoothing, self.bounds, self.bpda = bit_depth, smoothing, \
            tuple(bounds), bpda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = squeeze(x, self.bit_depth, self.smoothing, self.bounds)
        return x + (out - x).detach() if self.bpda else out


@dataclass
class SqueezedPreprocess(Preprocess):
    """The run's preprocessing with the input transformation first: raw -> squeezed ->
    normalised. `module()` (what attacks go through) has the transform's own gradient."""

    bit_depth: int | None = None
    smoothing: int | None = None
    bounds: Bounds = (0.0, 1.0)

    @classmethod
    def wrap(cls, pre: Preprocess, cfg, bounds: Bounds) -> SqueezedPreprocess:
        return cls(pre.mode, pre.shift, pre.scale, cfg.bit_depth, cfg.smoothing,
                   (float(bounds[0]), float(bounds[1])))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = squeeze(torch.as_tensor(np.asarray(x, np.float32)), self.bit_depth,
                    self.smoothing, self.bounds)
        return super().__call__(t.numpy())

    def squeeze_module(self, bpda: bool = False) -> Squeeze:
        return Squeeze(self.bit_depth, self.smoothing, self.bounds, bpda)

    def module(self, bpda: bool = False) -> nn.Module:
        return nn.Sequential(self.squeeze_module(bpda), Normalize(self.shift, self.scale))

    def record(self) -> PreprocessRecord:
        return replace(super().record(), input_transform=InputTransformRecord(
            self.bit_depth, self.smoothing, self.bounds))
