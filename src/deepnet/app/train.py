"""`deepnet.train`, `deepnet.evaluate`: a run set up around the training loop."""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepnet.core import heap
from deepnet.core.errors import CheckpointError, DataError, DeepnetError, Problems, SpecError
from deepnet.core.io import remove_temporaries
from deepnet.core.outputs import writable_folder
from deepnet.core.progress import silenced
from deepnet.core.version import VERSION
from deepnet.data import memory
from deepnet.data.augment import make_augment
from deepnet.data.batches import InMemory
from deepnet.data.checks import TOKEN_LAYERS, check_model_input
from deepnet.data.encoding import SeriesEncoding
from deepnet.data.inputs import given_inputs, read_raw
from deepnet.data.prepare import Prepared, prepare
from deepnet.nn.layers import item_parts
from deepnet.nn.shaping import adapt, needs_adapt
from deepnet.robust.defenses import check, defended_preprocess
from deepnet.robust.defenses import plan as plan_defense
from deepnet.runs.files import CHECKPOINT, RunDir, claim, new_run_dir
from deepnet.runs.files import METRICS as METRICS_FILE
from deepnet.runs.files import SPEC as SPEC_FILE
from deepnet.runs.load import load
from deepnet.runs.records import DataInfo, ModelMeta, Results
from deepnet.runs.run import Run
from deepnet.spec import Loss, Spec, differences, parse_path
from deepnet.train import checkpoint, distributed
from deepnet.train.callbacks import Checkpoint, EpochSeeds, MetricsLog, Progress, checkpointed
from deepnet.train.decision import (
    at_threshold,
    choose_threshold,
    class_logits,
    decide,
    finite,
    fit_temperature,
    fold_temperature,
    per_class,
)
from deepnet.train.losses import LOSSES, default_loss, make_loss
from deepnet.train.metrics import (
    DEFAULT_METRICS,
    METRICS,
    expected_calibration_error,
    forecast_scores,
    positive_score,
)
from deepnet.train.network import build_network, needs_encoding
from deepnet.train.setup import Setup, device_for, make_trainer, thread_count
from deepnet.train.tracking import check_trackers, make_trackers
from deepnet.train.trainer import (
    Trainer,
    checkpoint_state,
    evaluate,
    fit,
    load_checkpoint,
    predict_outputs,
    scores,
)

EVAL_BATCH = 1024


def check_against_data(spec: Spec, prepared: Prepared) -> tuple[Spec, torch.nn.Module]:
    """The spec resolved for the data (resolve) and its model built on them, after one
    pass of every check that needs the data: the model's first layer and outputs, the
    metrics, loss and monitor for the task, the robust section. One error lists every
    problem: a DataError when each is one of the data, a SpecError otherwise."""
    problems = Problems()
    built = build_for_data(spec, prepared, problems)
    if built is None:  # the model does not build: its outputs are unknown
        spec = resolve(spec, prepared, None, problems)
    else:
        n_outputs = built[1][-1].output_shape
        spec = resolve(spec, prepared, n_outputs[-1] if n_outputs else 1, problems)
        _check_outputs(prepared.task, n_outputs, prepared, spec.train.loss.name, problems)
    check(spec, prepared, problems)
    where = prepared.dataset.source or spec.data.source
    problems.raise_all(f"in the spec for the data {where!r}")
    return spec, built[0]


