"""Atomic file writes: a temp file in the same folder, fsync, then rename. A reader (or a
crash at any moment) sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | Path, data: bytes, label: str = "",
                       durable: bool = True) -> None:
    """Write `data` to `path` atomically. `durable=False` skips the fsync: the file is
    still whole or absent after a crash of the process, but not after a power cut."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data[: len(data) // 2])
            _kill_point(label, f)
            f.write(data[len(data) // 2 :])
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temp files that writes killed midway left in `folder` (not below it);
    the files they were writing are whole or absent. Returns what was deleted."""
    found = [f for f in Path(folder).glob(".*.tmp") if f.is_file()]
    for f in found:
        f.unlink(missing_ok=True)
    return found


def write_text_atomic(path: str | Path, text: str, durable: bool = True) -> None:
    write_bytes_atomic(path, text.encode(), durable=durable)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


_kill_counts: dict[str, int] = {}


def _kill_point(label: str, f) -> None:
    """Fault injection for the crash tests: with DEEPNET_KILL_AT=label:N the process
    kills itself (SIGKILL) halfway through its N-th write labelled `label`."""
    spec = os.environ.get("DEEPNET_KILL_AT")
    if not spec or not label:
        return
    want, _, count = spec.partition(":")
    if want != label:
        return
    _kill_counts[label] = _kill_counts.get(label, 0) + 1
    if _kill_counts[label] == int(count or 1):
        f.flush()
        os.fsync(f.fileno())
        os.kill(os.getpid(), 9)
