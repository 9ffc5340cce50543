"""Every file of a run directory: its name, how it is written (atomically, through
deepnet.core.io) and how it is read back and verified (deepnet.runs.records). No other
module builds these paths or parses these files. A missing, damaged or truncated file is
a CheckpointError that names it and says what to do.

    runs/<name>-<UTC timestamp>/
      spec.yaml                the resolved spec
      metrics.jsonl            one JSON object per epoch (train.callbacks.MetricsLog)
      model.safetensors        the weights, with ModelMeta as metadata
      checkpoint/              while training and to resume (deepnet.train.checkpoint)
      results.json             Results
      report.html              the report (deepnet.report.html)
      teacher.safetensors      defensive distillation: the teacher, with TeacherMeta
      audit.json               AuditReport (`deepnet audit SPEC --run RUN`)
      robustness/results.json  Robustness (`deepnet attack`), with examples.png, curve.png
      ensemble.json            EnsembleInfo: the folder is an ensemble of runs
      diagnosis.json           Diagnosis: the report's findings, for `deepnet diagnose`
      .lock                    held (flock) by the one process that trains the run

Every file read back is verified: JSON files against their record's schema, the model
files by a SHA-256 of their metadata and tensors kept in the file (and the checkpoint by
its own hashes, deepnet.train.checkpoint). A run folder is claimed before anything is
written in it (`claim`): a second process that trains into the same folder is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from safetensors import SafetensorError

from deepnet.core.errors import CheckpointError, DeepnetError
from deepnet.core.io import (
    remove_temporaries,
    restore_non_finite,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from deepnet.runs.records import (
    AuditReport,
    DataInfo,
    Diagnosis,
    EnsembleInfo,
    ModelMeta,
    Results,
    Robustness,
    TeacherMeta,
)

if TYPE_CHECKING:  # torch and the spec are imported where they are used: the reading of
    import torch  # the JSON files (and `deepnet diagnose`) does not wait for torch

    from deepnet.spec import Spec

SPEC = "spec.yaml"
METRICS = "metrics.jsonl"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint"
RESULTS = "results.json"
REPORT = "report.html"
TEACHER = "teacher.safetensors"
AUDIT = "audit.json"
ROBUSTNESS = "robustness"
ROBUSTNESS_RESULTS = f"{ROBUSTNESS}/results.json"
ENSEMBLE = "ensemble.json"
DIAGNOSIS = "diagnosis.json"
DATA = "data.json"  # data passed in Python: what they were (never the data themselves)
DIAGNOSED = (SPEC, METRICS, RESULTS, MODEL, ENSEMBLE)  # what a diagnosis is made from
RULES = Path(__file__).parents[1] / "diagnose"  # the diagnosis rules: their source files
EXAMPLES_FIGURE = "examples.png"  # in robustness/: the grid of adversarial examples
CURVE_FIGURE = "curve.png"  # in robustness/: accuracy against eps
FIGURES = (EXAMPLES_FIGURE, CURVE_FIGURE)
LOCK = ".lock"
HASH_KEY = "sha256"  # in a model file's metadata: the SHA-256 of the rest of the file

# What to do about a damaged file, by its name in the run directory.
REMEDIES = {
    METRICS: "delete the damaged lines (or the file) to use the run without that history",
    MODEL: "train the run again",
    RESULTS: "delete it to use the run without its results, or train the run again",
    TEACHER: "delete it: a resumed run trains its teacher again",
    AUDIT: "run `deepnet audit SPEC --run RUN` again, or delete it",
    ROBUSTNESS_RESULTS: "run `deepnet attack RUN` again, or delete the robustness folder",
    ENSEMBLE: "make the ensemble again with `deepnet ensemble RUN RUN ... --out DIR`",
    DATA: "delete it: it only describes the data the run was trained on",
}

R = TypeVar("R")


@dataclass(frozen=True)
class RunDir:
    """A run directory: the path of each of its files, and their reading and writing."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def file(self, name: str) -> Path:
        """The path of one of the names above, e.g. `RunDir(p).file(REPORT)`."""
        return self.path / name

    def _damaged(self, name: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{str(self.file(name))!r} is damaged: {problem}; "
                               f"{REMEDIES[name]}")

    # ------------------------------------------------------------------------- JSON files
    def _read_json(self, name: str) -> Any:
        f = self.file(name)
        try:
            return json.loads(f.read_text())
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise self._damaged(name, f"not valid JSON ({e})") from None
        except OSError as e:
            raise CheckpointError(f"cannot read {str(f)!r}: {e}") from None

    def _read_record(self, name: str, record: type[R]) -> R | None:
        """The record in the JSON file `name`, or None when there is no such file."""
        if not self.file(name).is_file():
            return None
        data = self._read_json(name)
        try:
            return record.from_json(data)
        except (ValueError, DeepnetError) as e:
            raise self._damaged(name, f"its content is not valid ({e})") from None

    def write_results(self, results: Results) -> None:
        write_json_atomic(self.file(RESULTS), results.to_json())

    def read_results(self) -> Results:
        """The run's results; empty when results.json is not there (yet)."""
        return self._read_record(RESULTS, Results) or Results()

    def write_audit(self, report: AuditReport) -> Path:
        if not self.file(SPEC).is_file():
            raise CheckpointError(f"--run {str(self.path)!r}: not a run directory (no "
                                  f"{SPEC}); give the folder of a trained run")
        write_json_atomic(self.file(AUDIT), report.to_json())
        return self.file(AUDIT)

    def write_data(self, info: DataInfo) -> None:
        write_json_atomic(self.file(DATA), info.to_json())

    def read_data(self) -> DataInfo | None:
        """What the run's in-memory data were; None for a run trained from data.source."""
        return self._read_record(DATA, DataInfo)

    def read_audit(self) -> AuditReport | None:
        return self._read_record(AUDIT, AuditReport)

    def write_robustness(self, record: Robustness, figures: dict[str, bytes]) -> Path:
        """robustness/results.json and the figures (FIGURES names) beside it."""
        for name, data in figures.items():
            if name not in FIGURES:
                raise ValueError(f"unknown robustness figure {name!r}; valid: {FIGURES}")
            write_bytes_atomic(self.file(ROBUSTNESS) / name, data)
        write_json_atomic(self.file(ROBUSTNESS_RESULTS), record.to_json())
        return self.file(ROBUSTNESS_RESULTS)

    def read_robustness(self) -> Robustness | None:
        return self._read_record(ROBUSTNESS_RESULTS, Robustness)

    def read_figure(self, name: str) -> bytes | None:
        """A robustness figure's PNG bytes, or None when it was never drawn; a file that
        is not a PNG is a CheckpointError naming it."""
        f = self.file(ROBUSTNESS) / name
        if name not in FIGURES or not f.is_file():
            return None
        data = f.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise CheckpointError(f"{str(f)!r} is damaged: not a PNG image; run `deepnet "
                                  "attack RUN` again, or delete the robustness folder")
        return data

    def is_ensemble(self) -> bool:
        return self.file(ENSEMBLE).is_file()

    def write_ensemble(self, info: EnsembleInfo) -> None:
        write_json_atomic(self.file(ENSEMBLE), info.to_json())

    def read_ensemble(self) -> EnsembleInfo:
        info = self._read_record(ENSEMBLE, EnsembleInfo)
        if info is None:
            raise CheckpointError(f"{str(self.file(ENSEMBLE))!r} not found: is "
                                  f"{str(self.path)!r} an ensemble folder?")
        return info

    def write_diagnosis(self, findings: list[dict]) -> None:
        """diagnosis.json: `findings` (Finding.to_dict() each), with the hashes of the
        rules and of the files they were made from."""
        record = Diagnosis.from_json({"rules": rules_digest(), "sources": self._diagnosed(),
                                      "findings": findings})
        write_json_atomic(self.file(DIAGNOSIS), record.to_json())

    def read_diagnosis(self) -> list[dict] | None:
        """The saved findings, or None when there are none or they are out of date: a
        file they were made from or the rules changed since. A damaged diagnosis.json is
        None too: it only saves the time of diagnosing again."""
        try:
            saved = Diagnosis.from_json(json.loads(self.file(DIAGNOSIS).read_bytes()))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if saved.rules != rules_digest() or saved.sources != self._diagnosed():
            return None
        return [f.to_json() for f in saved.findings]

    def _diagnosed(self) -> dict[str, str | None]:
        """The SHA-256 of each file a diagnosis is made from; an ensemble's members' model
        files too."""
        names = list(DIAGNOSED)
        if self.file(ENSEMBLE).is_file():
            try:
                names += [f"{m}/{MODEL}" for m in self.read_ensemble().members]
            except CheckpointError:
                pass  # a damaged ensemble.json: its own hash already differs
        return {name: _file_digest(self.file(name)) for name in names}

    def read_history(self) -> list[dict]:
        """metrics.jsonl: one dict per epoch ([] when there is none)."""
        f = self.file(METRICS)
        if not f.is_file():
            return []
        history = []
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                logs = restore_non_finite(json.loads(line))
            except ValueError as e:
                raise self._damaged(METRICS, f"line {n} is not valid JSON ({e})") from None
            if not isinstance(logs, dict):
                raise self._damaged(METRICS, f"line {n} is not a JSON object of metrics")
            history.append(logs)
        return history

    # ------------------------------------------------------------------------- other files
    def write_spec(self, spec: Spec) -> None:
        spec.to_yaml(self.file(SPEC))

    def read_spec(self) -> Spec:
        from deepnet.spec import Spec

        return Spec.from_yaml(self.file(SPEC))

    def write_report(self, html: str) -> Path:
        write_text_atomic(self.file(REPORT), html)
        return self.file(REPORT)

    def write_model(self, model: torch.nn.Module, meta: ModelMeta) -> None:
        """model.safetensors: the weights, with `meta` (and its format) as metadata."""
        _write_weights(self.file(MODEL), model, meta.to_json())

    def read_model(self) -> tuple[dict[str, torch.Tensor], ModelMeta]:
        return self._read_weights(MODEL, ModelMeta)

    def write_teacher(self, model: torch.nn.Module, meta: TeacherMeta) -> None:
        _write_weights(self.file(TEACHER), model, meta.to_json())

    def read_teacher(self) -> tuple[dict[str, torch.Tensor], TeacherMeta] | None:
        """The distillation teacher's weights and metadata; None when not trained yet."""
        if not self.file(TEACHER).is_file():
            return None
        return self._read_weights(TEACHER, TeacherMeta)

    def _read_weights(self, name: str, record: type[R]) -> tuple[dict[str, torch.Tensor], R]:
        f = self.file(name)
        try:
            data = f.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"{str(f)!r} not found: is this a finished run?") from None
        except OSError as e:
            raise CheckpointError(f"cannot read {str(f)!r}: {e}") from None
        try:
            raw, body = _split(data)
            meta = {k: json.loads(v) for k, v in raw.items() if k != HASH_KEY}
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{str(f)!r} is corrupt or not a deepnet model: {e}; "
                                  f"{REMEDIES[name]}") from None
        try:
            parsed = record.from_json(meta)
        except CheckpointError as e:  # a newer format: say which file
            raise CheckpointError(f"{str(f)!r}: {e}") from None
        except ValueError as e:
            raise self._damaged(name, f"its metadata is not a deepnet {record.__name__} "
                                      f"({e})") from None
        if parsed.format >= HASHED and raw.get(HASH_KEY) != _digest(raw, body):
            raise self._damaged(name, "its SHA-256 does not match its content (truncated, "
                                      "altered or corrupted on disk); it was not used")
        from safetensors.torch import load as load_tensors

        try:
            return load_tensors(data), parsed
        except SafetensorError as e:
            raise self._damaged(name, str(e)) from None