def resolve(spec: Spec, prepared: Prepared, n_outputs: int | None, problems: Problems
            ) -> Spec:
    """The spec with every default that depends on the data and the network's output
    units (None: unknown) filled in; what does not suit the data's task joins `problems`."""
    task = prepared.task
    train = spec.train
    loss = train.loss or Loss(name=default_loss(task, n_outputs))
    series = spec.data.series is not None
    metrics = train.metrics or DEFAULT_METRICS["forecast" if series else task]
    for i, m in enumerate(metrics):
        if METRICS.get(m).task != task:
            problems.add(f"train.metrics[{i}]",
                         f"{m} is a {METRICS.get(m).task} metric, but the task is {task}")
        elif METRICS.get(m).series and not series:
            problems.add(f"train.metrics[{i}]", f"{m} is of a series' windows, scaled by its "
                         "seasonal naive error: it needs data.series (for other data: mae)")
    if LOSSES.get(loss.name).task != task:
        problems.add("train.loss.name", f"{loss.name} is a {LOSSES.get(loss.name).task} loss; "
                                        f"it does not suit a {task} task")
    _check_after_training(train, spec.model, task, prepared, problems)
    grouped = [m for m in metrics if METRICS.get(m).grouped]
    if grouped and prepared.dataset.groups is None:
        problems.add("train.metrics", f"{', '.join(grouped)} rank each user's held-out item "
                     "among items they never chose: they need data.interactions")
    es = train.early_stopping
    monitors = {"val_loss", "train_loss"} | {f"{p}_{m}" for p in ("val", "train") for m in metrics
                                              if p == "val" or not METRICS.get(m).grouped}
    if es is not None and es.monitor not in monitors:
        problems.add("train.early_stopping.monitor", f"{es.monitor!r} is not logged; choose one "
                                                     f"of {', '.join(sorted(monitors))}")
    keep = train.keep
    if keep is not None and keep.monitor is not None and keep.monitor not in monitors:
        problems.add("train.keep.monitor", f"{keep.monitor!r} is not logged; choose one of "
                                           f"{', '.join(sorted(monitors))}")
    return spec.model_copy(update={"task": task, "train": train.model_copy(
        update={"loss": loss, "metrics": metrics})})


def _check_after_training(train, model, task: str, prepared: Prepared,
                          problems: Problems) -> None:
    """train.threshold (binary classification) and train.calibrate (classification) are
    fitted on the validation split after training: refused where they cannot be, before
    the training (calibration scales the last layer, which must be a linear dense one)."""
    last, args = item_parts(model.layers[-1])
    if train.calibrate is not None and (last != "dense" or args.activation != "linear"):
        problems.add("train.calibrate", "temperature scaling divides the outputs of the last "
                     f"layer, which must be `dense` with a linear activation; it is {last}"
                     + (f" with activation {args.activation}" if last == "dense" else "")
                     + ": make the last layer `dense: {units: N}`")
    binary = task == "classification" and prepared.dataset.n_classes == 2
    what = f"a {task} task" + (f" of {prepared.dataset.n_classes} classes"
                                if task == "classification" else "")
    for key, given, fits, needs in (
            ("threshold", train.threshold, binary, "a decision threshold is for a binary "
                                                   "classifier"),
            ("calibrate", train.calibrate, task == "classification",
             "calibration is of class probabilities")):
        if given is None:
            continue
        if not fits:
            problems.add(f"train.{key}", f"{needs}; these data are {what}: remove "
                                         f"train.{key}")
        elif not len(prepared.splits["val"]):
            problems.add(f"train.{key}", "it is fitted on the validation split, which is "
                                         "empty: set data.split.val above 0")


def _check_outputs(task: str, n_outputs: tuple[int, ...], prepared: Prepared, loss: str,
                   problems: Problems) -> None:
    n_classes = prepared.dataset.n_classes
    if task == "classification":
        one = LOSSES.get(loss).one_output
        want = 1 if one else n_classes
        if n_outputs != (want,):
            problems.add("model.layers[-1]",
                         f"the network outputs {n_outputs} per sample, but "
                         f"{prepared.dataset.source} has {n_classes} classes; make the last "
                         f"layer `dense: {{units: {want}}}`"
                         + (f" ({loss} takes one output unit)" if one else ""))
    elif int(np.prod(n_outputs)) != int(np.prod(prepared.dataset.y.shape[1:] or (1,))):
        problems.add("model.layers[-1]", f"the network outputs {n_outputs} per sample; a "
                                         "regression on one target needs `dense: {units: 1}` last")


class Stopwatch:
    """Seconds spent in each phase of a run, in order: results.json's `timings`."""

    def __init__(self):
        self.last, self.laps = time.perf_counter(), {}

    def skip(self) -> None:
        """The time since the last lap belongs to no phase: the CLI counts it as start-up."""
        self.last = time.perf_counter()

    def lap(self, phase: str) -> float:
        now = time.perf_counter()
        spent, self.last = now - self.last, now
        self.laps[phase] = round(self.laps.get(phase, 0.0) + spent, 4)
        return spent


