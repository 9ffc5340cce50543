"""`deepnet.train`, `deepnet.evaluate`: a run set up around the training loop."""

from __future__ import annotations

import contextlib
import functools
import platform
import time
from pathlib import Path

import numpy as np
import torch

from deepnet.data.batches import InMemory
from deepnet.data.prepare import Prepared, prepare
from deepnet.errors import CheckpointError, DataError, SpecError
from deepnet.files import write_json_atomic
from deepnet.nn.build import build_model
from deepnet.spec import Loss, Spec
from deepnet.train import checkpoint
from deepnet.train.callbacks import BestWeights, Checkpoint, DivergenceGuard, MetricsLog, Progress
from deepnet.train.losses import CLASSIFICATION_LOSSES, default_loss, make_loss
from deepnet.train.metrics import DEFAULT_METRICS, METRICS
from deepnet.train.optim import make_optimizer, make_schedule
from deepnet.train.runs import Run, new_run_dir, save_model
from deepnet.train.trainer import Trainer, evaluate, fit, load_checkpoint, save_checkpoint

EVAL_BATCH = 1024


def resolve(spec: Spec, prepared: Prepared, n_outputs: int) -> Spec:
    """The spec with every default that depends on the data filled in, checked against it."""
    task = prepared.task
    train = spec.train
    loss = train.loss or Loss(name=default_loss(task, n_outputs))
    metrics = train.metrics or DEFAULT_METRICS[task]
    problems = []
    for i, m in enumerate(metrics):
        if m not in METRICS:
            problems.append(f"train.metrics[{i}]: unknown metric {m!r}; valid: "
                            f"{', '.join(METRICS)}")
        elif METRICS[m][0] != task:
            problems.append(f"train.metrics[{i}]: {m} is a {METRICS[m][0]} metric, but the "
                            f"task is {task}")
    if (loss.name in CLASSIFICATION_LOSSES) != (task == "classification"):
        problems.append(f"train.loss.name: {loss.name} does not suit a {task} task")
    es = train.early_stopping
    monitors = {"val_loss", "train_loss"} | {f"{p}_{m}" for p in ("val", "train") for m in metrics}
    if es is not None and es.monitor not in monitors:
        problems.append(f"train.early_stopping.monitor: {es.monitor!r} is not logged; "
                        f"choose one of {', '.join(sorted(monitors))}")
    if problems:
        raise SpecError("the spec does not fit the data:\n  " + "\n  ".join(problems))
    return spec.model_copy(update={"task": task, "train": train.model_copy(
        update={"loss": loss, "metrics": metrics})})


def _check_outputs(task: str, n_outputs: tuple[int, ...], prepared: Prepared, loss: str):
    n_classes = prepared.dataset.n_classes
    if task == "classification":
        want = 1 if loss == "binary_cross_entropy" else n_classes
        if n_outputs != (want,):
            raise SpecError(
                f"model.layers[-1]: the network outputs {n_outputs} per sample, but "
                f"{prepared.dataset.source} has {n_classes} classes; make the last layer "
                f"`dense: {{units: {want}}}`"
                + (" (binary_cross_entropy takes one output unit)" if want == 1 else ""))
    elif int(np.prod(n_outputs)) != int(np.prod(prepared.dataset.y.shape[1:] or (1,))):
        raise SpecError(f"model.layers[-1]: the network outputs {n_outputs} per sample; a "
                        "regression on one target needs `dense: {units: 1}` last")


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"train.device: {name!r} was asked for, but no CUDA device is "
                        "available; use device: auto or cpu")
    return dev


def _precision(name: str, device: torch.device):
    """(autocast context factory, grad scaler or None) for a precision on a device."""
    if device.type != "cuda" or name == "fp32":
        return contextlib.nullcontext, None
    if name == "auto":
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    dtype = torch.bfloat16 if name == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None
    return functools.partial(torch.autocast, "cuda", dtype=dtype), scaler


def train(spec: Spec, out: str | Path | None = None, resume: str | Path | None = None,
          quiet: bool = False, runs_root: str | Path = "runs") -> Run:
    """Train `spec`; write and return the run. With `resume`, continue that run exactly
    from its last checkpoint (its own spec.yaml is used).

    >>> run = deepnet.train(deepnet.Spec.from_yaml("examples/digits.yaml"))
    """
    if resume is not None:
        path = Path(resume)
        if not checkpoint.exists(path / "checkpoint"):
            raise CheckpointError(f"--resume {str(path)!r}: no checkpoint found "
                                  f"({path / 'checkpoint' / checkpoint.STATE} is missing)")
        spec = Spec.from_yaml(path / "spec.yaml")
    prepared = prepare(spec)
    model, rows = build_model(spec.model.layers, prepared.dataset.input_shape, spec.seed)
    n_outputs = rows[-1].output_shape
    spec = resolve(spec, prepared, n_outputs[-1] if n_outputs else 1)
    _check_outputs(prepared.task, n_outputs, prepared, spec.train.loss.name)
    path = path if resume is not None else new_run_dir(spec, out, runs_root)
    if resume is None:
        spec.to_yaml(path / "spec.yaml")
    return _train(spec, prepared, model, path, resume is not None, quiet)


