"""Checkpoints: tensors in safetensors, everything else in JSON, both guarded by SHA-256.

A checkpoint folder holds `tensors-<epoch>.safetensors` and `state.json`, which names the
tensors file and its hash and carries a hash of its own content. state.json is written
last, atomically: it is the commit point, so a crash at any moment leaves the previous
checkpoint whole. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepnet.errors import CheckpointError
from deepnet.files import write_bytes_atomic, write_text_atomic

STATE = "state.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True).encode()


def save(folder: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
         tag: str) -> None:
    """Write one checkpoint atomically, then remove the tensors files it replaces."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    name = f"tensors-{tag}.safetensors"
    write_bytes_atomic(folder / name, data, label="checkpoint")
    body = {**meta, "tensors": name, "tensors_sha256": _digest(data)}
    state = {"sha256": _digest(_canonical(body)), "body": body}
    write_text_atomic(folder / STATE, json.dumps(state))
    for old in folder.glob("tensors-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp"):  # left by a crash mid-write
        tmp.unlink(missing_ok=True)


class BackgroundWriter:
    """Writes checkpoints on a background thread so serialising, hashing and fsync overlap
    the next epoch. One write at a time: a new one first waits for the last. The caller
    passes a snapshot (cloned tensors), so training may go on changing its own."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, folder, tensors: dict[str, torch.Tensor], meta: dict, tag: str) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(folder, tensors, meta, tag),
                                        name="deepnet-checkpoint", daemon=True)
        self._thread.start()

    def _run(self, *args) -> None:
        try:
            save(*args)
        except BaseException as e:  # re-raised in the training thread by wait()
            self._error = e

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def exists(folder: str | Path) -> bool:
    return (Path(folder) / STATE).is_file()


def load(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of the checkpoint in `folder`; CheckpointError naming the file when
    it is missing, truncated or altered. Nothing is loaded from a file that fails."""
    folder = Path(folder)
    state_path = folder / STATE
    try:
        state = json.loads(state_path.read_text())
        body = state["body"]
        ok = state["sha256"] == _digest(_canonical(body))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint in {str(folder)!r}: {STATE} is missing") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise CheckpointError(f"checkpoint file {str(state_path)!r} is corrupt (truncated or "
                              "altered); it was not loaded")
    tensors_path = folder / body["tensors"]
    try:
        data = tensors_path.read_bytes()
    except OSError:
        raise CheckpointError(f"checkpoint file {str(tensors_path)!r} is missing") from None
    if _digest(data) != body["tensors_sha256"]:
        raise CheckpointError(f"checkpoint file {str(tensors_path)!r} is corrupt (its SHA-256 "
                              "does not match state.json: truncated or altered); it was not loaded")
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