def train(spec: Spec, out: str | Path | None = None, resume: str | Path | None = None,
          quiet: bool = False, runs_root: str | Path = "runs",
          callbacks: list | None = None, report: bool = True, data=None) -> Run:
    """Train `spec`; write and return the run. With `resume`, continue that run exactly
    from its last checkpoint (its own spec.yaml is used; a run killed before its first
    checkpoint starts again from the beginning). `callbacks`: extra Callback objects,
    called after the built-in ones and not checkpointed (they keep no state).
    `report=False` (or the spec's `report: false`) skips report.html and the spec's
    attacks, which the report shows (tuning trials, scripts that want the numbers).
    `data`: the data in Python instead of data.source (deepnet.data.memory: a DataFrame,
    `(X, y)`, a dict of arrays), read as their file would be; the run's spec says
    `source: memory` and its data.json describes them (kind, shape, dtypes, SHA-256). To
    resume such a run pass the same data again (other data are refused).

    The run folder is claimed (runs.files.claim) before anything is written in it: a
    second process training into it is refused. The destination is checked before the
    data are read; a refused spec leaves no run folder behind.

    >>> run = deepnet.train(deepnet.Spec.from_yaml("examples/digits.yaml"))
    """
    clock = Stopwatch()
    spec = spec if resume is not None else Spec.coerce(spec, data)  # a Spec, dict or YAML path
    held, resuming, threads = None, False, None
    try:
        given = memory.describe(data) if data is not None else None
        if resume is not None:
            path, held = Path(resume), _claim_resume(resume)
            spec = RunDir(path).read_spec()
            resuming = checkpoint.exists(RunDir(path).file(CHECKPOINT))
            if resuming:
                _check_unchanged(path, spec)
            if given is not None:
                _check_same_data(path, spec, given)
        else:
            writable_folder(*((runs_root, "the runs folder") if out is None else (out, "--out")))
            if data is not None:
                spec = spec.model_copy(update={"data": spec.data.model_copy(
                    update={"source": memory.SOURCE})})
        check_trackers(spec.train.log)
        heap.settle_for_training()  # before the run makes anything (deepnet.core.heap)
        clock.skip()  # imports: start-up, not a phase of this run
        threads = (torch.get_num_threads(), thread_count(spec.train.threads))
        torch.set_num_threads(threads[1])  # for this run: restored below
        prepared = prepare(spec, given=data)
        clock.lap("prepare")
        spec, model = check_against_data(spec, prepared)  # refused before the folder exists
        clock.lap("build")
        dist = distributed.init(spec.train.device)
        made = None
        if resume is None:
            lead = dist is None or dist.rank == 0  # only rank 0 writes the run directory
            kept = out is not None and Path(out).is_dir()  # an empty folder the user made
            if lead:
                path, held = new_run_dir(spec, out, runs_root)
                made = path
                RunDir(path).write_spec(spec)
                if given is not None:
                    RunDir(path).write_data(DataInfo.from_json(given))
            if dist is not None:
                path = Path(dist.broadcast_text(str(path) if lead else None))
        try:
            return _train(spec, prepared, model, path, resuming, quiet, dist, callbacks,
                          report, clock)
        except DeepnetError:
            # refused before any checkpoint: the new run directory is removed, not left half
            if made is not None and not checkpoint.exists(RunDir(made).file(CHECKPOINT)):
                shutil.rmtree(made, ignore_errors=True)
                if kept:
                    made.mkdir()
            raise
    finally:
        if threads is not None:
            torch.set_num_threads(threads[0])
        if held is not None:
            held.release()