HASHED = 3  # the model format from which model files carry their SHA-256


def _file_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes; None when it is not there."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def rules_digest() -> str:
    """SHA-256 of the diagnosis rules' source (deepnet/diagnose/*.py): a saved diagnosis
    is used only with the rules that made it."""
    h = hashlib.sha256()
    for f in sorted(RULES.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _digest(meta: dict[str, str], body: bytes | memoryview) -> str:
    """SHA-256 of a model file's metadata (but the hash) and tensor bytes."""
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != HASH_KEY},
                                  sort_keys=True).encode())
    h.update(body)
    return h.hexdigest()


def _split(data: bytes) -> tuple[dict[str, str], memoryview]:
    """(metadata, tensor bytes) of a safetensors file; ValueError when it is not one."""
    if len(data) < 8:
        raise ValueError("shorter than a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("truncated: its header runs past the end of the file")
    header = json.loads(data[8:8 + n])
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise ValueError("its header is not a safetensors header")
    return meta, memoryview(data)[8 + n:]


def _write_weights(path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """The weights with `meta` and the SHA-256 of both, atomically. The tensor bytes do
    not depend on the metadata, so a first serialization gives the bytes to hash."""
    from safetensors.torch import save as save_tensors

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    raw = {k: json.dumps(v) for k, v in meta.items()}
    _, body = _split(save_tensors(tensors, metadata=raw))
    data = save_tensors(tensors, metadata={**raw, HASH_KEY: _digest(raw, body)})
    write_bytes_atomic(path, data)


def new_run_dir(spec: Spec, out: str | Path | None = None, root: str | Path = "runs"
                ) -> tuple[Path, Claim]:
    """A new run directory, claimed: `out` if given (a new folder, or an empty one), else
    runs/<name>-<UTC timestamp>. CheckpointError when `out` is a run already or is being
    written by another process."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{spec.name}-{stamp}"
        path, n = base, 1
        while True:
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
    else:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise CheckpointError(f"--out {str(path)!r} is a file, not a folder; choose a "
                                  "folder for the run")
        _check_unused(path)  # before the claim, which would add its lock file
        path.mkdir(parents=True, exist_ok=True)
    held = claim(path, "--out")
    try:
        _check_unused(path)  # again under the claim: a run that finished before it counts
    except CheckpointError:
        held.release()
        raise
    remove_temporaries(path)
    return path, held


def _check_unused(path: Path) -> None:
    """A folder that does not exist or holds nothing but a lock and temporaries (a run
    killed before it wrote its spec.yaml left no more); else a CheckpointError."""
    if path.is_dir() and not all(
            p.name == LOCK or (p.name.startswith(".") and p.name.endswith(".tmp"))
            for p in path.iterdir()):
        raise CheckpointError(
            f"--out {str(path)!r} already exists and is not empty; a run is never "
            "overwritten. Choose another folder, or continue it with --resume.")


class Claim:
    """The exclusive lock on a run folder, held while one process writes the run; the
    system releases it when the process ends, even when it is killed."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def claim(path: str | Path, flag: str) -> Claim:
    """Lock the run folder `path` (its LOCK file) for this process; CheckpointError naming
    the folder when another process holds it."""
    path = Path(path)
    if fcntl is None:  # Windows: no advisory locks; the folder check alone stands
        return Claim(None)
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise CheckpointError(
            f"{flag} {str(path)!r} is being written by another deepnet process (pid "
            f"{owner}); wait for it to end, or choose another folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return Claim(fd)
