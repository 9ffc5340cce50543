"""Reading the learning curves: diverged, unstable, label noise, overfitting, underfitting,
healthy.

Each detector is a pure function of a run's Facts (history, results, spec). Every rule is
a `Check` against a named constant below, and a finding's evidence lists the checks that
made it (metric, value, threshold, epochs), so a reader sees what "rising" or "high"
means here. The constants were calibrated on planted faults, clean runs and healthy
near-misses (bench/faults: `python -m bench.faults`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepnet.diagnose.findings import (
    Check,
    Facts,
    Finding,
    Remedy,
    after_hidden,
    layer_items,
    rounded,
)
from deepnet.train.metrics import METRICS, higher_is_better

# Figures in the comments below: the planted-fault benchmark's runs (bench/faults, every
# case over its seeds), each check's value per run. "Healthy" are its clean bases, the
# references (a plant's setting alone) and the near-misses; none of them may reach a
# warning. Each constant sits between the healthy runs and the plants it must catch.

# Overfitting. A finding needs a generalisation gap: the main metric OVERFIT_GAP or more
# better on training than on validation. Then either the validation loss rises (the
# classic curve), with the gap GAP_Z or more standard errors of the validation metric so
# that a small validation split's noise is not taken for a rise, or the model has
# memorised its training rows (MEMORISED_RATIO: the validation loss only plateaus, the
# issue's 400-row digits case; that ratio is no noise, so even 22 val rows will do).
OVERFIT_RISE = 0.10  # val loss this far (relative) above its minimum at the end ...
OVERFIT_AFTER = 3  # ... at least this many epochs after the minimum
OVERFIT_GAP = 0.03  # train-val gap of the main metric (accuracy points; relative error)
# Two standard errors of the val metric (binomial, one-sided p about 0.02): the gap alone
# is no evidence on a small split (breast_cancer's 86 val rows give gaps of 0.04-0.05 at
# 1.5-1.7 standard errors in healthy runs; healthy runs reach 3.4 on 270 rows).
GAP_Z = 2.0
# Memorised: the val loss at least this many times the train loss at the kept epoch.
# Healthy runs: 16 at most (the GRU; SGD 0.1 with momentum on a wider MLP: 420); the
# memorisation and small-data plants: 11000-120000.
MEMORISED_RATIO = 1000.0
L2 = 1e-4  # the weight decay the overfitting remedy sets at least (10x a higher one)

# Label noise: after the val-loss minimum the train loss still fell this much (relative)
# while the train accuracy stayed below UNDERFIT_ACCURACY. 40% wrong labels on the digits:
# 0.12-0.17 in the 6 epochs early stopping allowed before it counted patience as Keras
# does (5 now; still 3/3 detected); runs stuck near chance (clipped SGD, dead units) fall
# less than from chance.
NOISE_TRAIN_DROP = 0.10

# Underfitting: the model fits neither split well, stopped while still learning fast, or
# has no non-linearity on a task it does not fit.
UNDERFIT_LOSS = 0.5  # classification: the better of train/val loss above this x chance
# The better of train and val accuracy below this (train accuracy is logged with dropout
# and augmentation active, so val counts too). Healthy runs: 0.89 at least; the rate
# /1000: 0.10-0.77; width 2: 0.38-0.50.
UNDERFIT_ACCURACY = 0.85
UNDERFIT_R2 = 0.5  # regression: the better of train/val r2 below this
# Cut short: train and val loss both still falling, per epoch over the last fifth of the
# epochs when they ran out, by this share of the chance loss (of the first epoch's loss for
# regression). Healthy runs: 0.026 at most (a 12-epoch CNN with augmentation); 2 epochs:
# 0.20-0.56. (Relative to the loss itself, a run whose loss is already near 0 would look
# cut short: 0.0003 to 0.0002 is a third.)
CUT_SHORT = 0.05
LONGER = 4  # the epochs of a run cut short are multiplied by this
# A network with no non-linearity (a linear model) whose better accuracy is below this:
# linear layers on the moons reach 0.87-0.90; a linear model fits breast_cancer to 0.98.
LINEAR_FIT = 0.95
STUCK = 0.05  # relative improvement of the train loss from the first epoch to the last
# The usual learning rate of each optimizer: PyTorch's default where it has one (Adam and
# AdamW 1e-3, RMSprop 1e-2), SGD's common 1e-2. An underfitting run whose rate is below
# SLOW_LR of it has its rate raised to it (tenfold steps took three retrains to undo a
# rate /1000: the benchmark's lr_low repairs failed).
USUAL_LR = {"adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2, "sgd": 1e-2}
SLOW_LR = 0.1
PLATEAU = 0.02  # relative improvement of the train loss over the last third of epochs
WIDE = 128  # units suggested for a layer too narrow to fit

# Unstable training: both losses far above a guess at one epoch, a first epoch far above
# it, or spikes. The train loss alone is not enough: an overfitted net's val loss may pass
# any level, so the better of the two must pass it. Healthy runs: 1.4x at most; the rate
# x1000: 26-33x; clipped SGD at 10: 1.6-4.7x.
CHANCE_FACTOR = 2.0  # the better of an epoch's train and val loss above this x chance
# The first epoch's train loss above this x chance: it averages the untrained network's,
# about 1x, so the steps threw it far above a guess within the epoch. Healthy runs: 2.0x
# at most (2.6x with dropout 0.5 on breast_cancer in the tests); clipped SGD at 10: 3-36x.
FIRST_EPOCH_FACTOR = 3.0
# An epoch whose loss rises by this share of the starting loss (chance, or the first
# epoch's if higher) is a spike; healthy runs have at most one.
JUMP = 0.25
SPIKES = 2  # spikes of the train and val loss together: one alone (a val uptick) is noise
GUESS = 0.9  # a final train loss above this x chance: no better than a guess (critical)


def _chance_loss(f: Facts) -> float | None:
    """Cross-entropy of a uniform guess: what a model that learnt nothing scores."""
    if f.task != "classification" or f.n_classes < 2:
        return None
    return math.log(f.n_classes)


def _lr(f: Facts) -> float:
    return float(f.spec.train.optimizer.lr)


def _lower_lr(f: Facts, factor: float = 10.0) -> dict:
    return {"train.optimizer.lr": rounded(_lr(f) / factor, 3)}


def _fired(checks: list[Check]) -> list[dict]:
    return [c.to_dict() for c in checks if c.fired]


# ----------------------------------------------------------------------------- diverged
def detect_diverged(f: Facts) -> list[Finding]:
    losses = np.concatenate([f.series("train_loss"), f.series("val_loss")])
    n = len(f.history)
    checks = [Check("epochs stopped by the divergence guard (train.divergence.factor)",
                    float(f.results.stop_reason == "diverged"), ">=", 1, (n, n)),
              Check("logged losses that are not finite", float((~np.isfinite(losses)).sum()),
                    ">=", 1, (1, n))]
    if not any(c.fired for c in checks):
        return []
    changes = _lower_lr(f)
    if f.spec.train.clip_grad_norm is None:
        changes["train.clip_grad_norm"] = 1.0
    return [Finding(
        "diverged", "critical",
        {"checks": _fired(checks), "stop_reason": f.results.stop_reason,
         "message": f.results.stop_message or "a logged loss is not finite",
         "epochs_completed": n, "lr": _lr(f)},
        f"The loss blew up (became infinite, NaN or enormous) after {n} completed epochs at "
        f"learning rate {_lr(f):g}, so training stopped: the optimizer's steps were so large "
        "that the weights flew off instead of settling.",
        Remedy(changes, "Lower the learning rate tenfold and clip the gradient norm; check "
                        "the inputs are normalised (data.normalize: standard)."))]


# ----------------------------------------------------------------------------- unstable
def _jumps(loss: np.ndarray, start: float | None = None) -> list[tuple[int, float]]:
    """(epoch, rise as a share of the starting loss) for each epoch-to-epoch rise of JUMP
    or more of it. The start is the untrained network's loss (`start`: chance, for a
    classifier), or the first epoch's if higher: a rise of a quarter of that is no noise,
    also in a run that has made no progress (a val loss jumping from chance to twice it)."""
    origin = loss[0] if start is None else max(loss[0], start)
    if not origin > 0:
        return []
    rise = np.diff(loss) / origin
    return [(i + 2, float(r)) for i, r in enumerate(rise) if r > JUMP]


def unstable_checks(f: Facts) -> tuple[list[Check], dict]:
    """The instability rules (each check fires on its own) and the spikes, as evidence."""
    train, val = f.series("train_loss"), f.series("val_loss")
    n = len(train)
    chance = _chance_loss(f)
    checks, spikes = [], {"train_loss": _jumps(train, chance), "val_loss": _jumps(val, chance)}
    if chance is not None and n and np.isfinite(val).all():
        checks += [Check("max over epochs of min(train_loss, val_loss) / chance_loss",
                         float(np.max(np.minimum(train, val))) / chance, ">", CHANCE_FACTOR,
                         (1, n)),
                   Check("first epoch's train_loss / chance_loss", train[0] / chance, ">",
                         FIRST_EPOCH_FACTOR, (1, 1))]
    strongest = max((u for _, u in spikes["train_loss"]), default=0.0)
    checks += [
        Check("train_loss and val_loss spikes", sum(map(len, spikes.values())), ">=", SPIKES,
              (1, n)),
        Check("largest train_loss rise (share of the starting loss)", strongest, ">=",
              2 * JUMP, (1, n))]
    evidence = {f"{key}_spikes": [{"epoch": e, "rise_share": rounded(u, 3)}
                                  for e, u in found[:5]]
                for key, found in spikes.items() if found}
    return checks, evidence


def detect_unstable(f: Facts) -> list[Finding]:
    train = f.series("train_loss")
    if len(train) == 0 or not np.isfinite(train).all():
        return []  # diverged: its own finding
    checks, evidence = unstable_checks(f)
    fired = [c for c in checks if c.fired]
    if not fired:
        return []
    chance = _chance_loss(f)
    learnt_nothing = chance is not None and train[-1] > GUESS * chance
    evidence |= {"checks": _fired(checks), "lr": _lr(f), "final_train_loss": rounded(train[-1])}
    what = "; ".join(f"{c.metric} {c.value:g} (threshold {c.threshold:g})" for c in fired)
    return [Finding(
        "unstable_training", "critical" if learnt_nothing else "warning", evidence,
        f"The loss jumps up instead of going down steadily ({what}): at learning rate "
        f"{_lr(f):g} each step overshoots the minimum it is heading for."
        + (f" The model ended no better than a guess (train loss {rounded(train[-1]):g})."
           if learnt_nothing else ""),
        Remedy(_lower_lr(f), "Lower the learning rate tenfold (or add a schedule such as "
                             "onecycle, or clip_grad_norm) so the loss decreases smoothly."))]


# ----------------------------------------------------------------------------- overfitting
@dataclass(frozen=True)
class Gap:
    """The main metric on train and val at one epoch and how far train is ahead."""

    metric: str
    epoch: int  # 1-based
    train: float
    val: float
    gap: float  # in the "train is better" direction (relative for an error metric)
    z: float | None  # gap in standard errors of the val metric (classification metrics)
    val_rows: int | None


def metric_gap(f: Facts, epoch: int | None = None) -> Gap | None:
    """The main metric's train-val gap at `epoch` (default: the last)."""
    m = f.metric
    tr, va = f.series(f"train_{m}"), f.series(f"val_{m}")
    if not len(tr):
        return None
    e = epoch or len(tr)
    t, v = tr[e - 1], va[e - 1]
    if not (np.isfinite(t) and np.isfinite(v)):
        return None
    higher = higher_is_better(m)
    gap = t - v if higher else (v - t) / max(abs(v), 1e-12)  # an error: relative to its size
    n = f.results.samples.get("val")
    z = None
    if n and METRICS.get(m).task == "classification":  # a share of rows: binomial noise
        se = math.sqrt(max(v * (1 - v), 1 / n) / n)  # at least one row's worth
        z = gap / se
    return Gap(m, e, float(t), float(v), float(gap), z, n)


