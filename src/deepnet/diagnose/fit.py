"""Reading the learning curves: diverged, unstable, overfitting, underfitting.

Each detector is a pure function of a run's Facts (history, results, spec); thresholds
are named constants so that a reader sees what "rising" or "high" means here.
"""

from __future__ import annotations

import math

import numpy as np

from deepnet.diagnose.findings import Facts, Finding, Remedy, layer_items, rounded
from deepnet.train.metrics import HIGHER_IS_BETTER

OVERFIT_RISE = 0.10  # val loss this far (relative) above its minimum at the end
OVERFIT_AFTER = 3  # ... at least this many epochs after the minimum
OVERFIT_GAP = 0.03  # ... and a train-val gap of the main metric at least this big
UNDERFIT_LOSS = 0.5  # classification: final train loss above this fraction of chance
UNDERFIT_ACCURACY = 0.8  # ... or final train accuracy below this
UNDERFIT_R2 = 0.5  # regression: final train r2 below this
STUCK = 0.05  # relative improvement of the train loss from the first epoch to the last
PLATEAU = 0.02  # relative improvement of the train loss over the last third of epochs
CHANCE_FACTOR = 2.0  # an epoch's train loss above this x chance: the steps overshoot
JUMP = 0.25  # an epoch that undoes this fraction of the progress made so far is a spike
WIDE = 128  # units suggested for a layer too narrow to fit


def _chance_loss(f: Facts) -> float | None:
    """Cross-entropy of a uniform guess: what a model that learnt nothing scores."""
    if f.task != "classification" or f.n_classes < 2:
        return None
    return math.log(f.n_classes)


def _lr(f: Facts) -> float:
    return float(f.spec.train.optimizer.lr)


def _lower_lr(f: Facts, factor: float = 10.0) -> dict:
    return {"train.optimizer.lr": rounded(_lr(f) / factor, 3)}


# ----------------------------------------------------------------------------- diverged
def detect_diverged(f: Facts) -> list[Finding]:
    losses = np.concatenate([f.series("train_loss"), f.series("val_loss")])
    stopped = f.results.stop_reason == "diverged"
    if not stopped and np.isfinite(losses).all():
        return []
    changes = _lower_lr(f)
    if f.spec.train.clip_grad_norm is None:
        changes["train.clip_grad_norm"] = 1.0
    return [Finding(
        "diverged", "critical",
        {"stop_reason": f.results.stop_reason,
         "message": f.results.stop_message or "a logged loss is not finite",
         "epochs_completed": len(f.history), "lr": _lr(f)},
        "The loss blew up (became infinite, NaN or enormous), so training stopped: the "
        "optimizer's steps were so large that the weights flew off instead of settling.",
        Remedy(changes, "Lower the learning rate tenfold and clip the gradient norm; check "
                        "the inputs are normalised (data.normalize: standard)."))]


# ----------------------------------------------------------------------------- unstable
def _jumps(loss: np.ndarray) -> list[tuple[int, float]]:
    """(epoch, fraction of the progress so far undone) for each epoch-to-epoch spike."""
    out = []
    for i in range(2, len(loss)):
        best = np.nanmin(loss[:i])
        progress = loss[0] - best
        step = loss[i] - loss[i - 1]
        if progress > 0 and step > JUMP * progress:
            out.append((i + 1, float(step / progress)))
    return out


def detect_unstable(f: Facts) -> list[Finding]:
    train, val = f.series("train_loss"), f.series("val_loss")
    if len(train) == 0 or not np.isfinite(train).all():
        return []  # diverged: its own finding
    evidence: dict = {}
    chance = _chance_loss(f)
    worst = int(np.argmax(train))
    if chance is not None and train[worst] > CHANCE_FACTOR * chance:
        evidence |= {"max_train_loss": rounded(train[worst]), "at_epoch": worst + 1,
                     "chance_loss": rounded(chance)}
    spikes = {"train_loss": _jumps(train), "val_loss": _jumps(val)}
    for key, found in spikes.items():
        if found:
            evidence[f"{key}_spikes"] = [{"epoch": e, "progress_undone": rounded(u, 3)}
                                         for e, u in found[:5]]
    strong = any(u >= 2 * JUMP for found in spikes.values() for _, u in found)
    n_spikes = sum(len(v) for v in spikes.values())
    if "max_train_loss" not in evidence and not strong and n_spikes < 2:
        return []
    evidence["lr"] = _lr(f)
    learnt_nothing = chance is not None and train[-1] > 0.9 * chance
    evidence["final_train_loss"] = rounded(train[-1])
    return [Finding(
        "unstable_training", "critical" if learnt_nothing else "warning", evidence,
        "The loss jumps up instead of going down steadily: the learning rate is so high that "
        "each step overshoots the minimum it is heading for."
        + (" The model ended no better than a guess." if learnt_nothing else ""),
        Remedy(_lower_lr(f), "Lower the learning rate tenfold (or add a schedule such as "
                             "onecycle, or clip_grad_norm) so the loss decreases smoothly."))]


