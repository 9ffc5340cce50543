"""`deepnet.load(path)`: a run directory or an ensemble folder, as a Run."""

from __future__ import annotations

import os
from pathlib import Path

from deepnet.core import heap
from deepnet.core.errors import CheckpointError
from deepnet.runs.ensemble import is_ensemble, load_ensemble
from deepnet.runs.run import Run, load_run


def load(path: str | Path | Run) -> Run:
    """A finished run (or an ensemble of runs) from its folder; CheckpointError when files
    are missing or bad. A Run is returned as it is: the Python API's entry points that
    take a run take a Run or its folder's path through here.

    >>> run = deepnet.load("runs/digits-cnn-20260101-120000")
    """
    if isinstance(path, Run):
        return path
    if not isinstance(path, str | os.PathLike):
        raise CheckpointError(f"run: expected a deepnet.Run or the path of a run directory "
                              f"(a str or Path); got {type(path).__name__} {path!r:.60}")
    run = load_ensemble(path) if is_ensemble(path) else load_run(path)
    heap.settle()  # torch is imported, and the command's work is on this run (core.heap)
    return run
