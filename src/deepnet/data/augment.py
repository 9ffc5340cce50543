"""Augmentation of training batches: batched, on the device, seeded.

`make_augment(items, input_shape, preprocess)` returns `fn(batch, generator) -> batch`.
The batch is already normalised and on the device; every random number comes from
`generator` (a torch.Generator whose state the checkpoints save), so a resumed run
augments exactly as the uninterrupted one would.

Images (channels, height, width): `rotate` (degrees, uniform in [-r, r]), `scale` (zoom,
uniform in [lo, hi]), `crop` (a random shift of up to n pixels each way, the uncovered
border filled with 0 in raw units), `flip` (horizontal, vertical or both, each with
probability 1/2) and `noise`. Consecutive geometric steps are composed into one affine
map per sample and resampled once (bilinear). Tables and sequences take `noise` only:
gaussian with std given in raw input units (divided by the normalisation's scale here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from deepnet.core.errors import SpecError
from deepnet.core.registry import Registry
from deepnet.core.schema import NonNegative, NonNegativeInt, PositiveFloat

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# A geometric augmentation's part of the affine map: fills the (n, 3, 3) maps `m` from
# output to input coordinates (affine_grid's convention) for its value in the spec, from
# the generator, for images of height h and width w.
Matrix = Callable[[torch.Tensor, Any, torch.Generator, int, int], None]


def _rand(n: int, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device).to(like.device)


def _rotate(m: torch.Tensor, degrees: float, g: torch.Generator, h: int, w: int) -> None:
    a = (_rand(len(m), g, m) * 2 - 1) * math.radians(degrees)
    c, s = torch.cos(a), torch.sin(a)
    # a rotation in pixels, in [-1, 1] coordinates that stretch with the aspect
    m[:, 0, 0], m[:, 0, 1] = c, s * h / w
    m[:, 1, 0], m[:, 1, 1] = -s * w / h, c


def _scale(m: torch.Tensor, zoom: tuple[float, float], g: torch.Generator, h: int, w: int
           ) -> None:
    lo, hi = zoom
    z = lo + _rand(len(m), g, m) * (hi - lo)
    m[:, 0, 0], m[:, 1, 1] = 1 / z, 1 / z


def _crop(m: torch.Tensor, k: int, g: torch.Generator, h: int, w: int) -> None:
    shift = torch.randint(-k, k + 1, (len(m), 2), generator=g, device=g.device).to(m.device)
    m[:, 0, 2] = -2 * shift[:, 0].float() / w
    m[:, 1, 2] = -2 * shift[:, 1].float() / h


def _flip(m: torch.Tensor, axes: str, g: torch.Generator, h: int, w: int) -> None:
    for axis, name in ((0, "horizontal"), (1, "vertical")):
        if axes in (name, "both"):
            m[:, axis, axis] = torch.where(_rand(len(m), g, m) < 0.5, -1.0, 1.0)


@dataclass(frozen=True)
class AugmentType:
    value: Any  # the type of its value in the spec (`- rotate: 10`)
    matrix: Matrix | None = None  # geometric (images only); None: noise


AUGMENTS: Registry[AugmentType] = Registry("augmentation", {
    "rotate": AugmentType(NonNegative, _rotate),  # degrees, uniform in [-rotate, rotate]
    "scale": AugmentType(tuple[PositiveFloat, PositiveFloat], _scale),  # zoom range
    "crop": AugmentType(NonNegativeInt, _crop),  # random shift, pixels
    "noise": AugmentType(NonNegative),  # gaussian std, in raw input units
    "flip": AugmentType(Literal["horizontal", "vertical", "both"], _flip),
})


def is_geometric(kind: str) -> bool:
    return AUGMENTS.get(kind).matrix is not None


def validate_augment(items, input_shape: tuple[int, ...], integer: bool = False) -> None:
    """SpecError naming each data.augment[i] that does not apply to this data."""
    problems = []
    kind_of_data = {1: "a table", 2: "sequences"}.get(len(input_shape), "non-image data")
    for i, item in enumerate(items):
        kind = item.kind
        if integer:
            problems.append(f"data.augment[{i}]: {kind} cannot apply to token ids (a text "
                            "table); remove it")
        elif is_geometric(kind) and len(input_shape) != 3:
            problems.append(f"data.augment[{i}]: {kind} is an image augmentation, but the data "
                            f"are {kind_of_data} with samples of shape {tuple(input_shape)}; "
                            "only noise applies to them")
    if problems:
        raise SpecError("the augmentation does not fit the data:\n  " + "\n  ".join(problems))


def make_augment(items, input_shape: tuple[int, ...], preprocess, integer: bool = False
                 ) -> Augment:
    """A function (normalised batch, generator) -> augmented batch for spec.data.augment."""
    validate_augment(items, input_shape, integer)
    steps: list[Augment] = []
    geometric: list = []
    for item in items:
        if is_geometric(item.kind):
            geometric.append(item)
            continue
        if geometric:
            steps.append(_Affine(geometric, input_shape, preprocess))
            geometric = []
        steps.append(_Noise(item.noise, preprocess))
    if geometric:
        steps.append(_Affine(geometric, input_shape, preprocess))

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for step in steps:
            x = step(x, generator)
        return x

    return augment


class _PerDevice:
    """Preprocessing constants as tensors, made once per device and dtype."""

    def __init__(self, make: Callable[[], torch.Tensor]):
        self.make, self.cache = make, {}

    def get(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self.cache:
            self.cache[key] = self.make().to(like.device, like.dtype)
        return self.cache[key]


class _Noise:
    def __init__(self, std: float, preprocess):
        self.std = _PerDevice(lambda: std / torch.as_tensor(preprocess.scale, dtype=torch.float32))

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=g, device=g.device).to(x.device, x.dtype)
        return x + noise * self.std.get(x)


class _Affine:
    """rotate/scale/crop/flip composed into one per-sample affine map, sampled once."""

    def __init__(self, items, input_shape: tuple[int, ...], preprocess):
        self.items = list(items)
        _, self.h, self.w = input_shape
        # The normalised value of a raw 0: the fill of uncovered pixels.
        self.zero = _PerDevice(lambda: -torch.as_tensor(preprocess.shift, dtype=torch.float32)
                               / torch.as_tensor(preprocess.scale, dtype=torch.float32))

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        theta = torch.eye(3, device=x.device).repeat(n, 1, 1)
        for item in self.items:  # the first listed is applied first: its inverse goes left
            m = torch.eye(3, device=x.device).repeat(n, 1, 1)
            AUGMENTS.get(item.kind).matrix(m, item.value, g, self.h, self.w)
            theta = theta @ m
        grid = F.affine_grid(theta[:, :2], list(x.shape), align_corners=False)
        zero = self.zero.get(x)
        out = F.grid_sample((x - zero).float(), grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out.to(x.dtype) + zero