def _claim_resume(resume: str | Path):
    """The claim on the run folder to resume; CheckpointError when it is not a run."""
    path, files = Path(resume), RunDir(resume)
    if not path.is_dir():
        raise CheckpointError(f"--resume {str(path)!r}: no such run folder")
    if not files.file(SPEC_FILE).is_file():
        raise CheckpointError(
            f"--resume {str(path)!r}: not a run folder (no {SPEC_FILE}); a run killed before "
            f"it wrote its spec has nothing to resume: train it again with "
            f"`deepnet train SPEC --out {path}`")
    if distributed.rank() != 0:  # under torchrun, rank 0 alone writes the run
        return None
    writable_folder(path, "--resume")
    held = claim(path, "--resume")
    remove_temporaries(path)  # a kill mid-write (metrics.jsonl, spec.yaml) left one
    return held


def _check_same_data(path: Path, spec: Spec, now: dict) -> None:
    """Resuming with data passed in Python (`now`: memory.describe of them): the run was
    trained on such data, the same."""
    saved = RunDir(path).read_data()
    if spec.data.source != memory.SOURCE or saved is None:
        raise DataError(f"--resume {str(path)!r}: this run was trained on data.source "
                        f"{spec.data.source!r}; resume it without data=")
    if now["sha256"] != saved.sha256:
        raise DataError(f"--resume {str(path)!r}: these data are not the ones the run was "
                        f"trained on ({now['kind']} of {now['rows']} rows, SHA-256 "
                        f"{now['sha256'][:12]}...; the run's data.json says {saved.kind} of "
                        f"{saved.rows} rows, {saved.sha256[:12]}...); pass the same data")


def _check_unchanged(path: Path, spec: Spec) -> None:
    """The run's spec.yaml is the spec its checkpoint was trained with."""
    saved = checkpoint.meta(RunDir(path).file(CHECKPOINT)).get("spec")
    if saved is None:  # a checkpoint of a deepnet before specs were kept in it
        return
    try:  # the saved spec with the defaults of this deepnet (keys added since: unchanged)
        saved = Spec.from_dict(saved).to_dict()
    except DeepnetError:
        pass
    changed = differences(saved, spec.to_dict())
    if changed:
        raise CheckpointError(
            f"--resume {str(path)!r}: {SPEC_FILE} is not the spec this run was trained with; "
            f"it differs at {', '.join(changed[:10])}"
            + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
            + ". Undo the edit to resume, or train the changed spec as a new run.")


def _first_layer(path: str | None) -> bool:
    """Whether a spec path is the model's first layer: model.layers[0], or the first
    layer inside it (model.layers[0].residual.layers[0], ...repeat[0].layers[0])."""
    parts = parse_path(path) if path else []
    return parts[:3] == ["model", "layers", 0] and \
        all(p == 0 for p in parts if isinstance(p, int))


def build_for_data(spec: Spec, prepared: Prepared, problems: Problems):
    """(model, summary rows) of build_model on the data's shape, or None. When the data
    do not fit the model's first layer (its shape, token ids without an embedding, too
    small a vocabulary) a DataError naming both joins `problems`; so does a SpecError
    from elsewhere in the model."""
    ds = prepared.dataset
    where = ds.source or spec.data.source
    first, args = item_parts(spec.model.layers[0])
    max_id = int(ds.x.max()) if first in TOKEN_LAYERS and np.issubdtype(ds.x.dtype, np.integer) \
        and len(ds.y) else None
    if not needs_encoding(spec):  # a front takes the features before the first layer
        with problems.gather():
            check_model_input(ds.x.dtype, ds.input_shape, first, args, where, max_id)
    try:
        return build_network(spec.model, ds.input_shape, ds.encoding, spec.seed)
    except SpecError as e:
        if _first_layer(e.path):
            e = DataError(f"{where}: the data have samples of shape {tuple(ds.input_shape)}, "
                          f"which the model's first layer cannot take: {e}", path=e.path)
        problems.append(e)
        return None


