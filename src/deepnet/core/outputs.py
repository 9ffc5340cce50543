"""Where deepnet writes, checked before the work: a long training, audit or attack must
not end in an error because its output cannot be written.

    writable_folder("runs/x", "--out")     # a folder deepnet makes (or an existing one)
    writable_file("preds.csv", "--out")    # a file deepnet writes (or replaces)

Each raises a DeepnetError naming the argument and the path, and creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from deepnet.core.errors import DeepnetError


def _existing_parent(path: Path, flag: str) -> Path:
    """The nearest folder above `path` that exists; an error when a file is in the way."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise DeepnetError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a "
                                   "folder; choose a path under a folder")
            return parent
    raise DeepnetError(f"{flag} {str(path)!r}: no folder above it exists")  # pragma: no cover


def _check_access(folder: Path, path: Path, flag: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DeepnetError(f"{flag} {str(path)!r}: cannot write in {str(folder)!r} "
                           "(permission denied); choose a folder you can write to")


def writable_folder(path: str | Path, flag: str) -> Path:
    """`path` can be made as a folder, or is one that can be written in."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise DeepnetError(f"{flag} {str(path)!r} is a file, not a folder")
        _check_access(path, path, flag)
    else:
        _check_access(_existing_parent(path, flag), path, flag)
    return path


def writable_file(path: str | Path, flag: str) -> Path:
    """`path` can be written as a file (made or replaced, atomically: its folder must be
    writable too)."""
    path = Path(path)
    if path.is_dir():
        raise DeepnetError(f"{flag} {str(path)!r} is a folder, where deepnet writes a file; "
                           "give another path, or move the folder away")
    folder = path.parent if path.parent.exists() else _existing_parent(path, flag)
    if not folder.is_dir():
        raise DeepnetError(f"{flag} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    _check_access(folder, path, flag)
    return path
