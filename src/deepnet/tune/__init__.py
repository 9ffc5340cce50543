"""`deepnet tune`: hyperparameter search over the spec's `tune.space` with Optuna.

    result = deepnet.tune(deepnet.Spec.from_yaml("examples/digits_tune.yaml"), trials=20)
    result.best_value, result.best_params, result.best_spec   # best_spec.yaml: deepnet train

A study lives in a storage (by default the journal file <tune dir>/study.journal, the tune
dir being tunes/<name>/): running the same command again continues it towards `trials`
finished trials. `workers` > 1 runs that many worker processes on the same storage.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepnet.core import heap
from deepnet.core.errors import DeepnetError
from deepnet.core.outputs import writable_folder

if TYPE_CHECKING:
    from deepnet.spec import Spec
    from deepnet.tune.importance import Helper

__all__ = ["TuneResult", "tune"]


@dataclass
class TuneResult:
    path: Path  # the tune directory
    storage: str
    study: str
    metric: str  # optimised: val_<metric>
    direction: str
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    best_spec: Path | None  # best_spec.yaml, ready for `deepnet train`
    trials: dict[str, int]  # complete, pruned, failed
    importances: dict[str, float] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # the trials table
    report: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The `deepnet tune --json` object."""
        return {"best_value": self.best_value, "best_params": self.best_params,
                "best_spec": str(self.best_spec) if self.best_spec else None,
                "trials": {k: self.trials[k] for k in ("complete", "pruned", "failed")},
                "storage": self.storage}


def tune(spec: Spec, trials: int | None = None, timeout: float | None = None,
         storage: str | None = None, study: str | None = None, workers: int = 1,
         out: str | Path | None = None, quiet: bool = False, *,
         worker: bool = False, train: Callable[..., Any],
         worker_command: tuple[str, ...] = ()) -> TuneResult | None:
    """Search `spec.tune.space` with Optuna's seeded TPE sampler, pruning from per-epoch
    validation reports, until the study has `trials` (default tune.trials) finished trials
    (complete or pruned; failed ones are retried) or `timeout` seconds have passed.

    `worker=True` only runs trials (what each of the `workers` processes does: they are
    started as `worker_command` SPEC --worker --out ... --storage ...) and
    returns None; otherwise the outputs are written and a TuneResult returned. `train`
    trains one trial's spec (deepnet.app.train.train; `deepnet.tune` passes it).
    The data are read once (data.sources.read_once): the check before any trial and the
    trials with the same data section share that Dataset.
    """
    from deepnet.data.sources import read_once

    with read_once():
        return _tune(spec, trials, timeout, storage, study, workers, out, quiet, worker,
                     train, worker_command)


def _tune(spec, trials, timeout, storage, study, workers, out, quiet, worker, train,
          worker_command):
    from deepnet.tune.space import check_space

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DeepnetError(f"--workers must be a positive integer; got {workers!r}")
    check_space(spec)  # every problem of the space, before any work
    job = _job(spec, trials, timeout, storage, study, out, train)
    if workers > 1 and not worker_command:
        raise DeepnetError("--workers above 1 needs the command that starts a worker")
    from deepnet.tune import worker as w

    try:
        st = w.open_study(job)
    except DeepnetError:  # a storage that cannot be opened: no empty tune folder left
        if not any(job.folder.iterdir()):
            job.folder.rmdir()
        raise
    if worker:
        w.work(job, st, parent=os.getppid())
        return None
    spec.to_yaml(job.folder / "spec.yaml")  # what worker processes load
    from deepnet.tune.importance import Helper

    progress = Progress(job, quiet)
    with Helper() as helper:  # imports scikit-learn for the importances meanwhile
        try:
            if workers > 1:
                _run_workers(job, st, workers, progress, list(worker_command))
            if job.deadline is None or time.time() < job.deadline:  # or the workers all died
                w.work(job, st, on_trial=progress.trial)
        finally:
            progress.done(st)
        return _outputs(job, st, helper)


def _job(spec: Spec, trials, timeout, storage, study, out, train: Callable[..., Any]):
    from deepnet.core.units import parse_size
    from deepnet.data.sources import load_source
    from deepnet.train.metrics import DEFAULT_METRICS, higher_is_better
    from deepnet.tune.worker import Job

    t = spec.tune
    trials = t.trials if trials is None else trials
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise DeepnetError(f"--trials must be a positive integer; got {trials!r}")
    if timeout is not None and not 0 < timeout < float("inf"):
        raise DeepnetError(f"--timeout must be a positive number of seconds; got {timeout!r}")
    folder = writable_folder(*((Path("tunes") / spec.name, "the tune folder") if out is None
                               else (Path(out), "--out")))
    ds = load_source(spec.data, spec.task)  # bad data fails here, before any trial
    task = spec.task or ds.task
    metrics = spec.train.metrics or DEFAULT_METRICS[task]
    metric = (t.metric or metrics[0]).removeprefix("val_")
    if metric != "loss" and metric not in metrics:
        raise DeepnetError(f"tune.metric: {metric!r} is not logged for this spec; choose loss "
                           f"or one of train.metrics: {', '.join(metrics)}")
    if spec.data.split.val == 0:  # a fraction of none (a file or column part is rows)
        raise DeepnetError(f"tune ranks its trials by val_{metric}, but data.split.val is 0: "
                           "set it above 0", path="data.split.val")
    direction = t.direction or ("maximize" if higher_is_better(metric) else "minimize")
    folder.mkdir(parents=True, exist_ok=True)
    return Job(base=spec.to_dict(), space=dict(t.space), metric=metric, direction=direction,
               pruner=t.pruner, folder=folder,
               storage=str(storage) if storage else str(folder / "study.journal"),
               study=study or spec.name, trials=trials, seed=spec.seed,
               deadline=time.time() + timeout if timeout is not None else None,
               memory_budget=parse_size(str(t.memory_budget)) if t.memory_budget else None,
               input_shape=tuple(ds.input_shape), train=train)