def _train(spec: Spec, prepared: Prepared, model, path: Path, resuming: bool, quiet: bool,
           dist: distributed.Dist | None = None, extra: list | None = None,
           report: bool = True, clock: Stopwatch | None = None):
    clock = clock or Stopwatch()
    tc = spec.train
    device = dist.device if dist is not None else device_for(tc.device)
    lead = dist is None or dist.rank == 0
    if len(prepared.splits["val"]) == 0:
        _check_without_val(tc)
    prepared.preprocess = defended_preprocess(spec, prepared)  # before any batch is made
    setup, loss_fn = trainer_parts(spec, tc, prepared, model, device, dist)
    if device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores
    if len(setup.train_data) == 0:
        raise DataError(f"train.drop_last: the training split has {setup.train_data.n} rows, "
                        f"fewer than one batch of {tc.batch_size}, so an epoch would train on "
                        "none; lower train.batch_size or set train.drop_last: false",
                        path="train.drop_last")
    defense = plan_defense(spec, prepared, setup, loss_fn, path, quiet)
    net = distributed.wrap(model, dist) if dist is not None else model
    t = make_trainer(model, setup, defense.loss_fn, net=torch.compile(net) if tc.compile else net,
                     batch_transform=defense.batch_transform)
    stateful = checkpointed(tc)
    callbacks = list(stateful)
    if dist is not None:
        callbacks.append(EpochSeeds(spec.seed, dist.rank))
    files = RunDir(path)
    ckpt_dir = files.file(CHECKPOINT)
    if lead:
        saved = spec.to_dict()  # kept in each checkpoint: resume refuses an edited spec.yaml
        callbacks += [Checkpoint(ckpt_dir, lambda tr: _with(checkpoint_state(tr, stateful),
                                                            spec=saved)),
                      MetricsLog(files.file(METRICS_FILE)),
                      *make_trackers(tc.log, path, spec)]
    if lead and not quiet:
        callbacks.append(Progress(tc.epochs, len(setup.train_data), tc.metrics[0]))
    if resuming:
        load_checkpoint(t, ckpt_dir, stateful)
    clock.lap("setup")
    fit(t, callbacks + list(extra or ()))
    seconds = clock.lap("train")
    if dist is not None:
        dist.barrier()  # rank 0's last checkpoint is on disk
    if t.stop_reason == "diverged" and not tc.keeps_best:  # back to the last good weights
        tensors, _ = checkpoint.load(ckpt_dir)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if not lead:
        dist.barrier()  # wait for rank 0 to write the run, then read it back
        dist.close()
        return load(path)
    run = finish(spec, prepared, t, path, seconds, device, report and spec.report, quiet,
                 clock)
    if dist is not None:
        dist.barrier()
        dist.close()
    return run


def trainer_parts(spec: Spec, tc, prepared: Prepared, model, device: torch.device,
                  dist: distributed.Dist | None = None) -> tuple[Setup, Callable]:
    """What a Trainer needs besides the network, for the training settings `tc` (the
    spec's, or lr-find's): torch's global generator seeded with the spec's seed (dropout
    draws from it), the network fitted to the training inputs (nn.shaping.adapt) and on
    the device, the training batches (augmented as the
    spec says) and the validation batches, and the loss."""
    torch.manual_seed(spec.seed)
    if needs_adapt(model):  # an embeddingbag's idf, from the training texts
        adapt(model, torch.as_tensor(prepared.arrays("train")[0]))
    model.to(device)
    augment = make_augment(spec.data.augment, prepared.dataset.input_shape,
                           prepared.preprocess, encoding=prepared.encoding) \
        if spec.data.augment else None
    setup = Setup(tc, prepared.batches("train", tc.batch_size, device, tc.drop_last),
                  prepared.batches("val", EVAL_BATCH, device), device, spec.seed, augment, dist)
    y = prepared.targets(prepared.dataset.y[prepared.splits["train"]])
    return setup, make_loss(tc.loss, y, prepared.dataset.n_classes, device)


def _check_without_val(tc) -> None:
    """A run without validation rows (data.split.val: 0) trains and is tested, but what
    watches the validation metrics cannot: a DataError naming each such setting."""
    needs = []
    es = tc.early_stopping
    if es is not None and es.monitor.startswith("val_"):
        needs.append(f"train.early_stopping watches {es.monitor} (set it to null, or "
                     "monitor a train_ metric)")
    if tc.keeps_best and tc.keep_monitor[0].startswith("val_"):
        needs.append(f"train.keep keeps the best epoch by {tc.keep_monitor[0]} (keep: last, "
                     "or {epoch: best, monitor: train_loss})")
    if tc.schedule.name == "plateau":
        needs.append("train.schedule: plateau watches val_loss")
    if needs:
        raise DataError("data.split.val: the validation split is empty, but "
                        + "; ".join(needs) + ". Set data.split.val above 0, or change them",
                        path="data.split.val")


