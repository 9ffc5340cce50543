"""Sound folders: root/<class>/*.wav (or .flac, .ogg), as mono waveforms.

Each file is decoded with soundfile (libsndfile: every common WAV flavour, 8- to 32-bit
integer and float, and FLAC and Ogg besides, with its errors as exceptions), mixed down to
mono, resampled to `data.audio.sample_rate` with soxr (libsoxr's high-quality
resampler, librosa's default: any ratio, an anti-aliasing filter, about 7 times faster
than scipy's resample_poly on 22050 -> 8000 Hz) and cut or padded with silence at its end to
`data.audio.seconds`. Rows are the files class by class, each class's in sorted order,
as for image folders (deepnet.data.images). The spectrogram is the network's first
layer (`logmel`, deepnet.nn.spectral), computed batch by batch on the device, so the raw
input of a sample is its waveform and predict, serve and attacks take waveforms.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data import folders
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import AudioEncoding
from deepnet.data.split import file_groups

EXTENSIONS = (".wav", ".flac", ".ogg")
SOUNDS = folders.Kind(EXTENSIONS, "sound files", "a sound folder")
DEFAULT_RATE, DEFAULT_SECONDS = 16000, 1.0  # data.audio's defaults


def holds_sound(root: Path) -> bool:
    """Whether a folder is a sound folder: its first class folder (or itself) holds a
    sound file."""
    classes = folders.subfolders(root)
    return bool(SOUNDS.files_in(classes[0] if classes else root))


def find_sounds(root: Path) -> tuple[list[Path], list[str] | None]:
    """Sound files to predict: root/*.wav, or root/<class>/*.wav with their class names."""
    return folders.find_files(root, SOUNDS)


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise DataError(f"reading sound files needs {name}, which is not installed: "
                        "pip install -c constraints.txt 'deepnet[audio]'") from None


def wav_shortfall(f: BinaryIO) -> tuple[int, int] | None:
    """(bytes the header of a WAV file declares for its samples, bytes it holds) when it
    holds fewer (a truncated file, which libsndfile reads without a word), else None."""
    start = f.tell()
    head = f.read(12)
    try:
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                here = f.tell()
                held = f.seek(0, io.SEEK_END) - here
                return (size, held) if held < size else None
            f.seek(size + (size & 1), io.SEEK_CUR)
    finally:
        f.seek(start)


def decode(path, encoding: AudioEncoding, where: str | None = None) -> np.ndarray:
    """One file (a path, or a binary file object named `where` in messages) as a float32
    waveform of encoding.samples at encoding.sample_rate; DataError naming the file when
    it is no sound, empty, truncated, or at another rate and resampling is off."""
    sf = _module("soundfile")
    where = where or str(path)
    try:
        with open(path, "rb") if isinstance(path, str | Path) else contextlib.nullcontext(
                path) as raw:
            short = wav_shortfall(raw)
            if short is not None:
                raise DataError(f"{where}: the file is truncated: its header declares "
                                f"{short[0]} bytes of samples but it holds {short[1]}; "
                                "remove or replace it")
            with sf.SoundFile(raw) as f:
                rate = f.samplerate
                x = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise DataError(f"{where}: cannot decode the sound ({why}); pass a WAV, FLAC or Ogg "
                        "file, or remove it") from None
    if len(x) == 0:
        raise DataError(f"{where}: the sound file holds no samples; remove it")
    if not np.isfinite(x).all():
        raise DataError(f"{where}: the sound holds NaN or infinite samples; remove it")
    x = x.mean(axis=1)
    if rate != encoding.sample_rate:
        if not encoding.resample:
            raise DataError(f"{where}: sampled at {rate} Hz, but data.audio.sample_rate is "
                            f"{encoding.sample_rate} Hz and data.audio.resample is false; "
                            "set resample: true or convert the file")
        x = _module("soxr").resample(x, rate, encoding.sample_rate).astype(np.float32, copy=False)
    out = np.zeros(encoding.samples, np.float32)
    n = min(len(x), encoding.samples)
    out[:n] = x[:n]
    return out


def read_sounds(paths: list[Path], encoding: AudioEncoding) -> np.ndarray:
    out = np.empty((len(paths), encoding.samples), np.float32)
    for i, p in enumerate(paths):
        out[i] = decode(p, encoding)
    return out


def encoding_of(data) -> AudioEncoding:
    """The encoding of spec.data.audio (its defaults when the section is left out)."""
    cfg = data.audio
    rate = cfg.sample_rate if cfg else DEFAULT_RATE
    seconds = cfg.seconds if cfg else DEFAULT_SECONDS
    return AudioEncoding(rate, int(round(seconds * rate)), cfg.resample if cfg else True)


def load_audio(data, root: Path, task: str | None = None) -> Dataset:
    where = str(root)
    paths, y, classes = folders.class_folder(root, SOUNDS, task)
    encoding = encoding_of(data)
    x = read_sounds(paths, encoding)
    return Dataset(x, y, "classification", classes, where, encoding=encoding,
                   split_groups=file_groups(paths, data.split.groups, where))
