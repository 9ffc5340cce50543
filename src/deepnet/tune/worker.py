"""The study and its workers: storage, the trial loop, pruning reports and faults.

Every worker (a process, here or on another machine) runs `work`: it claims a trial under
a lock, trains it quietly into <tune dir>/trial-<n>/, and records the outcome. Completed
trials live in the storage (append-only journal file or a database) and are never
rewritten. A trial whose worker died stays RUNNING in the storage; the next worker to look
marks it FAIL with the reason: by the owner's pid on this machine (journal storage), or by
Optuna's heartbeats (database storage).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnet.core.errors import DeepnetError
from deepnet.spec import Distribution
from deepnet.train.callbacks import Callback
from deepnet.tune.space import apply_values, suggest

HEARTBEAT_S = 10  # database storage: a worker's heartbeat interval
GRACE_S = 60  # ... and how long without one before its trial is failed
POLL_S = 0.5  # waiting for other workers' trials to finish


@dataclass
class Job:
    """What every worker of one study needs to know."""

    base: dict  # the resolved spec to which each trial's values are applied
    space: dict[str, Distribution]
    metric: str  # val metric, without the val_ prefix
    direction: str  # maximize | minimize
    pruner: Any  # deepnet.spec.Pruner
    folder: Path
    storage: str
    study: str
    trials: int  # finished trials (complete or pruned) wanted in the study
    seed: int = 0
    deadline: float | None = None  # time.time() after which no trial starts
    memory_budget: int | None = None  # bytes
    input_shape: tuple[int, ...] | None = None
    max_failures: int = 0  # this worker stops after so many failed trials (0: trials)
    # train(spec, out=, quiet=, callbacks=, report=) -> Run: the app's training workflow,
    # handed in so that tuning (an analysis) never imports the layer above it
    train: Callable[..., Any] | None = None


# ----------------------------------------------------------------------------- storage
def is_database(url: str) -> bool:
    return "://" in url


def make_storage(url: str):
    """A journal file storage for a path, an RDB storage (with heartbeats) for a URL."""
    import optuna

    if is_database(url):
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S, heartbeat_stale_trial_callback=_stale)
        except Exception as e:  # a bad URL, a missing driver, an unreachable server
            raise DeepnetError(f"--storage {url!r}: cannot open it ({type(e).__name__}: {e}); "
                               "expected an SQLAlchemy URL such as sqlite:///tune.db or "
                               "postgresql://user@host/db, or a journal file path") from None
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

    path = Path(url)
    if path.is_dir():
        raise DeepnetError(f"--storage {url!r} is a folder; give a journal file path or a URL")
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        raise DeepnetError(f"--storage {url!r} looks like an SQLite database; give it as a URL, "
                           f"sqlite:///{path}, or use a journal file (e.g. study.journal)")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = JournalFileSymlinkLock(str(path))
    _repair_journal(path, lock)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))


def _repair_journal(path: Path, lock) -> None:
    """Cut a last line left half-written by a killed process: otherwise the next append
    would join it and the journal could no longer be read. Done under the journal's lock,
    so a concurrent writer's line is never mistaken for a torn one."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if not lock.acquire():
        return
    try:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            data = path.read_bytes()
            f.truncate(data.rfind(b"\n") + 1)
    finally:
        lock.release()


def _stale(study, trial) -> None:
    """Optuna's heartbeat callback: say why a database trial was failed."""
    with contextlib.suppress(Exception):
        study._storage.set_trial_user_attr(
            trial._trial_id, "reason", f"its worker stopped sending heartbeats for {GRACE_S} s "
            "(the worker process died or lost the database)")


def open_study(job: Job, create: bool = True):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(job.storage)
    pruner = make_pruner(job.pruner, job.base["train"]["epochs"])
    sampler = optuna.samplers.TPESampler(seed=job.seed)
    try:
        study = optuna.create_study(storage=storage, study_name=job.study, sampler=sampler,
                                    pruner=pruner, direction=job.direction,
                                    load_if_exists=create)
    except Exception as e:  # an unreadable journal, a database of another schema, ...
        raise DeepnetError(f"--storage {job.storage!r}: cannot open study {job.study!r} "
                           f"({type(e).__name__}: {e}); use another --study or --storage"
                           ) from None
    if study.direction.name.lower() != job.direction:
        raise DeepnetError(f"study {job.study!r} in {job.storage} {study.direction.name.lower()}s"
                           f" its objective, but this spec asks to {job.direction} "
                           f"val_{job.metric}; use another --study or set tune.direction")
    return study


