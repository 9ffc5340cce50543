"""Inside the network: per-layer gradient norms (vanishing, exploding), ReLU units that
never fire (dead units) and tanh/sigmoid units stuck in their flat tails (saturation, a
cause of vanishing gradients).

`metrics.jsonl` logs one mean L2 norm per parameter and epoch, keyed by the parameter's
name in the model (`3.op.weight`); the built model (deepnet.nn.build.Network) records the
spec path of the layer each name belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from deepnet.diagnose.findings import (
    Check,
    Facts,
    Finding,
    Remedy,
    after_hidden,
    layer_items,
    rounded,
)
from deepnet.nn.build import spec_path
from deepnet.nn.modules import WithActivation
from deepnet.nn.tree import layer_tree, walk

# Figures in the comments: the planted-fault benchmark's runs (bench/faults), medians over
# the epochs of each run; "healthy" are its clean bases, references and near-misses.
# Vanishing: the last two weight layers' gradient RMS per weight over the weakest earlier
# layer's. Healthy runs: 4.9 at most (6 ReLU layers on the moons); 6 sigmoid layers:
# 13-140; 20 sigmoid layers (tests): 1e5 and more.
VANISH_RATIO = 10.0
EXPLODE_RATIO = 1e4  # a first layer's gradient RMS over the last layers'
EXPLODE_GROWTH = 100.0  # the total gradient norm growing this much over training
# Exploding, in absolute terms: a layer's gradient RMS per weight (median over epochs).
# The cross-entropy's gradient per output is at most 1, so on standardised inputs weight
# gradients stay far below 1: healthy runs 0.06 at most, the rate x1000 or clipped SGD at
# 10 up to 0.7; weights x10 at initialisation in 6 ReLU layers: 9000-36000.
EXPLODE_RMS = 10.0
# A ReLU layer with at least this share of units dead on the val rows. Healthy runs: up
# to 0.47 (6 ReLU layers at rate 0.01 on the 2-feature moons; a CNN's 8 channels: 0.38);
# zero init and biases of -10: 1.0.
DEAD_FRACTION = 0.5
DEAD_BATCH = 512  # validation rows run through the network to look for dead units
SATURATING = ("sigmoid", "tanh", "softmax")
# Saturated: a tanh output beyond +-0.99 (its slope under 2% of its peak), a sigmoid's
# beyond 0.01/0.99. A layer with at least SATURATED_FRACTION of its outputs there on the
# validation rows passes almost no gradient. Healthy tanh and sigmoid nets: 0.09-0.20;
# tanh on raw breast_cancer columns (values up to 4000): 0.99.
SATURATED = 0.99
SATURATED_FRACTION = 0.5


# ----------------------------------------------------------------------------- gradients
def weight_layers(model) -> list[tuple[str, list[tuple[str, int]]]]:
    """[(spec path, [(parameter name, numel), ...])] of the layers with weight matrices or
    kernels (biases, norms and embeddings left out), in forward order; none for a model
    that was not built from the spec's layers (an ensemble's)."""
    skip = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    groups: dict[str, list[tuple[str, int]]] = {}
    for name, p in model.named_parameters():
        if p.dim() < 2 or not p.requires_grad or name.rsplit(".", 1)[0] in skip:
            continue
        path = spec_path(model, name)
        if path is not None:
            groups.setdefault(path, []).append((name, p.numel()))
    return list(groups.items())


def input_layers(model) -> list[tuple[str, list[tuple[str, int]]]]:
    """[(input name, [(parameter name, numel), ...])] of a model of several inputs
    (model.inputs): each input's parameters, its embeddings and layers together."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for name, p in model.named_parameters():
        path = spec_path(model, name) or ""
        if p.requires_grad and path.startswith("model.inputs."):
            groups.setdefault(path.split(".")[2].split("[")[0], []).append((name, p.numel()))
    return list(groups.items())