class Progress:
    """A bar over the trials (deepnet.core.progress) and a line when the count or the
    best changes: trials done, best so far, pruned/failed."""

    def __init__(self, job, quiet: bool):
        from deepnet.core.progress import bar, silenced

        self.job, self.last, self.shown = job, None, 0
        self.started = time.perf_counter()
        with silenced(quiet):
            self.bar = bar(f"tune {job.study}", job.trials, "trials").__enter__()
        self.quiet = self.bar.silent

    def line(self, study) -> str:
        from deepnet.tune.worker import counts

        trials = study.get_trials(deepcopy=False)
        c = counts(trials)
        done = c["complete"] + c["pruned"]
        best = _best(study)
        best_text = (f"best val_{self.job.metric} {best.value:.4f} (trial {best.number})"
                     if best else "no complete trial yet")
        running = f", {c['running']} running" if c["running"] else ""
        self._count(done)
        return (f"tune: {done}/{self.job.trials} done ({c['complete']} complete, "
                f"{c['pruned']} pruned, {c['failed']} failed{running})  {best_text}  "
                f"{time.perf_counter() - self.started:.0f}s")

    def _count(self, done: int) -> None:
        if done > self.shown:
            self.bar.advance(done - self.shown)
            self.shown = done

    def show(self, study) -> None:
        text = self.line(study)
        if text.split("  ")[:2] != (self.last or "").split("  ")[:2]:
            self.bar.say(text)
        self.last = text

    def trial(self, study, number: int, state: str) -> None:
        t = study.get_trials(deepcopy=False)
        reason = next((x.user_attrs.get("reason", "") for x in t if x.number == number), "")
        if state != "complete" and reason:
            self.bar.say(f"tune: trial {number} {state}: {reason}")
        self.show(study)

    def done(self, study) -> None:
        self.show(study)
        self.bar.__exit__(None, None, None)


def _best(study):
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None]
    if not done:
        return None
    key = (lambda t: -t.value) if study.direction.name == "MAXIMIZE" else (lambda t: t.value)
    return min(done, key=lambda t: (key(t), t.number))


def _run_workers(job, study, k: int, progress: Progress, command: list[str]) -> None:
    """K worker processes of `deepnet tune --worker` on the study's storage; progress from
    the storage until they all exit."""
    cmd = [*command, str(job.folder / "spec.yaml"), "--worker",
           "--out", str(job.folder), "--storage", job.storage, "--study", job.study,
           "--trials", str(job.trials)]
    if job.deadline is not None:
        cmd += ["--timeout", str(max(job.deadline - time.time(), 0.001))]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // k)))
    heap.settle()  # this process only waits from here (deepnet.core.heap)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                              stderr=subprocess.PIPE, text=True) for _ in range(k)]
    try:
        while any(p.poll() is None for p in procs):
            progress.show(study)
            time.sleep(1.0)
    except BaseException:
        for p in procs:
            p.terminate()
        raise
    for p in procs:
        err = p.stderr.read() if p.stderr else ""
        if p.returncode != 0:
            progress.bar.say(f"tune: worker pid {p.pid} exited with code {p.returncode}: "
                             f"{err.strip()[-500:]}")


def _outputs(job, study, helper: Helper) -> TuneResult:
    from deepnet.core.io import write_json_atomic
    from deepnet.tune import output
    from deepnet.tune.space import apply_values, decode
    from deepnet.tune.worker import counts

    trials = study.get_trials(deepcopy=False)
    c = counts(trials)
    rows = output.trial_rows(trials, job.space)
    output.write_csv(job.folder / "trials.csv", rows)
    best = _best(study)
    params, best_spec = {}, None
    if best is not None:
        params = decode(best.params, job.space)
        best_spec = job.folder / "best_spec.yaml"
        apply_values(job.base, {k: v for k, v in params.items() if k in job.space}
                     ).to_yaml(best_spec)
    imp = helper.importances(study, job.seed)
    result = TuneResult(job.folder, job.storage, job.study, job.metric, job.direction,
                        best.value if best else None, params, best.number if best else None,
                        best_spec, c, imp, rows)
    summary = result.to_json() | {"study": job.study, "best_trial": result.best_trial,
                                  "metric": f"val_{job.metric}", "direction": job.direction,
                                  "finished": c["complete"] + c["pruned"] + c["failed"],
                                  "importances": imp}
    write_json_atomic(job.folder / "tune.json", summary)
    result.report = output.write_report(job.folder / "tune_report.html", summary, rows, imp,
                                        job.space, job.metric, job.direction == "maximize")
    return result
