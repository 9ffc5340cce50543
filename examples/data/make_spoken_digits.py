"""Writes examples/data/spoken_digits/<digit>/<voice>_<accent>_<n>.wav: the words "zero"
to "nine" spoken by espeak-ng (a Debian package: apt-get install espeak-ng) in each of
its voice variants (about a hundred: male, female, whispered, croaky, robotic...) with
four English accents, at a seeded random rate, pitch and loudness, after a random
silence, with white noise at a random signal-to-noise ratio of 10 to 40 dB. Files are
16-bit mono WAV at espeak-ng's 22050 Hz; examples/speech.yaml resamples them to 8 kHz.

A voice is a speaker: examples/speech.yaml splits by the voice in the file name
(data.split.groups), so its test accuracy is on voices never heard in training.

    python examples/data/make_spoken_digits.py     # the same files every time (seeded)
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-029"]
OUT = Path(__file__).with_name("spoken_digits")


def variants() -> list[str]:
    """espeak-ng's voice variants (the file names of `espeak-ng --voices=variant`)."""
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True,
                             text=True, check=True).stdout.splitlines()[1:]
    return sorted({line.split()[4].split("/")[-1] for line in listing if line.strip()})


def speak(word: str, voice: str, accent: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    rate, pitch = int(rng.integers(120, 211)), int(rng.integers(25, 76))
    wav = subprocess.run(["espeak-ng", "-v", f"{accent}+{voice}", "-s", str(rate), "-p",
                          str(pitch), "--stdout", word], capture_output=True, check=True).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    lead = np.zeros(int(rng.uniform(0.0, 0.15) * sr), np.float32)
    x = np.concatenate([lead, x]) * rng.uniform(0.3, 1.0)
    power = max(float(np.mean(x ** 2)), 1e-10)
    snr = rng.uniform(10, 40)
    x = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(power / 10 ** (snr / 10))
    return np.clip(x, -1, 1), sr


def make(out: Path = OUT) -> int:
    if shutil.which("espeak-ng") is None:
        sys.exit("make_spoken_digits.py needs espeak-ng: sudo apt-get install espeak-ng")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for d in DIGITS:
        (tmp / d).mkdir(parents=True)
    jobs = [(d, v, a) for v in variants() for a in ACCENTS for d in DIGITS]
    seeds = np.random.SeedSequence(20261130).spawn(len(jobs))

    def one(k: int) -> None:
        digit, voice, accent = jobs[k]
        x, sr = speak(digit, voice, accent, np.random.default_rng(seeds[k]))
        sf.write(tmp / digit / f"{voice.replace('_', '-')}_{accent}_{k}.wav", x, sr,
                 subtype="PCM_16")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(len(jobs))))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)  # all or nothing: an interrupted run leaves no half corpus
    return len(jobs)


if __name__ == "__main__":
    n = make()
    print(f"wrote {OUT}: {n} clips of {len(DIGITS)} digits in {n // len(DIGITS) // len(ACCENTS)} "
          f"voices x {len(ACCENTS)} accents")