def _gap_checks(g: Gap) -> list[Check]:
    name = f"train_{g.metric} - val_{g.metric}" + ("" if higher_is_better(g.metric) else
                                                  f" (relative to val_{g.metric})")
    checks = [Check(name, g.gap, ">=", OVERFIT_GAP, (g.epoch, g.epoch))]
    if g.z is not None:
        checks.append(Check(f"that gap in standard errors of val_{g.metric}", g.z, ">=", GAP_Z,
                            (g.epoch, g.epoch)))
    return checks


def overfit_checks(f: Facts) -> dict[str, list[Check]] | None:
    """The two overfitting rules, each a list of checks that must all fire: "rising" (the
    val loss climbs after its minimum, at the end of the run) and "memorised" (at the kept
    epoch the train loss is a tiny fraction of the val loss). None without the curves."""
    train, val = f.series("train_loss"), f.series("val_loss")
    n = len(val)
    if n < OVERFIT_AFTER + 2 or not np.isfinite(val).all() or not np.isfinite(train).all():
        return None
    end, kept = metric_gap(f), metric_gap(f, f.kept_epoch)
    if end is None or kept is None:
        return None
    i_min = int(np.argmin(val))
    rise = (val[-1] - val[i_min]) / max(val[i_min], 1e-12)
    growth = (val[-1] - train[-1]) - (val[i_min] - train[i_min])
    k = f.kept_epoch
    ratio = val[k - 1] / max(train[k - 1], 1e-12)
    return {
        "rising": [Check("val_loss rise above its minimum", rise, ">=", OVERFIT_RISE,
                         (i_min + 1, n)),
                   Check("epochs since the val_loss minimum", n - 1 - i_min, ">=",
                         OVERFIT_AFTER, (i_min + 1, n)),
                   Check("growth of val_loss - train_loss since the minimum", growth, ">", 0.0,
                         (i_min + 1, n)), *_gap_checks(end)],
        "memorised": [Check("val_loss / train_loss", ratio, ">=", MEMORISED_RATIO, (k, k)),
                      _gap_checks(kept)[0]]}


