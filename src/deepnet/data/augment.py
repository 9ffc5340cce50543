"""Augmentation of training batches: batched, on the device, seeded.

`make_augment(items, input_shape, preprocess)` returns `fn(batch, generator) -> batch`.
The batch is already normalised and on the device; every random number comes from
`generator` (a torch.Generator whose state the checkpoints save), so a resumed run
augments exactly as the uninterrupted one would.

Images (channels, height, width): `rotate` (degrees, uniform in [-r, r]), `scale` (zoom,
uniform in [lo, hi]), `crop` (a random shift of up to n pixels each way, the uncovered
border filled with 0 in raw units), `flip` (horizontal, vertical or both, each with
probability 1/2) and `noise`. Consecutive geometric steps are composed into one affine
map per sample and resampled once (bilinear). Tables take `noise` only: gaussian with std
given in raw input units (divided by the normalisation's scale here).

Sequences (time, features) take `noise` and the time steps, each a resampling of every
feature at per-sample positions (linear between steps): `roll` (a circular shift of up to
that many steps each way), `slide` (the same shift, the uncovered steps repeating the
edge value), `window` (window slicing, Le Guennec et al., 2016: a window of that share of
the steps at a random place, stretched back to all of them) and `stretch` (time
stretching by a factor uniform in [lo, hi] about the middle, cut or edge-padded to the
length). The length never changes, so evaluation batches keep theirs.

Sound (waveforms of a sound folder, deepnet.data.audio) takes `noise` and the waveform
steps: `gain` (dB, uniform in [-g, g]), `snr` (white noise at a signal-to-noise ratio
uniform in [lo, hi] dB of the clip's mean power), `shift` (seconds, uniform in [-s, s],
the uncovered part silent), and SpecAugment's masks (Park et al., 2019) made on the
waveform, so every random draw stays here: `time_mask` silences a span of up to that
many seconds, `freq_mask` removes a band of up to that share of the mel scale (0 Hz to
half the sample rate) from the clip's spectrum (the band of the spectrogram is then
near silence, where SpecAugment sets it to the mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from deepnet.core.errors import SpecError
from deepnet.core.registry import Registry
from deepnet.core.schema import Fraction, NonNegative, NonNegativeInt, PositiveFloat
from deepnet.core.units import hz, mel

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


# ----------------------------------------------------------------------------- sound
# A waveform step: (batch (N, samples), its value in the spec, sample rate, generator).
Wave = Callable[[torch.Tensor, Any, int, torch.Generator], torch.Tensor]


def _per_clip(n: int, g: torch.Generator, like: torch.Tensor, lo, hi) -> torch.Tensor:
    """(n, 1) uniform draws in [lo, hi]."""
    return (lo + _rand(n, g, like) * (hi - lo))[:, None].to(like.dtype)


def _gain(x: torch.Tensor, db: float, rate: int, g: torch.Generator) -> torch.Tensor:
    return x * 10 ** (_per_clip(len(x), g, x, -db, db) / 20)


def _snr(x: torch.Tensor, db: tuple[float, float], rate: int, g: torch.Generator
         ) -> torch.Tensor:
    power = x.float().pow(2).mean(dim=1, keepdim=True).clamp_min(1e-12)
    std = (power / 10 ** (_per_clip(len(x), g, x, *db).float() / 10)).sqrt()
    noise = torch.randn(x.shape, generator=g, device=g.device).to(x.device)
    return (x + noise * std).to(x.dtype)


def _randint(n: int, high: torch.Tensor | int, g: torch.Generator, like: torch.Tensor
             ) -> torch.Tensor:
    """(n,) integers uniform in [0, high] (high per row or one for all)."""
    return (_rand(n, g, like) * (torch.as_tensor(high, device=like.device) + 1)).long()


def _shift(x: torch.Tensor, seconds: float, rate: int, g: torch.Generator) -> torch.Tensor:
    n, t = x.shape
    k = int(round(seconds * rate))
    by = _randint(n, 2 * k, g, x) - k
    at = torch.arange(t, device=x.device)[None, :] - by[:, None]
    inside = (at >= 0) & (at < t)
    return x.gather(1, at.clamp(0, t - 1)) * inside


def _time_mask(x: torch.Tensor, seconds: float, rate: int, g: torch.Generator
               ) -> torch.Tensor:
    n, t = x.shape
    width = _randint(n, min(t, int(round(seconds * rate))), g, x)
    start = (_rand(n, g, x) * (t - width + 1)).long()
    at = torch.arange(t, device=x.device)[None, :]
    return x * ~((at >= start[:, None]) & (at < (start + width)[:, None]))


def _freq_mask(x: torch.Tensor, share: float, rate: int, g: torch.Generator) -> torch.Tensor:
    n, t = x.shape
    top = float(mel(rate / 2))
    width = _rand(n, g, x) * share * top
    start = _rand(n, g, x) * (top - width)
    lo, hi = hz(start).float()[:, None], hz(start + width).float()[:, None]
    f = torch.fft.rfftfreq(t, 1.0 / rate, device=x.device)[None, :]
    spectrum = torch.fft.rfft(x.float(), dim=1) * ~((f >= lo) & (f <= hi))
    return torch.fft.irfft(spectrum, n=t, dim=1).to(x.dtype)


# ----------------------------------------------------------------------------- sequences
# A sequence step: where each output step reads the input, (n, T) float positions in
# [0, T - 1] (linear interpolation between steps), for its value in the spec.
Steps = Callable[[int, int, Any, torch.Generator, torch.Tensor], torch.Tensor]


def _steps(n: int, t: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(t, device=like.device, dtype=torch.float32)[None, :].expand(n, t)


def _roll(n: int, t: int, k: int, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    by = (_randint(n, 2 * k, g, like) - k).float()[:, None]
    return torch.remainder(_steps(n, t, like) - by, t)


def _slide(n: int, t: int, k: int, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    by = (_randint(n, 2 * k, g, like) - k).float()[:, None]
    return (_steps(n, t, like) - by).clamp(0, t - 1)


def _window(n: int, t: int, share: float, g: torch.Generator, like: torch.Tensor
            ) -> torch.Tensor:
    length = max(share * (t - 1), 0.0)
    start = _rand(n, g, like).float()[:, None] * (t - 1 - length)
    return start + _steps(n, t, like) * (length / max(t - 1, 1))


def _stretch(n: int, t: int, factors: tuple[float, float], g: torch.Generator,
             like: torch.Tensor) -> torch.Tensor:
    lo, hi = factors
    r = (lo + _rand(n, g, like).float() * (hi - lo))[:, None]
    centre = (t - 1) / 2
    return (centre + (_steps(n, t, like) - centre) / r).clamp(0, t - 1)


def resample(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """x (n, T, F) read at positions `pos` (n, T) along time, linearly interpolated."""
    lo = pos.floor().long().clamp(0, x.shape[1] - 1)
    hi = (lo + 1).clamp(max=x.shape[1] - 1)
    w = (pos - lo.float())[:, :, None].to(x.dtype)
    take = lambda i: x.gather(1, i[:, :, None].expand(-1, -1, x.shape[2]))  # noqa: E731
    return take(lo) * (1 - w) + take(hi) * w


# ----------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class AugmentType:
    value: Any  # the type of its value in the spec (`- rotate: 10`)
    matrix: Matrix | None = None  # geometric (images only)
    wave: Wave | None = None  # a waveform step (sound only)
    steps: Steps | None = None  # a sequence step (time, features); none: noise (any data)


AUGMENTS: Registry[AugmentType] = Registry("augmentation", {
    "rotate": AugmentType(NonNegative, _rotate),  # degrees, uniform in [-rotate, rotate]
    "scale": AugmentType(tuple[PositiveFloat, PositiveFloat], _scale),  # zoom range
    "crop": AugmentType(NonNegativeInt, _crop),  # random shift, pixels
    "noise": AugmentType(NonNegative),  # gaussian std, in raw input units
    "flip": AugmentType(Literal["horizontal", "vertical", "both"], _flip),
    "gain": AugmentType(NonNegative, wave=_gain),  # dB, uniform in [-gain, gain]
    "snr": AugmentType(tuple[float, float], wave=_snr),  # dB range of added white noise
    "shift": AugmentType(NonNegative, wave=_shift),  # seconds, uniform in [-shift, shift]
    "time_mask": AugmentType(NonNegative, wave=_time_mask),  # seconds, at most
    "freq_mask": AugmentType(Fraction, wave=_freq_mask),  # share of the mel scale, at most
    "roll": AugmentType(NonNegativeInt, steps=_roll),  # circular shift, steps each way
    "slide": AugmentType(NonNegativeInt, steps=_slide),  # shift, the edge value repeated
    # a window of that share of the steps, stretched back to all of them
    "window": AugmentType(Annotated[float, Field(gt=0, le=1)], steps=_window),
    "stretch": AugmentType(tuple[PositiveFloat, PositiveFloat], steps=_stretch),  # factors
})


def is_geometric(kind: str) -> bool:
    return AUGMENTS.get(kind).matrix is not None


def _misfit(kind: str, input_shape: tuple[int, ...], data: str | None) -> str | None:
    """Why augmentation `kind` does not apply to these data, or None."""
    t = AUGMENTS.get(kind)
    shape = tuple(input_shape)
    if t.steps is not None and (len(shape) != 2 or data == "audio"):
        if data == "audio":
            return f"{kind} is a sequence augmentation, but the data are sound; shift applies"
        what = {1: "a table", 3: "images"}.get(len(shape), "data")
        hint = ("; data.layout: sequence reads an (N, T) array as sequences"
                if len(shape) == 1 else "")
        return (f"{kind} is a sequence augmentation (samples of shape (time, features)), but "
                f"the data are {what} with samples of shape {shape}{hint}")
    if data == "audio":
        if t.matrix is not None:
            return (f"{kind} is an image augmentation, but the data are sound; gain, snr, "
                    "shift, time_mask, freq_mask and noise apply to sound")
        return None
    described = {1: "a table", 2: "sequences"}.get(len(shape), "non-image data")
    if t.matrix is not None and len(shape) != 3:
        return (f"{kind} is an image augmentation, but the data are {described} with "
                f"samples of shape {shape}; "
                + ("noise, roll, slide, window and stretch apply to them" if len(shape) == 2
                   else "only noise applies to them"))
    if t.wave is not None:
        return (f"{kind} is a sound augmentation, but the data are "
                f"{'images' if len(shape) == 3 else described} with samples of shape "
                f"{shape}; it applies to a folder of sound files")
    return None


def validate_augment(items, input_shape: tuple[int, ...], integer: bool = False,
                     data: str | None = None) -> None:
    """SpecError naming each data.augment[i] that does not apply to this data (`data`:
    the kind of their encoding)."""
    problems = []
    for i, item in enumerate(items):
        kind = item.kind
        why = (f"{kind} cannot apply to token ids (a text table); remove it" if integer
               else _misfit(kind, input_shape, data))
        if why:
            problems.append(f"data.augment[{i}]: {why}")
    if problems:
        raise SpecError("the augmentation does not fit the data:\n  " + "\n  ".join(problems))


def make_augment(items, input_shape: tuple[int, ...], preprocess, integer: bool = False,
                 encoding=None) -> Augment:
    """A function (normalised batch, generator) -> augmented batch for spec.data.augment
    (`encoding`: the data's, whose sample rate the sound steps take)."""
    validate_augment(items, input_shape, integer, getattr(encoding, "kind", None))
    steps: list[Augment] = []
    geometric: list = []
    for item in items:
        if is_geometric(item.kind):
            geometric.append(item)
            continue
        if geometric:
            steps.append(_Affine(geometric, input_shape, preprocess))
            geometric = []
        kind = AUGMENTS.get(item.kind)
        if kind.steps is not None:
            steps.append(_Steps(kind.steps, item.value))
        elif kind.wave is not None:
            steps.append(_Wave(kind.wave, item.value, encoding.sample_rate))
        else:
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


@dataclass
class _Wave:
    fn: Wave
    value: Any
    rate: int

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return self.fn(x, self.value, self.rate, g)


@dataclass
class _Steps:
    fn: Steps
    value: Any

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, t = x.shape[:2]
        return resample(x, self.fn(n, t, self.value, g, x))


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