def layer_grad_rms(history: list[dict], layers, rms: bool = True) -> tuple[list[str], np.ndarray]:
    """(spec paths, array (epochs, layers)) of each layer's weight-gradient L2 norm, or with
    `rms` its RMS per weight, sqrt(sum of squared norms / number of weights), which is
    comparable across layers of different sizes."""
    names = [path for path, _ in layers]
    rows = []
    for h in history:
        norms = h.get("grad_norms") or {}
        row = []
        for _, params in layers:
            sq = [float(norms[n]) ** 2 for n, _ in params if n in norms]
            size = sum(k for n, k in params if n in norms)
            row.append(math.sqrt(sum(sq) / (size if rms else 1)) if size else math.nan)
        rows.append(row)
    return names, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


def gradient_checks(history: list[dict], layers) -> tuple[list[Check], dict]:
    """The gradient rules (exploding: size, ratio, growth; vanishing: ratio) as checks, and
    the numbers behind them; no checks without logged norms, no ratios with fewer than 3
    weight layers."""
    names, rms = layer_grad_rms(history, layers)
    n = rms.shape[0]
    if n == 0 or rms.shape[1] == 0 or not np.isfinite(rms).any():  # no norms logged
        return [], {}
    if not np.isfinite(rms).all():
        bad = [names[j] for j in range(len(names)) if not np.isfinite(rms[:, j]).all()]
        return [Check("layers with non-finite gradients", len(bad), ">=", 1, (1, n))], {
            "non_finite_layers": bad[:10]}
    level = np.median(rms, axis=0)  # per layer, over the epochs
    largest = int(np.nanargmax(level)) if np.isfinite(level).any() else 0
    evidence = {"largest_grad_rms": rounded(level[largest]), "largest_layer": names[largest],
                "weight_layers": len(names)}
    checks = [Check("largest layer gradient RMS per weight (median over epochs)",
                    float(level[largest]), ">=", EXPLODE_RMS, (1, n))]
    if rms.shape[1] < 3:
        return checks, evidence
    last = float(np.median(level[-2:]))
    first = float(level[0])
    weakest = int(np.argmin(level[:-2]))
    total = np.sqrt(np.nansum(rms**2, axis=1))
    vanish = last / max(float(level[weakest]), 1e-30) if last > 0 else 0.0
    explode = first / last if last > 0 else 0.0
    growth = float(total.max() / total[0]) if total[0] > 0 else 0.0
    evidence |= {"first_layer_grad_rms": rounded(first), "last_layers_grad_rms": rounded(last),
                 "weakest_layer": names[weakest],
                 "weakest_layer_grad_rms": rounded(level[weakest]),
                 "first_layers": [names[j] for j in range(len(names) - 2)
                                  if last >= VANISH_RATIO * max(level[j], 1e-30)],
                 "first_epoch_grad_rms": rounded(total[0]), "max_grad_rms": rounded(total.max()),
                 "at_epoch": int(np.argmax(total)) + 1}
    return [*checks,
            Check("first layer's / last layers' gradient RMS (median over epochs)", explode,
                  ">=", EXPLODE_RATIO, (1, n)),
            Check("growth of the total gradient RMS over its first epoch", growth, ">=",
                  EXPLODE_GROWTH, (1, n)),
            Check("last layers' / weakest earlier layer's gradient RMS (median over epochs)",
                  vanish, ">=", VANISH_RATIO, (1, n))], evidence


EXPLODING_EVIDENCE = {  # check -> the numbers of the evidence that go with it
    "largest layer gradient RMS per weight": ("largest_grad_rms", "largest_layer"),
    "first layer's / last layers' gradient RMS": ("first_layer_grad_rms",
                                                  "last_layers_grad_rms"),
    "growth of the total gradient RMS": ("first_epoch_grad_rms", "max_grad_rms", "at_epoch"),
    "layers with non-finite gradients": ("non_finite_layers",),
}