def _with(state: tuple, **extra) -> tuple:
    data, meta = state
    return data, {**meta, **extra}


def finish(spec: Spec, prepared: Prepared, t: Trainer, path: Path, seconds: float,
           device: torch.device, report: bool = True, quiet: bool = True,
           clock: Stopwatch | None = None) -> Run:
    """Evaluate on the test split and write model.safetensors, results.json, report.html
    (after the spec's attacks, whose progress goes to stderr unless `quiet`)."""
    model = t.model
    ds = prepared.dataset
    files = RunDir(path)
    calibration = _calibrate(spec, t, prepared, device)
    outputs = {part: _outputs(t, prepared, part, device) for part in ("val", "test")
               if len(prepared.splits[part])}
    threshold = _threshold(spec, outputs)
    meta = ModelMeta(prepared.task, tuple(ds.input_shape), prepared.preprocess.record(),
                     list(ds.classes), ds.source, prepared.encoding,
                     None if prepared.x_range is None else tuple(prepared.x_range),
                     ds.labels if prepared.task == "classification" else None,
                     None if threshold is None else threshold["value"])
    test, per = {}, {}
    if "test" in outputs:
        out, data = outputs["test"]
        test = scores(out, data, t.loss_fn, t.metrics)
        if isinstance(prepared.encoding, SeriesEncoding):  # in the series' units
            test |= series_scores(prepared, "test", out.cpu().numpy())
        if prepared.task == "classification":
            per = {k: finite(v) for k, v in per_class(
                decide(out, meta.threshold).cpu().numpy(), data.y.cpu().numpy(), ds.classes).items()}
    clock = clock or Stopwatch()
    clock.lap("evaluate")
    files.write_model(model, meta)
    results = Results(
        test=test,
        epochs=t.epoch,
        best_epoch=t.best_epoch or t.epoch,
        stop_reason=t.stop_reason,
        stop_message=t.stop_message,
        seconds=round(seconds, 3),
        seconds_per_epoch=round(seconds / max(len(t.history), 1), 4),
        device=str(device),
        threads=torch.get_num_threads(),
        samples={k: len(v) for k, v in prepared.splits.items()},
        rows_per_epoch=t.train_data.rows_per_epoch,
        versions=_versions(),
        per_class=per,
        threshold=threshold,
        calibration=calibration,
    )
    clock.lap("write")
    results.timings = dict(clock.laps)
    files.write_results(results)
    model.cpu()
    run = Run(path, spec, model.eval(), prepared.preprocess, meta, t.history, results)
    if not report:
        return run
    # imported here: a run without its report (tuning, --no-report) never loads them
    from deepnet.report.html import write_report
    from deepnet.robust.evaluate import evaluate_spec

    if spec.robust is not None:  # robust.attacks, naive and adaptive
        with silenced(quiet):
            evaluate_spec(run)
        clock.lap("attacks")
    write_report(run, prepared)
    clock.lap("report")
    # the report's time is the Run's (and --json's), not results.json's: the findings the
    # report saves are tied to results.json's SHA-256, which a rewrite would change
    results.timings = dict(clock.laps)
    return run


def series_scores(prepared: Prepared, part: str, out: np.ndarray) -> dict[str, float]:
    """MASE, MAE, RMSE and sMAPE of a series' forecasts of a split, in its units."""
    enc, ds = prepared.encoding, prepared.dataset
    idx = prepared.splits[part]
    levels = ds.levels[idx]
    forecast = enc.decode(out, levels)
    truth = enc.decode(np.asarray(ds.y[idx]), levels)
    return forecast_scores(forecast, truth, enc.scale[enc.columns.index(enc.target)])


