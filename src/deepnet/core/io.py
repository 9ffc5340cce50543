"""Atomic file writes: a temp file in the same folder, fsync, then rename. A reader (or a
crash at any moment) sees the old file or the new one, never half of one. JSON is written
strictly (`json_text`: no bare NaN or Infinity)."""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import warnings
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
            _kill_point(label or path.name, f)
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
    write_text_atomic(path, json_text(obj) + "\n")


# JSON has no NaN or Infinity: Python's json writes them bare, which is not JSON and
# which other readers refuse. json_text writes each as null, and says so under this key.
NON_FINITE = "non_finite"


def json_text(obj: Any, indent: int | None = 2) -> str:
    """`obj` as strict JSON text, the one way deepnet writes JSON (files and `--json`).
    A NaN or an infinity is written as null; a top-level mapping then gets the key
    NON_FINITE mapping the JSON Pointer of each to what it was (`{"/test/loss": "NaN"}`),
    which `restore_non_finite` reads back; any other top-level value, a warning."""
    found: dict[str, str] = {}
    clean = _finite(obj, "", found)
    if found and isinstance(clean, dict):
        clean = {**clean, NON_FINITE: found}
    elif found:
        warnings.warn(f"JSON has no NaN or Infinity; written as null: {found}", stacklevel=2)
    return json.dumps(clean, indent=indent, allow_nan=False)


def _finite(obj: Any, pointer: str, found: dict[str, str]) -> Any:
    """A copy of `obj` with NaN and infinities as None, each noted in `found`."""
    if isinstance(obj, float) and not math.isfinite(obj):
        found[pointer] = json.dumps(obj)  # NaN, Infinity, -Infinity
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{pointer}/{_escape(k)}", found) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v, f"{pointer}/{i}", found) for i, v in enumerate(obj)]
    return obj


def _escape(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")  # RFC 6901


def restore_non_finite(data: Any) -> Any:
    """JSON data read back as `json_text` was given it: the nulls its NON_FINITE key
    lists are NaN or infinities again (and the key is gone). A ValueError when the key
    does not point at nulls."""
    if not isinstance(data, dict) or NON_FINITE not in data:
        return data
    data = copy.deepcopy(data)
    notes = data.pop(NON_FINITE)
    if not isinstance(notes, dict):
        raise ValueError(f"{NON_FINITE}: expected a mapping of JSON Pointers; got {notes!r}")
    for pointer, value in notes.items():
        *parents, last = [p.replace("~1", "/").replace("~0", "~")
                          for p in str(pointer).split("/")[1:]] or [""]
        try:
            node = data
            for part in parents:
                node = node[int(part) if isinstance(node, list) else part]
            key = int(last) if isinstance(node, list) else last
            if node[key] is not None or value not in ("NaN", "Infinity", "-Infinity"):
                raise ValueError
            node[key] = float(value)
        except (LookupError, TypeError, ValueError):
            raise ValueError(f"{NON_FINITE}: {pointer!r} is not a null written for "
                             f"{value!r}") from None
    return data


_kill_counts: dict[str, int] = {}


def _kill_point(label: str, f) -> None:
    """Fault injection for the crash tests: with DEEPNET_KILL_AT=label:N the process
    kills itself (SIGKILL) halfway through its N-th write labelled `label` (a write
    without a label is labelled by its file's name: `results.json:1`)."""
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