def detect_overfitting(f: Facts) -> list[Finding]:
    rules = overfit_checks(f)
    if rules is None:
        return []
    fired = {name: checks for name, checks in rules.items() if all(c.fired for c in checks)}
    if not fired:
        return []
    train, val = f.series("train_loss"), f.series("val_loss")
    m, n, k = f.metric, len(val), f.kept_epoch
    i_min = int(np.argmin(val))
    rise = (val[-1] - val[i_min]) / max(val[i_min], 1e-12)
    g = metric_gap(f, k if "memorised" in fired else None)
    evidence = {"checks": [c.to_dict() for checks in fired.values() for c in checks],
                "best_val_loss": rounded(val[i_min]), "best_epoch": i_min + 1,
                "final_val_loss": rounded(val[-1]), "val_loss_rise": rounded(rise, 3),
                "final_train_loss": rounded(train[-1]), "gap_epoch": g.epoch,
                f"train_{m}": rounded(g.train), f"val_{m}": rounded(g.val),
                "gap": rounded(g.gap), "val_rows": g.val_rows, "epochs": n, "kept_epoch": k,
                "gap_standard_errors": None if g.z is None else rounded(g.z, 3),
                "train_samples": f.results.samples.get("train")}
    noise = "" if g.z is None else (f", {rounded(g.z, 3):g} standard errors of {g.val_rows} "
                                    "validation rows")
    said = [f"At epoch {g.epoch} the model scores {m} {rounded(g.train):g} on its training "
            f"rows but {rounded(g.val):g} on validation rows: a generalisation gap of "
            f"{rounded(g.gap):g}{noise}."]
    if "rising" in fired:
        said.append(f"The validation loss has risen {rounded(rise, 3):.1%} since its minimum "
                    f"at epoch {i_min + 1} ({rounded(val[i_min]):g} to {rounded(val[-1]):g}).")
    if "memorised" in fired:
        ratio = val[k - 1] / max(train[k - 1], 1e-12)
        evidence["val_train_loss_ratio"] = rounded(ratio, 3)
        said.append(f"Its training loss ({rounded(train[k - 1]):g}) is {rounded(ratio, 3):g} "
                    f"times below its validation loss ({rounded(val[k - 1]):g}): it has "
                    "memorised the training rows, even if the validation loss only plateaus.")
    said.append("It learns the training examples by heart instead of what generalises.")
    # early stopping kept weights from before the rise, and they do not memorise: the run's
    # model is not the overfitted one
    kept_best = "memorised" not in fired and k == i_min + 1 and f.spec.train.keeps_best
    return [Finding(
        "overfitting", "info" if kept_best else ("critical" if rise > 0.5 else "warning"),
        evidence, " ".join(said),
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
    changes["train.optimizer.weight_decay"] = rounded(max(L2, 10 * opt.weight_decay), 3)
    if spec.train.early_stopping is None:
        changes["train.early_stopping"] = {"monitor": "val_loss",
                                           "patience": max(20, spec.train.epochs // 5)}
    if len(f.input_shape) == 3 and not spec.data.augment and f.task == "classification":
        crop = max(1, round(min(f.input_shape[1:]) / 8))
        changes["data.augment"] = [{"rotate": 10}, {"crop": crop}]
        return changes
    if not any(name == "dropout" for _, name, _ in layer_items(spec)):
        new = after_hidden(spec, lambda item: {"dropout": {"rate": 0.5 if "dense" in item
                                                           else 0.2}})
        if new is not None:
            changes["model.layers"] = new
    return changes


# ----------------------------------------------------------------------------- label noise
def noise_checks(f: Facts) -> list[Check] | None:
    """The label-noise rule: after the val loss stopped improving the model kept fitting
    its training rows (its train loss fell NOISE_TRAIN_DROP more, its train accuracy rose)
    although it never fitted them well (train accuracy below UNDERFIT_ACCURACY at the
    val-loss minimum and at the end): it memorises rows that no general rule explains,
    which is what wrong labels do."""
    train, val = f.series("train_loss"), f.series("val_loss")
    acc = f.series("train_accuracy")
    n = len(val)
    if f.task != "classification" or n < OVERFIT_AFTER + 2 or not (
            np.isfinite(val).all() and np.isfinite(train).all() and np.isfinite(acc).all()):
        return None
    i = int(np.argmin(val))
    # from a guess at most: a loss thrown far above chance that falls back is no learning
    chance = _chance_loss(f)
    start = min(train[i], chance) if chance is not None else train[i]
    drop = (start - train[-1]) / max(abs(start), 1e-12)
    return [Check("epochs since the val_loss minimum", n - 1 - i, ">=", OVERFIT_AFTER, (i + 1, n)),
            Check("train_loss decrease since the val_loss minimum", drop, ">=", NOISE_TRAIN_DROP,
                  (i + 1, n)),
            Check("train_accuracy at the val_loss minimum", acc[i], "<", UNDERFIT_ACCURACY,
                  (i + 1, i + 1)),
            Check("train_accuracy at the end", acc[-1], "<", UNDERFIT_ACCURACY, (n, n)),
            # still learning the training rows (a network that collapses loses them too)
            Check("train_accuracy gain since the val_loss minimum", acc[-1] - acc[i], ">", 0.0,
                  (i + 1, n)),
            # the val loss plateaus (wrong labels cap it) rather than climbing back up as it
            # does when the network degrades: 40% noise, 2-4%; a collapsing net, 38%
            Check("val_loss rise above its minimum", (val[-1] - val[i]) / max(val[i], 1e-12),
                  "<", OVERFIT_RISE, (i + 1, n))]


def detect_label_noise(f: Facts) -> list[Finding]:
    checks = noise_checks(f)
    if not checks or not all(c.fired for c in checks):
        return []
    train, val = f.series("train_loss"), f.series("val_loss")
    i, n = int(np.argmin(val)), len(val)
    after, drop, acc, end, *_ = checks
    evidence = {"checks": [c.to_dict() for c in checks], "best_epoch": i + 1, "epochs": n,
                "best_val_loss": rounded(val[i]), "final_val_loss": rounded(val[-1]),
                "train_loss_at_best": rounded(train[i]), "final_train_loss": rounded(train[-1])}
    return [Finding(
        "label_noise", "warning", evidence,
        f"The validation loss stopped improving at epoch {i + 1} ({rounded(val[i]):g}) while "
        f"the training accuracy was only {acc.value:g}; over the next {after.value:g} epochs "
        f"the training loss fell another {drop.value:.1%} ({rounded(train[i]):g} to "
        f"{rounded(train[-1]):g}) and the validation loss did not follow ({rounded(val[-1]):g}),"
        f" the training accuracy ending at {end.value:g}:"
        " the model memorises training rows it cannot fit by any general rule. That is what "
        "wrong labels do (or inputs that carry little signal about the target).",
        Remedy(_smooth_labels(f), "Audit the data: `deepnet audit SPEC` lists the likely label "
                                  "errors and `--fix OUT` writes a copy without them. Until "
                                  "then, label smoothing (0.1) and early stopping limit how "
                                  "much of the noise the model learns."))]


def _smooth_labels(f: Facts) -> dict:
    """Label smoothing 0.1 where the loss is (or defaults to) cross-entropy. The whole loss
    section is set: a run's spec has its default loss filled in, the spec the remedy is
    applied to (--auto's) may have none."""
    loss = f.spec.train.loss
    if loss is not None:
        return {"train.loss": loss.model_dump(mode="json") | {"label_smoothing": 0.1}} \
            if loss.name == "cross_entropy" else {}
    outputs = [a.get("units") for _, name, a in layer_items(f.spec) if name == "dense"]
    if outputs and outputs[-1] == 1:
        return {}  # one logit: binary cross-entropy, which has no smoothing here
    return {"train.loss": {"name": "cross_entropy", "label_smoothing": 0.1}}


# ----------------------------------------------------------------------------- underfitting
# Layer types that keep a network linear (with no activation, or `linear`, where they take
# one): a network made only of these is a linear model whatever its depth.
LINEAR_TYPES = frozenset({"dense", "conv1d", "conv2d", "avgpool2d", "globalavgpool", "flatten",
                          "reshape", "batchnorm", "dropout", "activation", "residual",
                          "repeat"})


def is_linear(spec) -> bool:
    for _, name, args in layer_items(spec):
        act = args.get("name") if name == "activation" else args.get("activation")
        if name not in LINEAR_TYPES or act not in (None, "linear"):
            return False
    return True


def _pace(series: np.ndarray, scale: float) -> float:
    """Decrease per epoch over the last fifth of the epochs (at least one), as a share of
    `scale`."""
    w = max(1, len(series) // 5)
    return float((series[-w - 1] - series[-1]) / max(scale, 1e-12) / w)


def underfit_checks(f: Facts) -> dict[str, list[Check]] | None:
    """The underfitting rules, each a list of checks that must all fire: "poor fit"
    (either check of its list), "cut short", "linear". None without the curves."""
    train, val = f.series("train_loss"), f.series("val_loss")
    n = len(train)
    if n < 2 or not np.isfinite(train).all():
        return None
    k = f.kept_epoch
    rules: dict[str, list[Check]] = {}
    chance = _chance_loss(f)
    if f.task == "classification":
        acc = max(f.series("train_accuracy")[k - 1], f.series("val_accuracy")[k - 1])
        poor = []
        if np.isfinite(acc):
            poor.append(Check("max(train_accuracy, val_accuracy)", acc, "<", UNDERFIT_ACCURACY,
                              (k, k)))
        if chance is not None and np.isfinite(val[k - 1]):
            poor.append(Check("min(train_loss, val_loss) / chance_loss",
                              min(train[k - 1], val[k - 1]) / chance, ">", UNDERFIT_LOSS,
                              (k, k)))
        rules["poor fit"] = poor
        if np.isfinite(acc) and is_linear(f.spec):
            rules["linear"] = [Check("max(train_accuracy, val_accuracy) of a linear network",
                                     acc, "<", LINEAR_FIT, (k, k))]
    else:
        r2 = max(f.series("train_r2")[k - 1], f.series("val_r2")[k - 1]) \
            if f.history and "train_r2" in f.history[-1] else math.nan
        rules["poor fit"] = [Check("max(train_r2, val_r2)", r2, "<", UNDERFIT_R2, (k, k))] \
            if np.isfinite(r2) else []
    if f.results.stop_reason in (None, "completed") and np.isfinite(val).all():
        w = max(1, n // 5)
        scale, unit = (chance, "chance_loss") if chance is not None else (train[0],
                                                                          "first train_loss")
        rules["cut short"] = [
            Check(f"{key} decrease per epoch at the end / {unit}", _pace(s, scale), ">=",
                  CUT_SHORT, (n - w, n)) for key, s in (("train_loss", train), ("val_loss", val))]
    return rules


def detect_underfitting(f: Facts) -> list[Finding]:
    rules = underfit_checks(f)
    if rules is None:
        return []
    fired = {}
    for name, checks in rules.items():
        ok = [c for c in checks if c.fired]
        # "poor fit" needs one of its checks; the others all of theirs
        if checks and (ok if name == "poor fit" else len(ok) == len(checks)):
            fired[name] = ok
    if not fired:
        return []
    g = metric_gap(f, f.kept_epoch)
    train = f.series("train_loss")
    third = max(len(train) // 3, 1)
    start = train[-third - 1]
    improving = (start - train[-1]) / max(abs(start), 1e-12)
    overall = (train[0] - train[-1]) / max(abs(train[0]), 1e-12)
    bottleneck = _bottleneck(f)
    evidence: dict = {"checks": [c.to_dict() for ok in fired.values() for c in ok],
                      "final_train_loss": rounded(train[-1]), "epochs": len(train),
                      "kept_epoch": f.kept_epoch,
                      "train_loss_improvement_last_third": rounded(improving, 3),
                      "train_loss_improvement_overall": rounded(overall, 3)}
    chance = _chance_loss(f)
    if chance is not None:
        evidence["chance_loss"] = rounded(chance)
    if g is not None:
        evidence[f"train_{g.metric}"], evidence[f"val_{g.metric}"] = (rounded(g.train),
                                                                       rounded(g.val))
    acc = f.series("train_accuracy")
    if len(acc) and np.isfinite(acc[-1]):
        evidence["final_train_accuracy"] = rounded(acc[-1])
    if bottleneck:
        evidence["bottleneck"] = bottleneck
    what = "; ".join(f"{c.metric} {c.value:g} (threshold {c.threshold:g})"
                     for ok in fired.values() for c in ok)
    changes, text = _underfit_remedy(f, fired, overall, improving < PLATEAU, bottleneck)
    return [Finding(
        "underfitting", "warning", evidence,
        f"The model does not fit even its training data well ({what}): it is too small, too "
        "constrained, too linear or not trained long enough to learn the task.",
        Remedy(changes, text))]


def _underfit_remedy(f: Facts, fired: dict, overall: float, plateau: bool,
                     bottleneck: str | None) -> tuple[dict, str]:
    """The most likely cause first: steps too small, no non-linearity, too few epochs, too
    little capacity."""
    usual = USUAL_LR.get(f.spec.train.optimizer.name)
    slow = usual is not None and _lr(f) < SLOW_LR * usual and "poor fit" in fired
    if (overall < STUCK and not bottleneck) or slow:  # the steps are too small
        return ({"train.optimizer.lr": rounded(max(10 * _lr(f), usual or 0.0), 3)},
                "The training loss has hardly moved, or the learning rate is far below the "
                "optimizer's usual one: raise it (tenfold, at least to the usual rate); check "
                "the inputs (and regression targets) are on a reasonable scale, and that the "
                "activations suit the depth (ReLU family).")
    if "linear" in fired:
        return (_nonlinear(f), "Every layer is linear, so the whole network is one linear "
                               "map: give the hidden layers a ReLU activation (or add a "
                               "hidden ReLU layer) so it can draw curved boundaries.")
    if "cut short" in fired and not bottleneck:
        changes: dict = {"train.epochs": LONGER * f.spec.train.epochs}
        if f.spec.train.early_stopping is None:
            changes["train.early_stopping"] = {"monitor": "val_loss", "patience": 5}
        return changes, ("Train longer: both losses were still falling fast when the epochs "
                         "ran out (early stopping keeps the best epoch if it goes too far).")
    changes = _widen(f) if plateau or bottleneck else {}
    if not plateau:
        changes["train.epochs"] = 2 * f.spec.train.epochs
    text = ("Train longer: the loss was still falling" if not plateau else
            "The loss has plateaued, so more epochs alone will not help")
    if changes.keys() - {"train.epochs"}:
        text += ("; give the model more capacity (a wider layer"
                 + (f": {bottleneck} is narrower than the {f.n_classes} classes" if bottleneck
                    else "") + ")")
    return changes, text + (". If it still cannot fit, try a higher learning rate or "
                            "ReLU-family activations.")


def _nonlinear(f: Facts) -> dict:
    """ReLU on every hidden dense/conv layer of a linear network (a hidden layer added when
    it has none)."""
    items = [(p, n) for p, n, _ in layer_items(f.spec) if n in ("dense", "conv1d", "conv2d")]
    if len(items) < 2:
        return _widen(f)
    return {f"{p}.{n}.activation": "relu" for p, n in items[:-1]}


WIDTHS = {"dense": "units", "conv1d": "filters", "conv2d": "filters", "lstm": "units",
          "gru": "units"}  # the argument that sets a layer's width


def _hidden_widths(f: Facts) -> list[tuple[str, str, int]]:
    """(spec path, type, width) of every layer with a width but the output layer."""
    items = [(p, n, a[WIDTHS[n]]) for p, n, a in layer_items(f.spec) if n in WIDTHS]
    return items[:-1] if items and items[-1][1] == "dense" else items


def _bottleneck(f: Facts) -> str | None:
    """A hidden layer narrower than the classes it must tell apart, or None."""
    for path, name, width in _hidden_widths(f):
        if f.n_classes and width < f.n_classes:
            return f"{path} ({width} {WIDTHS[name]})"
    return None


def _widen(f: Facts) -> dict:
    """Widen the narrowest hidden layer; with none (a linear model), add a hidden ReLU layer
    before the output."""
    hidden = _hidden_widths(f)
    if not hidden:
        layers = f.spec.to_dict()["model"]["layers"]
        last = max(i for i, item in enumerate(layers) if next(iter(item)) == "dense")
        new = layers[:last] + [{"dense": {"units": WIDE, "activation": "relu"}}] + layers[last:]
        return {"model.layers": new}
    path, name, width = min(hidden, key=lambda t: t[2])
    least = 32 if name.startswith("conv") else WIDE
    return {f"{path}.{name}.{WIDTHS[name]}": max(least, 4 * width)}


# ----------------------------------------------------------------------------- healthy
def curve_checks(f: Facts) -> list[Check]:
    """Every check of the curves' rules, each once (what a healthy finding reports)."""
    rules = [*(overfit_checks(f) or {}).values(), *(underfit_checks(f) or {}).values(),
             noise_checks(f) or []]
    train = f.series("train_loss")
    if len(train) and np.isfinite(train).all():
        rules.append(unstable_checks(f)[0])
    out: dict[tuple, Check] = {}
    for checks in rules:
        for c in checks:
            out.setdefault((c.metric, c.epochs), c)
    return list(out.values())


def healthy(f: Facts, checks: list[Check] | None = None) -> Finding:
    """Nothing found: what was checked, with the numbers. A generalisation gap at or above
    OVERFIT_GAP is stated, with the rules that keep it from being overfitting."""
    checks = curve_checks(f) if checks is None else checks
    g = metric_gap(f, f.kept_epoch) if f.history else None
    evidence: dict = {"epochs": len(f.history), "kept_epoch": f.kept_epoch,
                      "stop_reason": f.results.stop_reason}
    said = ["No problem found."]
    if g is not None:
        evidence |= {f"train_{g.metric}": rounded(g.train), f"val_{g.metric}": rounded(g.val),
                     "gap": rounded(g.gap)}
        if g.gap >= OVERFIT_GAP:
            rules = overfit_checks(f) or {}
            unmet = {c.metric: c for checks_ in rules.values() for c in checks_ if not c.fired}
            why = "; ".join(f"{c.metric} is {c.value:g} (it would take {c.op} {c.threshold:g})"
                            for c in unmet.values())
            said.append(f"There is a generalisation gap: at epoch {g.epoch} training {g.metric} "
                        f"is {rounded(g.train):g} and validation {rounded(g.val):g}, "
                        f"{rounded(g.gap):g} apart (at or above {OVERFIT_GAP:g}); it is not "
                        f"called overfitting because {why or 'its curves are too short'}.")
        elif g.gap > -OVERFIT_GAP:
            said.append(f"Training and validation {g.metric} agree at epoch {g.epoch}: "
                        f"{rounded(g.train):g} and {rounded(g.val):g}, a gap of "
                        f"{rounded(g.gap):g} (below {OVERFIT_GAP:g}).")
        else:
            said.append(f"Validation {g.metric} is above training {g.metric} at epoch "
                        f"{g.epoch} ({rounded(g.val):g} against {rounded(g.train):g}, a gap of "
                        f"{rounded(g.gap):g}): the training figure is logged while training, "
                        "with dropout and augmentation active and the weights still moving, so "
                        "there is no generalisation gap.")
    evidence["checks"] = [c.to_dict() for c in checks]
    if checks:
        said.append("Checked (the value, then what a finding needs): " + "; ".join(
            f"{c.metric} {c.value:g} ({c.op} {c.threshold:g})" for c in checks) + ".")
        met = [c.metric for c in checks if c.fired]
        if met:
            said.append("Of these, " + ", ".join(met) + " reached its level, but not "
                        "together with the rest of its rule.")
    return Finding("healthy", "info", evidence, " ".join(said),
                   Remedy({}, "Nothing to change; more data or a larger model may still "
                              "raise the score."))