def _outputs(t: Trainer, prepared: Prepared, part: str, device) -> tuple:
    """(the model's outputs, the batches) of a split."""
    data = prepared.batches(part, EVAL_BATCH, device)
    return predict_outputs(t.model, data, t.autocast), data


def _calibrate(spec: Spec, t: Trainer, prepared: Prepared, device) -> dict | None:
    """train.calibrate: the temperature fitted on the validation split, folded into the
    model's last dense layer; its record (None when the spec asks for none)."""
    if spec.train.calibrate is None:
        return None
    out, data = _outputs(t, prepared, "val", device)
    y = data.y.cpu()
    temperature = fit_temperature(out.cpu(), y)
    x = next(iter(data.batches()))[0]
    try:
        fold_temperature(t.model, temperature, x)
    except ValueError as e:
        raise SpecError(f"train.calibrate: {e}", path="train.calibrate") from None
    after = predict_outputs(t.model, data, t.autocast).cpu()
    nll = torch.nn.functional.cross_entropy
    return finite({"method": "temperature", "temperature": temperature,
                   "val_nll_before": nll(class_logits(out.cpu()), y).item(),
                   "val_nll_after": nll(class_logits(after), y).item(),
                   "val_ece_before": expected_calibration_error(out.cpu(), y),
                   "val_ece_after": expected_calibration_error(after, y)})


def _threshold(spec: Spec, outputs: dict) -> dict | None:
    """train.threshold chosen on the validation outputs, with precision, recall and F1 at
    it on the validation and test splits; None when the spec asks for none."""
    tc = spec.train.threshold
    if tc is None:
        return None
    record = {}
    for part, (out, data) in outputs.items():
        score, positive = positive_score(out).cpu().numpy(), data.y.cpu().numpy() == 1
        if part == "val":
            value, how = choose_threshold(score, positive, tc.choose, tc.precision)
            record = {"value": value, "chosen": how}
        record[part] = finite(at_threshold(score, positive, record["value"]))
    return record


def _versions() -> dict[str, str]:
    return {"deepnet": VERSION, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def evaluate_run(run: Run, data=None) -> dict[str, float]:
    """Test metrics of a run on its own test split, or on labelled data in any format the
    run can read: an .npz (`x`, `y`), a table or text CSV with the target column, an
    image folder root/<class>/*.png, or the same in Python: a DataFrame with the target
    column, `(X, y)` or a dict of arrays (deepnet.data.inputs.given_inputs)."""
    run = load(run)  # a Run or its directory
    cpu = torch.device("cpu")
    if data is None:
        if run.spec.data.source == memory.SOURCE:
            raise DataError("this run was trained on data passed in Python, so its test "
                            "split cannot be read again: pass labelled data, e.g. "
                            "deepnet.evaluate(run, data=(x_test, y_test))")
        prepared = prepare(run.spec)
        prepared.preprocess = run.preprocess
        if len(prepared.splits["test"]) == 0:
            raise DataError("the run's spec has no test split (data.split.test is 0); "
                            "pass labelled data with --data")
        batches = prepared.batches("test", EVAL_BATCH, cpu)
        y = batches.y.numpy()
    elif run.encoding.kind == "series":
        raise DataError("a forecasting run is evaluated on the test period of its own "
                        "series: run `deepnet evaluate RUN` without --data")
    else:
        if memory.is_given(data):
            raw_x, labels = given_inputs(run.encoding, data, labelled=True)
            data = f"data ({memory.kind_of(data)})"
        else:
            raw_x, labels, _ = read_raw(run.encoding, data, labelled=True)
        y = run.targets(labels, str(data))
        batches = InMemory(run.preprocess(run.as_inputs(raw_x)), y, EVAL_BATCH, cpu)
    tc = run.spec.train
    n_classes = len(run.classes)
    loss_fn = make_loss(tc.loss, np.asarray(y), n_classes, cpu)
    if data is None and run.encoding.kind == "series":  # and the series' own units
        out = predict_outputs(run.model, batches)
        return {**scores(out, batches, loss_fn, tc.metrics),
                **series_scores(prepared, "test", out.numpy())}
    return evaluate(run.model, batches, loss_fn, tc.metrics)
