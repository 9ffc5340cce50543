"""`deepnet.load(path)`: a run directory or an ensemble folder, as a Run."""

from __future__ import annotations

from pathlib import Path

from deepnet.runs.ensemble import is_ensemble, load_ensemble
from deepnet.runs.run import Run, load_run


def load(path: str | Path) -> Run:
    """A finished run (or an ensemble of runs) from its folder; CheckpointError when files
    are missing or bad.

    >>> run = deepnet.load("runs/digits-cnn-20260101-120000")
    """
    return load_ensemble(path) if is_ensemble(path) else load_run(path)