def diagnose_gradients(history: list[dict], layers, spec) -> list[Finding]:
    """vanishing_gradients / exploding_gradients from logged per-layer gradient norms;
    `layers` as `weight_layers` returns them."""
    checks, numbers = gradient_checks(history, layers)
    fired = [c for c in checks if c.fired]
    exploding = [c for c in fired if not c.metric.startswith("last layers'")]
    if exploding:
        keys = {k for c in exploding for prefix, ks in EXPLODING_EVIDENCE.items()
                if c.metric.startswith(prefix) for k in ks}
        return [_exploding(spec, {"checks": [c.to_dict() for c in exploding],
                                  **{k: numbers[k] for k in sorted(keys)}})]
    if fired:
        (vanish,) = fired
        return [_vanishing(spec, {"checks": [vanish.to_dict()], "ratio": vanish.value,
                                  **{k: numbers[k] for k in (
                                      "first_layers", "weakest_layer", "weakest_layer_grad_rms",
                                      "last_layers_grad_rms", "weight_layers")}})]
    return []


def _vanishing(spec, evidence: dict) -> Finding:
    changes = {f"{path}.{name}.activation": "relu" for path, name, args in layer_items(spec)
               if name in ("dense", "conv1d", "conv2d") and args.get("activation") in SATURATING}
    ratio = evidence["ratio"]
    first = evidence["first_layers"]
    where = ", ".join(first[:3]) + (" ..." if len(first) > 3 else "")
    return Finding(
        "vanishing_gradients", "critical" if ratio >= 1e4 else "warning", evidence,
        f"The first layers ({where}) get gradients down to {ratio:.3g} times smaller than "
        "the last ones, so they hardly learn: the signal fades as it flows back through many "
        "saturating layers.",
        Remedy(changes, "Use ReLU-family activations (they do not squash gradients); add "
                        "batchnorm between layers or residual connections in deep stacks, "
                        "with Kaiming initialisation (the default for relu)."))


def _exploding(spec, evidence: dict) -> Finding:
    check = evidence["checks"][0]
    changes: dict = {"train.clip_grad_norm": 1.0}
    normed = any(name in ("batchnorm", "layernorm") for _, name, _ in layer_items(spec))
    huge = check["metric"].startswith("largest layer gradient RMS")
    if huge and not normed and (layers := after_hidden(spec, lambda item: {"batchnorm": {}})):
        # gradients huge from the first epoch: the activations' scale (initialisation) is
        # the fault, which a smaller rate cannot fix and batchnorm resets at every layer
        changes["model.layers"] = layers
    else:
        changes["train.optimizer.lr"] = rounded(spec.train.optimizer.lr / 10, 3)
    return Finding(
        "exploding_gradients", "critical", evidence,
        f"Gradients grow huge (or non-finite) as they flow back through the network "
        f"({check['metric']}: {check['value']:g}, threshold {check['threshold']:g}), so the "
        "weight updates become wild and training cannot settle.",
        Remedy(changes, "Clip the gradient norm, and " + (
            "add batchnorm after the hidden layers: the activations (and so the gradients) "
            "are far off scale from the start, as after too large an initialisation."
            if "model.layers" in changes else
            "lower the learning rate; batchnorm and careful initialisation keep gradients "
            "in range in deep networks.")))


def detect_gradients(f: Facts) -> list[Finding]:
    if f.model is None or not f.history:
        return []
    return diagnose_gradients(f.history, weight_layers(f.model), f.spec)