def make_pruner(p, epochs: int):
    import optuna

    if p.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.startup_trials,
                                           n_warmup_steps=p.warmup_epochs)
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, p.warmup_epochs),
                                              max_resource=max(epochs, 2), reduction_factor=3)
    return optuna.pruners.NopPruner()


# ----------------------------------------------------------------------------- processes
def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (tells a reused pid apart), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def alive(pid: int, start: str | None) -> bool:
    if Path("/proc").is_dir():
        now = _start_time(pid)
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _start_time(pid)}


def fail(study, trial_id: int, reason: str) -> None:
    """Mark someone's trial FAIL with `reason`; a no-op if it finished meanwhile."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, KeyError):
        storage.set_trial_user_attr(trial_id, "reason", reason)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)


def fail_orphans(study, database: bool) -> list[int]:
    """FAIL the RUNNING trials whose worker died; their numbers. Called under the study
    lock, which every worker holds while it claims a trial and says who it is."""
    from optuna.trial import TrialState

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    if database:
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        a = t.user_attrs
        if "pid" not in a:
            if not database:  # its worker died between claiming it and saying who it is
                fail(study, t._trial_id, "its worker process died as the trial started")
        elif a.get("host") == host and not alive(a["pid"], a.get("pid_start")):
            fail(study, t._trial_id, f"its worker process (pid {a['pid']}) died during the "
                                     "trial, e.g. killed or out of memory")
    return sorted({t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
                  - before)


@contextlib.contextmanager
def study_lock(job: Job):
    """One worker at a time claims a trial: every worker of a journal file (the lock lies
    next to it), or of this tune directory for a database."""
    try:
        import fcntl
    except ImportError:  # not POSIX: Optuna's own storage locking only
        yield
        return
    journal = Path(job.storage)
    path = job.folder / ".claim.lock" if is_database(job.storage) else \
        journal.with_name(journal.name + ".claim")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def counts(trials) -> dict[str, int]:
    from optuna.trial import TrialState

    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
           TrialState.FAIL: "failed", TrialState.RUNNING: "running",
           TrialState.WAITING: "running"}
    for t in trials:
        out[key[t.state]] += 1
    return out


# ----------------------------------------------------------------------------- the loop
def work(job: Job, study, on_trial=None, parent: int | None = None) -> int:
    """Run trials until the study has `job.trials` finished ones, the deadline passes, the
    parent process is gone, or this worker failed `max_failures` times. Failed trials do
    not count towards the total: a fault never eats the budget. Returns the failures."""
    import optuna

    database = is_database(job.storage)
    failures, limit = 0, job.max_failures or job.trials
    while failures < limit:
        if job.deadline is not None and time.time() >= job.deadline:
            break
        if parent is not None and os.getppid() != parent:
            break  # the tune command that started this worker is gone
        with study_lock(job):
            orphans = fail_orphans(study, database)
            trials = study.get_trials(deepcopy=False)
            c = counts(trials)
            if c["complete"] + c["pruned"] >= job.trials:
                break
            claim = c["complete"] + c["pruned"] + c["running"] < job.trials
            if claim:
                # A fresh, seeded sampler per trial: a restarted or parallel worker never
                # replays another's random draws, and one process alone is reproducible.
                n = len(trials)
                study.sampler = optuna.samplers.TPESampler(seed=(job.seed * 7919 + n) % 2**32)
                with warnings.catch_warnings():  # heartbeats work with ask/tell too
                    warnings.filterwarnings("ignore", "Heartbeat of storage")
                    trial = study.ask()
                for k, v in owner().items():
                    trial.set_user_attr(k, v)
                values = {p: suggest(trial, p, d) for p, d in job.space.items()}
        for number in orphans if on_trial is not None else ():
            on_trial(study, number, "failed")
        if not claim:
            time.sleep(POLL_S)  # the remaining trials are running in other workers
            continue
        state = run_trial(job, study, trial, values)
        failures += state == "failed"
        if on_trial is not None:
            on_trial(study, trial.number, state)
    return failures


def run_trial(job: Job, study, trial, values: dict[str, Any]) -> str:
    """Train one trial into <tune dir>/trial-<n>/ and record it: complete, pruned or failed
    (with the reason as the user attribute `reason`)."""
    from optuna.trial import TrialState

    folder = _trial_dir(job.folder, trial.number)
    trial.set_user_attr("run_dir", str(folder))
    try:
        spec = apply_values(job.base, values)
        if job.memory_budget is not None:
            need = memory_bytes(spec, _shape(job, spec))
            trial.set_user_attr("memory", need)
            if need > job.memory_budget:
                from deepnet.summary import human_bytes

                trial.set_user_attr("reason", f"not run: its memory estimate {human_bytes(need)}"
                                    f" exceeds tune.memory_budget {human_bytes(job.memory_budget)}")
                study.tell(trial, state=TrialState.PRUNED)
                return "pruned"
        report = PruneReport(trial, job.metric)
        with _heartbeat(study, trial):
            run = job.train(spec, out=folder, quiet=True, callbacks=[report], report=False)
        r = run.results
        trial.set_user_attr("epochs", r.epochs)
        if r.stop_reason == "diverged":
            return _failed(study, trial, r.stop_message or "training diverged")
        if report.pruned:
            trial.set_user_attr("reason", report.pruned)
            study.tell(trial, state=TrialState.PRUNED)
            return "pruned"
        value = kept_value(run.history, r.best_epoch, f"val_{job.metric}")
        if value is None or not math.isfinite(value):
            return _failed(study, trial, f"val_{job.metric} is {value} at the kept epoch")
        trial.set_user_attr("best_epoch", r.best_epoch)
        study.tell(trial, value)
        return "complete"
    except KeyboardInterrupt:
        _failed(study, trial, "interrupted")
        raise
    except Exception as e:  # the study goes on; the reason is kept with the trial
        return _failed(study, trial, f"{type(e).__name__}: {e}".strip())


def _failed(study, trial, reason: str) -> str:
    from optuna.trial import TrialState

    trial.set_user_attr("reason", reason[:2000])
    study.tell(trial, state=TrialState.FAIL)
    return "failed"


def kept_value(history: list[dict], best_epoch: int, key: str) -> float | None:
    """`key` at the kept epoch (early stopping's best, or the last)."""
    for h in history:
        if h.get("epoch") == best_epoch:
            return h.get(key)
    return history[-1].get(key) if history else None


def _trial_dir(folder: Path, number: int) -> Path:
    path, n = folder / f"trial-{number}", 1
    while path.exists() and any(path.iterdir()):  # another study in the same folder
        n += 1
        path = folder / f"trial-{number}-{n}"
    return path


def _shape(job: Job, spec) -> tuple[int, ...]:
    if job.input_shape is not None and not any(p.startswith("data") for p in job.space):
        return job.input_shape
    from deepnet.data.sources import load_source

    return tuple(load_source(spec.data, spec.task).input_shape)


def memory_bytes(spec, input_shape: tuple[int, ...]) -> int:
    """The training-memory estimate of `spec` at its batch size, in bytes (the one
    `deepnet summary` prints)."""
    from deepnet.summary import summary

    return int(summary(spec, input_shape=tuple(input_shape)).memory.total)


@contextlib.contextmanager
def _heartbeat(study, trial):
    try:
        from optuna.storages._heartbeat import get_heartbeat_thread
    except ImportError:  # a future Optuna: database trials are then failed by pid only
        yield
        return
    with get_heartbeat_thread(trial._trial_id, study._storage):
        yield


class PruneReport(Callback):
    """Reports val_<metric> to Optuna after each epoch; stops the run when it is pruned."""

    def __init__(self, trial, metric: str):
        self.trial, self.key, self.pruned = trial, f"val_{metric}", ""

    def on_epoch_end(self, trainer, logs: dict) -> None:
        value = logs.get(self.key)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), logs["epoch"])
        if self.trial.should_prune():
            self.pruned = (f"pruned at epoch {logs['epoch']}: {self.key} {value:.4g} compares "
                           "badly with the other trials at that epoch")
            trainer.stop(self.pruned, "pruned")
