"""Checkpoints: tensors in safetensors, everything else in JSON, both guarded by SHA-256.

A checkpoint folder holds `tensors-<epoch>.safetensors` and `state-<epoch>.json`, which
names the tensors file and its hash and carries a hash of its own content. The state file
is written last, atomically (temp file + rename): it is the commit point, so a crash at
any moment leaves the previous checkpoint whole; then the older files are removed. Every
file gets a new name, never replaces one: on ext4 a rename over an existing file starts
a write to disk at once, which cost a millisecond per epoch. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors

from deepnet.core.errors import CheckpointError
from deepnet.core.io import write_bytes_atomic

STATE = "state-*.json"


def _digest(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True).encode()


# safetensors dtype names, in the order of safetensors' Dtype enum (it sorts by it)
_DTYPES = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
           torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
           torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
_RANK = {name: i for i, name in enumerate(_DTYPES.values())}


def serialize(tensors: dict[str, torch.Tensor]) -> memoryview:
    """The bytes of a safetensors file holding `tensors`, byte for byte what
    safetensors.torch.save writes (a test checks), made with one copy of the tensors
    (one torch.cat, into the file's buffer on the CPU): about six times faster than
    safetensors.torch.save, which converts tensor by tensor, and this runs every epoch."""
    order = sorted(tensors, key=lambda k: (-_RANK[_DTYPES[tensors[k].dtype]], k))
    header, parts, offset = {}, [], 0
    for name in order:
        v = tensors[name].detach()
        size = v.numel() * v.element_size()
        header[name] = {"dtype": _DTYPES[v.dtype], "shape": list(v.shape),
                        "data_offsets": [offset, offset + size]}
        parts.append(v.contiguous().reshape(-1).view(torch.uint8))
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    head = len(head).to_bytes(8, "little") + head
    buf = torch.empty(len(head) + offset, dtype=torch.uint8)
    buf[:len(head)] = torch.frombuffer(bytearray(head), dtype=torch.uint8)
    device = next((p.device for p in parts if p.device.type != "cpu"), None)
    if device is not None:  # gathered on the GPU, then one copy to the host
        buf[len(head):] = torch.cat([p.to(device) for p in parts]).cpu()
    elif parts:  # straight into the buffer
        torch.cat(parts, out=buf[len(head):])
    return memoryview(buf.numpy())


def save(folder: str | Path, data: bytes | memoryview, meta: dict[str, Any], tag: str) -> None:
    """Write one checkpoint atomically, then remove the files it replaces. `data` is the
    tensors file (`serialize`). No fsync: a killed process still leaves a whole
    checkpoint; `flush` makes the last one survive a power cut too."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, state_name = f"tensors-{tag}.safetensors", f"state-{tag}.json"
    write_bytes_atomic(folder / tensors, data, label="checkpoint", durable=False)
    body = _canonical({**meta, "tensors": tensors, "tensors_sha256": _digest(data)})
    state = b'{"sha256": "%s", "body": %s}' % (_digest(body).encode(), body)
    write_bytes_atomic(folder / state_name, state, durable=False)
    for old in os.listdir(folder):
        stale = old.startswith(("tensors-", "state-")) and old not in (tensors, state_name)
        if stale or (old.startswith(".") and old.endswith(".tmp")):  # .tmp: a crash mid-write
            (folder / old).unlink(missing_ok=True)


def flush(folder: str | Path) -> None:
    """fsync the checkpoint in `folder`: its files, then the folder."""
    folder = Path(folder)
    for path in [*folder.glob("tensors-*.safetensors"), *folder.glob(STATE), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _latest(folder: Path) -> Path | None:
    """The newest committed state file (a crash between commit and clean-up leaves two)."""
    states = [p for p in folder.glob(STATE) if p.stem.removeprefix("state-").isdigit()]
    return max(states, key=lambda p: int(p.stem.removeprefix("state-")), default=None)


def exists(folder: str | Path) -> bool:
    return _latest(Path(folder)) is not None


def meta(folder: str | Path) -> dict[str, Any]:
    """The JSON meta of the checkpoint in `folder`, its hash verified; CheckpointError
    naming the state file when it is missing, truncated or altered."""
    folder = Path(folder)
    state_path = _latest(folder)
    if state_path is None:
        raise CheckpointError(f"no checkpoint in {str(folder)!r}: no state-<epoch>.json file")
    try:
        state = json.loads(state_path.read_text())
        body = state["body"]
        ok = state["sha256"] == _digest(_canonical(body)) and isinstance(body, dict)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise CheckpointError(f"checkpoint file {str(state_path)!r} is corrupt (truncated or "
                              "altered); it was not loaded")
    return body


def load(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of the checkpoint in `folder`; CheckpointError naming the file when
    it is missing, truncated or altered. Nothing is loaded from a file that fails."""
    folder = Path(folder)
    body = meta(folder)
    tensors_path = folder / body["tensors"]
    try:
        data = tensors_path.read_bytes()
    except OSError:
        raise CheckpointError(f"checkpoint file {str(tensors_path)!r} is missing") from None
    if _digest(data) != body["tensors_sha256"]:
        raise CheckpointError(f"checkpoint file {str(tensors_path)!r} is corrupt (its SHA-256 "
                              f"does not match {_latest(folder).name}: truncated or altered); "
                              "it was not loaded")
    return load_tensors(data), body


# ----------------------------------------------------------------------------- state helpers
def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state_dict split into tensors and JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()}
              for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