# ----------------------------------------------------------------------------- dead units
def _forward_hooked(model, x: np.ndarray, pick, hook) -> bool:
    """Run up to DEAD_BATCH rows of `x` through `model` (eval mode, no gradients) calling
    `hook(module name, output)` for every module `pick(module)` selects; False if none."""
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: hook(name, out))
             for name, m in model.named_modules() if pick(m)]
    if not hooks:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            xt = torch.as_tensor(x[:DEAD_BATCH])
            device = next(model.parameters()).device
            model(xt.to(device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return True


def dead_fractions(model, x: np.ndarray) -> list[tuple[str, int, int]]:
    """[(spec path, dead units, units)] for each ReLU in the model (its module name where
    the model was not built from the spec's layers): a unit (a feature, or a channel of a
    convolution) is dead when it outputs 0 for every sample of `x`."""
    channel_first = {f"{n}.act" for n, m in model.named_modules()
                     if isinstance(m, WithActivation) and isinstance(m.op, torch.nn.Conv1d)}
    found: dict[str, torch.Tensor] = {}

    def hook(name, out):
        axis = 1 if out.dim() == 4 or name in channel_first else out.dim() - 1
        alive = (out > 0).movedim(axis, -1).reshape(-1, out.shape[axis]).any(0)
        found[name] = found[name] | alive if name in found else alive

    if not _forward_hooked(model, x, lambda m: type(m) is torch.nn.ReLU, hook):
        return []
    return [(spec_path(model, name) or name, int((~alive).sum()), int(alive.numel()))
            for name, alive in found.items()]


def _measured(f: Facts, measure: Callable) -> list:
    """`measure(f.model, f.val_x)`, measured once per Facts (kept in f.inside)."""
    if measure not in f.inside:
        f.inside[measure] = measure(f.model, f.val_x)
    return f.inside[measure]


def saturated_fractions(model, x: np.ndarray) -> list[tuple[str, float]]:
    """[(spec path, share of outputs saturated)] for each tanh and sigmoid of the model on
    the rows of `x`: |tanh| > SATURATED, a sigmoid's output outside 1 - SATURATED ..
    SATURATED (where the activation's slope is under 2% of its peak)."""
    found: dict[str, float] = {}

    def hook(name, out):
        module = model.get_submodule(name)
        y = out.abs() if isinstance(module, torch.nn.Tanh) else (2 * out - 1).abs()
        found[name] = float((y > SATURATED).float().mean())

    _forward_hooked(model, x, lambda m: isinstance(m, torch.nn.Tanh | torch.nn.Sigmoid), hook)
    return [(spec_path(model, name) or name, share) for name, share in found.items()]


def saturation_checks(f: Facts) -> tuple[list[Check], list[tuple[str, float]]]:
    """The saturation rule as a check (the largest saturated share of a tanh or sigmoid
    layer on the val rows) and the (layer, share) it rests on."""
    if f.model is None or f.val_x is None or len(f.val_x) == 0:
        return [], []
    layers = _measured(f, saturated_fractions)
    if not layers:
        return [], []
    n = len(f.history)
    return [Check("largest share of a tanh/sigmoid layer's outputs saturated on the val rows",
                  max(share for _, share in layers), ">=", SATURATED_FRACTION, (n, n))], layers


def detect_saturation(f: Facts) -> list[Finding]:
    """vanishing_gradients of saturated tanh/sigmoid units: their slope, and with it the
    gradient through them, is almost 0 (inputs on too large a scale, weights too big)."""
    checks, layers = saturation_checks(f)
    if not checks or not checks[0].fired:
        return []
    bad = [(p, share) for p, share in layers if share >= SATURATED_FRACTION]
    rows = int(min(len(f.val_x), DEAD_BATCH))
    evidence = {"checks": [checks[0].to_dict()], "validation_rows": rows,
                "normalize": f.spec.data.normalize,
                "layers": [{"layer": p, "saturated": rounded(share, 3)} for p, share in bad]}
    items = {n.path: n.item_path for n in walk(layer_tree(f.spec.model.layers))}
    bad_paths = {items.get(p, p) for p, _ in bad}
    changes = {f"{path}.{name}.activation": "relu" for path, name, args in layer_items(f.spec)
               if path in bad_paths and name in ("dense", "conv1d", "conv2d")
               and args.get("activation") in SATURATING}
    if f.spec.data.normalize == "none":
        changes = {"data.normalize": "standard"}
    p, share = max(bad, key=lambda t: t[1])
    return [Finding(
        "vanishing_gradients", "critical" if share >= 0.9 else "warning", evidence,
        f"{rounded(share, 3):.1%} of the outputs of {p} sit in the flat tails of its "
        f"activation on {rows} validation rows (|output| beyond {SATURATED:g}), where its "
        "slope, and the gradient through it, is almost 0: those units hardly learn."
        + (" The inputs are not normalised (data.normalize: none), so large raw values "
           "drive the units into saturation." if f.spec.data.normalize == "none" else ""),
        Remedy(changes, "Normalise the inputs (data.normalize: standard) so pre-activations "
                        "start near 0; or use ReLU-family activations, which do not "
                        "saturate for positive inputs."))]


def dead_checks(f: Facts) -> tuple[list[Check], list[tuple[str, int, int]]]:
    """The dead-unit rule as a check (the largest dead share of a ReLU layer) and the
    (layer, dead, units) it rests on; none without a model or validation rows."""
    if f.model is None or f.val_x is None or len(f.val_x) == 0:
        return [], []
    layers = [(p, d, n) for p, d, n in _measured(f, dead_fractions) if n]
    if not layers:
        return [], []
    worst = max(d / n for _, d, n in layers)
    return [Check("largest share of a ReLU layer's units dead on the val rows", worst, ">=",
                  DEAD_FRACTION, (len(f.history), len(f.history)))], layers


def detect_dead_units(f: Facts) -> list[Finding]:
    checks, layers = dead_checks(f)
    if not checks or not checks[0].fired:
        return []
    bad = [(p, d, n) for p, d, n in layers if d / n >= DEAD_FRACTION]
    total_dead = sum(d for _, d, _ in layers)
    total = sum(n for _, _, n in layers)
    evidence = {"checks": [checks[0].to_dict()],
                "layers": [{"layer": p, "dead": d, "units": n, "fraction": rounded(d / n, 3)}
                           for p, d, n in bad],
                "dead_fraction_overall": rounded(total_dead / total, 3),
                "validation_rows": int(min(len(f.val_x), DEAD_BATCH))}
    items = {n.path: n.item_path for n in walk(layer_tree(f.spec.model.layers))}
    bad_paths = {items.get(p, p) for p, _, _ in bad}  # the spec items of those layers
    changes = {}
    for path, name, args in layer_items(f.spec):
        if path not in bad_paths:
            continue
        if name in ("dense", "conv1d", "conv2d") and args.get("activation") == "relu":
            changes[f"{path}.{name}.activation"] = "leaky_relu"
        elif name == "activation" and args.get("name") == "relu":
            changes[f"{path}.activation.name"] = "leaky_relu"
    # zero weights give every unit the same 0 output and no gradient, leaky or not: the
    # initialisation is the fault (back to the activation's default)
    zeros = {f"{path}.{name}.init": None for path, name, args in layer_items(f.spec)
             if name in ("dense", "conv1d", "conv2d") and args.get("init") == "zeros"}
    changes = zeros or changes
    all_dead = any(d == n for _, d, n in bad)
    p, d, n = max(bad, key=lambda t: t[1] / t[2])
    return [Finding(
        "dead_units", "critical" if all_dead else "warning", evidence,
        f"{d} of the {n} ReLU units of {p} (and of every layer listed) output zero for "
        f"every one of {evidence['validation_rows']} validation rows, so they pass no signal "
        "and get no gradient: they are dead weight, usually after too large a learning-rate "
        "step pushed them negative.",
        Remedy(changes, ("Initialise the weights randomly (init: zeros makes every unit "
                         "the same and passes no gradient)" if zeros else
                         "Use leaky_relu (or elu/gelu) so units never switch off completely, "
                         "and lower the learning rate if it is high") + "."))]


def inside_checks(f: Facts) -> list[Check]:
    """Every gradient, dead-unit and saturation check of a run (what a healthy finding
    reports)."""
    checks = gradient_checks(f.history, weight_layers(f.model))[0] \
        if f.model is not None and f.history else []
    return checks + dead_checks(f)[0] + saturation_checks(f)[0]
