"""The spectrogram as a layer: `logmel` turns waveforms (samples,) into log-mel
spectrograms (1, mels, frames), batch by batch on the device the network runs on.

It is torch.stft (an FFT per frame, on any device, with gradients, so attacks reach
the waveform) with a periodic Hann window, centred frames (the signal padded with
zeros by half a window at each end), the power spectrum through triangular mel filters
of the HTK mel scale, unnormalised, then log(mel + 1e-6): the same numbers as
librosa.feature.melspectrogram(htk=True, norm=None, pad_mode="constant") before the log
(tests/nn/test_spectral.py checks it). It has no weights; a batchnorm after it
normalises the spectrogram.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn

from deepnet.core.schema import PositiveInt
from deepnet.core.units import hz, mel
from deepnet.nn.cost import Saved
from deepnet.nn.layer_type import Args, Built, Context, LayerType, Node, Shape

Seconds = Annotated[float, Field(gt=0, le=1)]


class LogMelArgs(Args):
    main: ClassVar[str] = "mels"
    mels: PositiveInt = 40
    sample_rate: Annotated[int, Field(ge=1000, le=192000)] = 16000  # data.audio's
    window: Seconds = 0.025  # the FFT's length, seconds
    hop: Seconds = 0.010  # between frames, seconds
    fmin: Annotated[float, Field(ge=0)] = 0.0  # Hz
    fmax: Annotated[float, Field(gt=0)] | None = None  # Hz; default half the sample rate

    @model_validator(mode="after")
    def _band(self) -> LogMelArgs:
        top = self.sample_rate / 2
        if self.fmax is not None and self.fmax > top:
            raise ValueError(f"fmax {self.fmax} Hz is above half the sample rate ({top} Hz)")
        if self.fmin >= (self.fmax or top):
            raise ValueError(f"fmin {self.fmin} Hz must be below fmax ({self.fmax or top} Hz)")
        if self.mels > self.n_fft // 2 + 1:
            raise ValueError(f"{self.mels} mels from a window of {self.n_fft} samples (its "
                             f"{self.n_fft // 2 + 1} frequencies): use fewer mels or a "
                             "longer window")
        return self

    @property
    def n_fft(self) -> int:
        return max(2, int(round(self.window * self.sample_rate)))

    @property
    def hop_length(self) -> int:
        return max(1, int(round(self.hop * self.sample_rate)))


def mel_filters(rate: int, n_fft: int, mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """(frequencies, mels) triangular filters on the HTK mel scale, unnormalised."""
    freqs = torch.linspace(0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = hz(torch.linspace(float(mel(fmin)), float(mel(fmax)), mels + 2,
                              dtype=torch.float64))
    width = edges.diff()
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / width[:-1, None]
    upper = ramps[2:] / width[1:, None]
    return torch.clamp(torch.minimum(lower, upper), min=0).T.float().contiguous()


class LogMel(nn.Module):
    def __init__(self, a: LogMelArgs):
        super().__init__()
        self.n_fft, self.hop = a.n_fft, a.hop_length
        self.register_buffer("window", torch.hann_window(a.n_fft), persistent=False)
        self.register_buffer("filters", mel_filters(a.sample_rate, a.n_fft, a.mels, a.fmin,
                                                    a.fmax or a.sample_rate / 2),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        power = self._by_dft(x.float()) if torch.onnx.is_in_onnx_export() else \
            self._by_fft(x.float())  # (N, frequencies, frames)
        mel = torch.matmul(power.transpose(1, 2), self.filters).transpose(1, 2)
        return torch.log(mel + 1e-6).unsqueeze(1).to(x.dtype)


    def _by_fft(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)
        return spec.real.square() + spec.imag.square()

    def _by_dft(self, x: torch.Tensor) -> torch.Tensor:
        """The same power spectrum as a convolution with the windowed DFT's cosines and
        sines: what ONNX export writes, as ONNX's STFT takes no complex numbers."""
        n, bins = self.n_fft, self.n_fft // 2 + 1
        t = torch.arange(n, dtype=torch.float64)
        angle = 2 * math.pi * torch.arange(bins, dtype=torch.float64)[:, None] * t / n
        w = self.window.double()
        basis = torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w]).float()
        padded = nn.functional.pad(x[:, None], (n // 2, n // 2))
        spec = nn.functional.conv1d(padded, basis[:, None].to(x.device), stride=self.hop)
        return spec[:, :bins].square() + spec[:, bins:].square()


def frames(a: LogMelArgs, samples: int) -> int:
    return 1 + samples // a.hop_length


def _logmel(n: Node, s: Shape, ctx: Context) -> Built:
    a: LogMelArgs = n.args
    n.need_rank(s, (1,), "waveforms of shape (samples,): a folder of sound files")
    if s[0] < a.n_fft // 2 + 1:
        raise n.shape_error(s, f"at least {a.n_fft // 2 + 1} samples for a window of "
                               f"{a.n_fft}")
    return Built(LogMel(a), (1, a.mels, frames(a, s[0])))


def _flops(a: LogMelArgs, s: Shape, out: Shape) -> int:
    """Per frame: the window, the FFT (~5 N log2 N / 2 for a real signal), the power,
    the mel filters and the log."""
    f, bins = frames(a, s[0]), a.n_fft // 2 + 1
    fft = int(2.5 * a.n_fft * math.log2(a.n_fft))
    return f * (a.n_fft + fft + 3 * bins + 2 * bins * a.mels + a.mels)


def _saves(a: LogMelArgs, s: Shape, out: Shape, e: int) -> Saved:
    """For backward (an attack on the waveform): the complex spectrum, the power and the
    mel energies; in a forward, the spectrum and power are transient."""
    f, bins = frames(a, s[0]), a.n_fft // 2 + 1
    return Saved(extra=f * (bins * 8 + bins * 4 + a.mels * 4), work=f * bins * 12)


TYPES = {
    "logmel": LayerType(LogMelArgs, _logmel, _flops, _saves),
}