def _train(spec: Spec, prepared: Prepared, model, path: Path, resuming: bool, quiet: bool):
    tc = spec.train
    device = _device(tc.device)
    torch.manual_seed(spec.seed)
    model.to(device)
    x_tr, y_tr = prepared.arrays("train")
    x_val, y_val = prepared.arrays("val")
    if len(y_val) == 0:
        raise DataError("data.split.val: the validation split is empty; set val > 0")
    train_data = InMemory(x_tr, y_tr, tc.batch_size, device)
    val_data = InMemory(x_val, y_val, EVAL_BATCH, device)
    optimizer = make_optimizer(model.parameters(), tc.optimizer)
    scheduler, when = make_schedule(optimizer, tc.schedule, tc.optimizer.lr, tc.epochs,
                                    len(train_data))
    autocast, scaler = _precision(tc.precision, device)
    loss_fn = make_loss(tc.loss, y_tr, prepared.dataset.n_classes, device)
    t = Trainer(model, torch.compile(model) if tc.compile else model, optimizer, scheduler,
                when, loss_fn, train_data, val_data, tc.metrics, tc.epochs, tc.l1,
                tc.clip_grad_norm, autocast, scaler,
                batches=torch.Generator().manual_seed(spec.seed),
                augment_rng=torch.Generator(device).manual_seed(spec.seed + 1))
    if spec.data.augment:
        from deepnet.data.augment import make_augment

        t.augment = make_augment(spec.data.augment, prepared.dataset.input_shape,
                                 prepared.preprocess)
    es = tc.early_stopping
    callbacks = [DivergenceGuard(tc.divergence.factor)]
    if es is not None:
        callbacks.append(BestWeights(es.monitor, es.mode, es.patience, es.min_delta))
    ckpt_dir = path / "checkpoint"
    callbacks += [Checkpoint(lambda tr: save_checkpoint(tr, ckpt_dir, callbacks)),
                  MetricsLog(path / "metrics.jsonl")]
    if not quiet:
        callbacks.append(Progress(tc.epochs, len(train_data), tc.metrics[0]))
    if resuming:
        load_checkpoint(t, ckpt_dir, callbacks)
    started = time.perf_counter()
    fit(t, callbacks)
    seconds = time.perf_counter() - started
    if t.stop_reason == "diverged" and es is None:  # back to the last good weights
        tensors, _ = checkpoint.load(ckpt_dir)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return finish(spec, prepared, t, path, seconds, device)


def finish(spec: Spec, prepared: Prepared, t: Trainer, path: Path, seconds: float,
           device: torch.device) -> Run:
    """Evaluate on the test split and write model.safetensors, results.json, report.html."""
    model = t.model
    ds = prepared.dataset
    meta = {"task": prepared.task, "classes": ds.classes, "input_shape": list(ds.input_shape),
            "preprocess": prepared.preprocess.to_json(), "source": ds.source}
    save_model(path / "model.safetensors", model, meta)
    x_te, y_te = prepared.arrays("test")
    test = {}
    if len(y_te):
        test = evaluate(model, InMemory(x_te, y_te, EVAL_BATCH, device), t.loss_fn,
                        t.metrics, t.autocast)
    results = {
        "test": test,
        "epochs": t.epoch,
        "best_epoch": t.best_epoch or t.epoch,
        "stop_reason": t.stop_reason,
        "stop_message": t.stop_message,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / max(len(t.history), 1), 4),
        "device": str(device),
        "samples": {k: len(v) for k, v in prepared.splits.items()},
        "versions": _versions(),
    }
    write_json_atomic(path / "results.json", results)
    model.cpu()
    run = Run(path, spec, model.eval(), prepared.preprocess, prepared.task, ds.classes,
              ds.input_shape, t.history, results)
    from deepnet.report.html import write_report

    write_report(run)
    return run


def _versions() -> dict[str, str]:
    from deepnet import __version__

    return {"deepnet": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def evaluate_run(run: Run, data: str | Path | None = None) -> dict[str, float]:
    """Test metrics of a run on its own test split, or on a labelled .npz (`x`, `y`)."""
    if data is None:
        prepared = prepare(run.spec)
        prepared.preprocess = run.preprocess
        x, y = prepared.arrays("test")
        if len(y) == 0:
            raise DataError("the run's spec has no test split (data.split.test is 0); "
                            "pass labelled data with --data")
    else:
        raw_x, y = load_npz(data, need_y=True)
        x = run.preprocess(run.as_inputs(raw_x))
        y = _labels(run, y, data)
    tc = run.spec.train
    n_classes = len(run.classes)
    loss_fn = make_loss(tc.loss, np.asarray(y), n_classes, torch.device("cpu"))
    return evaluate(run.model, InMemory(x, y, EVAL_BATCH, torch.device("cpu")), loss_fn,
                    tc.metrics)


def _labels(run: Run, y: np.ndarray, source) -> np.ndarray:
    if run.task == "regression":
        return y.astype(np.float32)
    index = {name: i for i, name in enumerate(run.classes)}
    keys = [str(v.item()) if isinstance(v, np.generic) else str(v) for v in y]
    keys = [k[:-2] if k.endswith(".0") and k[:-2] in index else k for k in keys]
    unknown = sorted({k for k in keys if k not in index})
    if unknown:
        raise DataError(f"{source}: labels {unknown[:5]} are not classes of this run "
                        f"({', '.join(run.classes)})")
    return np.asarray([index[k] for k in keys], dtype=np.int64)


def load_npz(path: str | Path, need_y: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays `x` (and `y`) from an .npz file, never unpickled."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DataError(f"{str(path)!r}: no array named 'x' (found: "
                                f"{', '.join(f.files) or 'none'}); save with np.savez(path, x=...)")
            if need_y and "y" not in f:
                raise DataError(f"{str(path)!r}: no array named 'y' of labels")
            x, y = f["x"], (f["y"] if "y" in f else None)
    except FileNotFoundError:
        raise DataError(f"{str(path)!r} not found") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{str(path)!r} is not a readable .npz file: {e}") from None
    if y is not None and len(y) != len(x):
        raise DataError(f"{str(path)!r}: x has {len(x)} rows but y has {len(y)}")
    return x, y

