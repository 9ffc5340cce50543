"""Sizes with units: `parse_size("8GB")`."""

from __future__ import annotations

import re

from deepnet.core.errors import DeepnetError

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """Bytes in a size such as 8GB, 512MiB, 1.5GiB or 1000000 (kB..TB are powers of 1000,
    KiB..TiB powers of 1024); DeepnetError for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise DeepnetError(
            f"memory size {text!r} not understood; expected a number with an optional unit "
            "B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), "
            "e.g. 8GB, 512MiB, 1.5GiB or 1000000 (bytes)")
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if size < 1:
        raise DeepnetError(f"memory size must be at least 1 byte; got {text!r}")
    return size


def mel(hz):
    """The mel scale (HTK's formula, 2595 log10(1 + f / 700)) of frequencies in Hz: a
    float or a tensor. The spectrogram layer's filters and the frequency mask of sound
    augmentation both read it."""
    import torch

    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def hz(mels):
    """Frequencies in Hz of points on the mel scale (the inverse of `mel`)."""
    import torch

    return 700.0 * (10 ** (torch.as_tensor(mels, dtype=torch.float64) / 2595.0) - 1.0)