# ----------------------------------------------------------------------------- overfitting
def _metric_gap(f: Facts) -> tuple[str, float, float, float] | None:
    """(metric, train value, val value, gap in the 'train is better' direction)."""
    m = f.metric
    tr, va = f.series(f"train_{m}"), f.series(f"val_{m}")
    if not len(tr) or not (np.isfinite(tr[-1]) and np.isfinite(va[-1])):
        return None
    gap = tr[-1] - va[-1] if m in HIGHER_IS_BETTER else va[-1] - tr[-1]
    if m not in HIGHER_IS_BETTER:  # an error: compare relative to its size
        gap = gap / max(abs(va[-1]), 1e-12)
    return m, float(tr[-1]), float(va[-1]), float(gap)


def detect_overfitting(f: Facts) -> list[Finding]:
    train, val = f.series("train_loss"), f.series("val_loss")
    if len(val) < OVERFIT_AFTER + 2 or not np.isfinite(val).all() or not np.isfinite(train).all():
        return []
    i_min = int(np.argmin(val))
    rise = (val[-1] - val[i_min]) / max(val[i_min], 1e-12)
    gap_min, gap_end = val[i_min] - train[i_min], val[-1] - train[-1]
    metric = _metric_gap(f)
    if (rise < OVERFIT_RISE or len(val) - 1 - i_min < OVERFIT_AFTER or gap_end <= gap_min
            or metric is None or metric[3] < OVERFIT_GAP):
        return []
    m, tr, va, gap = metric
    es = f.spec.train.early_stopping
    evidence = {"best_val_loss": rounded(val[i_min]), "best_epoch": i_min + 1,
                "final_val_loss": rounded(val[-1]), "val_loss_rise": rounded(rise, 3),
                "final_train_loss": rounded(train[-1]), f"train_{m}": rounded(tr),
                f"val_{m}": rounded(va), "epochs": len(val),
                "train_samples": f.results.samples.get("train")}
    kept_best = es is not None and f.results.best_epoch == i_min + 1
    return [Finding(
        "overfitting", "info" if kept_best else ("critical" if rise > 0.5 else "warning"),
        evidence,
        f"The model keeps getting better on the training data while the validation loss has "
        f"risen {rise:.0%} since epoch {i_min + 1}: it memorises the training examples "
        "instead of learning what generalises.",
        Remedy(_regularise(f), "Regularise: L2 weight decay, early stopping (it keeps the "
                               "best epoch's weights) and augmentation for images or dropout "
                               "after the hidden layers otherwise; more training data helps "
                               "most when the training split is small."))]


def _regularise(f: Facts) -> dict:
    """L2, early stopping (it keeps the best epoch's weights; a patience of a fifth of the
    epochs lets a noisy small-data run go on), and augmentation (images) or dropout after
    the hidden layers (anything else)."""
    spec = f.spec
    changes: dict = {}
    opt = spec.train.optimizer
    changes["train.optimizer.weight_decay"] = rounded(max(1e-4, 10 * opt.weight_decay), 3)
    if spec.train.early_stopping is None:
        changes["train.early_stopping"] = {"monitor": "val_loss",
                                           "patience": max(20, spec.train.epochs // 5)}
    if len(f.input_shape) == 3 and not spec.data.augment and f.task == "classification":
        crop = max(1, round(min(f.input_shape[1:]) / 8))
        changes["data.augment"] = [{"rotate": 10}, {"crop": crop}]
        return changes
    if not any(name == "dropout" for _, name, _ in layer_items(spec)):
        layers = spec.to_dict()["model"]["layers"]
        hidden = [i for i, item in enumerate(layers)
                  if next(iter(item)) in ("dense", "conv1d", "conv2d")][:-1]
        new = []
        for i, item in enumerate(layers):
            new.append(item)
            if i in hidden:
                new.append({"dropout": {"rate": 0.5 if "dense" in item else 0.2}})
        if hidden:
            changes["model.layers"] = new
    return changes


# ----------------------------------------------------------------------------- underfitting
def detect_underfitting(f: Facts) -> list[Finding]:
    train = f.series("train_loss")
    if len(train) < 2 or not np.isfinite(train).all():
        return []
    evidence: dict = {"final_train_loss": rounded(train[-1]), "epochs": len(train)}
    chance = _chance_loss(f)
    if f.task == "classification":
        acc = f.series("train_accuracy")
        high = chance is not None and train[-1] > UNDERFIT_LOSS * chance
        low = len(acc) and np.isfinite(acc[-1]) and acc[-1] < UNDERFIT_ACCURACY
        if not (high or low):
            return []
        if chance is not None:
            evidence["chance_loss"] = rounded(chance)
        if len(acc) and np.isfinite(acc[-1]):
            evidence["final_train_accuracy"] = rounded(acc[-1])
    else:
        r2 = f.series("train_r2")
        if not len(r2) or not np.isfinite(r2[-1]) or r2[-1] >= UNDERFIT_R2:
            return []
        evidence["final_train_r2"] = rounded(r2[-1])
    metric = _metric_gap(f)
    if metric is not None and metric[3] >= 2 * OVERFIT_GAP:
        return []  # it fits the training split much better than the rest: not underfitting
    third = max(len(train) // 3, 1)
    start = train[-third - 1]
    improving = (start - train[-1]) / max(abs(start), 1e-12)
    plateau = improving < PLATEAU
    evidence["train_loss_improvement_last_third"] = rounded(improving, 3)
    bottleneck = _bottleneck(f)
    overall = (train[0] - train[-1]) / max(abs(train[0]), 1e-12)
    evidence["train_loss_improvement_overall"] = rounded(overall, 3)
    if overall < STUCK and not bottleneck:  # it hardly moved at all: the steps are too small
        return [Finding(
            "underfitting", "warning", evidence,
            "The model cannot fit even its training data: its training loss has hardly moved "
            "from where it started, so the optimizer is taking steps too small to learn.",
            Remedy({"train.optimizer.lr": rounded(_lr(f) * 10, 3)},
                   "Raise the learning rate tenfold; check the inputs (and regression "
                   "targets) are on a reasonable scale, and that the activations suit the "
                   "depth (ReLU family)."))]
    changes = _widen(f) if plateau or bottleneck else {}
    if not plateau:
        changes["train.epochs"] = 2 * f.spec.train.epochs
    if bottleneck:
        evidence["bottleneck"] = bottleneck
    text = ("Train longer: the loss was still falling" if not plateau else
            "The loss has plateaued, so more epochs alone will not help")
    if changes.keys() - {"train.epochs"}:
        text += ("; give the model more capacity (a wider layer"
                 + (f": {bottleneck} is narrower than the {f.n_classes} classes" if bottleneck
                    else "") + ")")
    text += ". If it still cannot fit, try a higher learning rate or ReLU-family activations."
    return [Finding(
        "underfitting", "warning", evidence,
        "The model cannot fit even its training data: its training loss stays high, so it "
        "is too small, too constrained or not trained long enough to learn the task.",
        Remedy(changes, text))]


def _bottleneck(f: Facts) -> str | None:
    """A hidden dense layer narrower than the classes it must tell apart, or None."""
    for path, name, args in layer_items(f.spec)[:-1]:
        if name == "dense" and f.n_classes and args["units"] < f.n_classes:
            return f"{path} ({args['units']} units)"
    return None


def _widen(f: Facts) -> dict:
    """Widen the narrowest hidden dense/conv layer; double the network if none is narrow."""
    items = [(p, n, a) for p, n, a in layer_items(f.spec) if n in ("dense", "conv1d", "conv2d")]
    hidden = items[:-1]
    if not hidden:  # a linear model: add a hidden layer before the output
        layers = f.spec.to_dict()["model"]["layers"]
        last = max(i for i, item in enumerate(layers) if next(iter(item)) == "dense")
        new = layers[:last] + [{"dense": {"units": WIDE, "activation": "relu"}}] + layers[last:]
        return {"model.layers": new}
    key = {"dense": "units", "conv1d": "filters", "conv2d": "filters"}
    path, name, args = min(hidden, key=lambda t: t[2][key[t[1]]])
    width = args[key[name]]
    return {f"{path}.{name}.{key[name]}": max(WIDE if name == "dense" else 32, 4 * width)}


def healthy(f: Facts) -> Finding:
    m = f.metric
    evidence = {"epochs": len(f.history), "stop_reason": f.results.stop_reason}
    for part in ("train", "val"):
        s = f.series(f"{part}_{m}")
        if len(s):
            evidence[f"final_{part}_{m}"] = rounded(s[-1])
    return Finding("healthy", "info", evidence,
                   "No problem found: the curves go down smoothly, training and validation "
                   "agree, and the gradients reach every layer.",
                   Remedy({}, "Nothing to change; more data or a larger model may still "
                              "raise the score."))
