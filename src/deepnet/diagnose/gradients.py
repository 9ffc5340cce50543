"""Inside the network: per-layer gradient norms (vanishing, exploding) and ReLU units that
never fire (dead units).

`metrics.jsonl` logs one mean L2 norm per parameter and epoch, keyed by the parameter's
name in the model (`3.op.weight`); the built model (deepnet.nn.build.Network) records the
spec path of the layer each name belongs to.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deepnet.diagnose.findings import Facts, Finding, Remedy, layer_items, rounded
from deepnet.nn.build import spec_path
from deepnet.nn.modules import WithActivation
from deepnet.nn.tree import layer_tree, walk

VANISH_RATIO = 100.0  # last layers' gradient RMS over a layer's: two orders of magnitude
EXPLODE_RATIO = 1e4  # a first layer's gradient RMS over the last layers'
EXPLODE_GROWTH = 100.0  # the total gradient norm growing this much over training
DEAD_FRACTION = 0.5  # a layer with at least this share of dead ReLU units is reported
DEAD_BATCH = 512  # validation rows run through the network to look for dead units
SATURATING = ("sigmoid", "tanh", "softmax")


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


def diagnose_gradients(history: list[dict], layers, spec) -> list[Finding]:
    """vanishing_gradients / exploding_gradients from logged per-layer gradient norms;
    `layers` as `weight_layers` returns them."""
    names, rms = layer_grad_rms(history, layers)
    if rms.shape[0] == 0 or rms.shape[1] == 0:
        return []
    findings = []
    if not np.isfinite(rms).all() and np.isfinite(rms).any():
        bad = [names[j] for j in range(len(names)) if not np.isfinite(rms[:, j]).all()]
        findings.append(_exploding(spec, {"non_finite_layers": bad[:10]}))
        return findings
    if rms.shape[1] < 3:
        return findings
    level = np.median(rms, axis=0)  # per layer, over the epochs
    last = float(np.median(level[-2:]))
    first = float(level[0])
    if last > 0 and first >= 0 and last >= VANISH_RATIO * max(first, 1e-30):
        ratio = last / max(first, 1e-30)
        weak = [names[j] for j in range(len(names) - 2)
                if last >= VANISH_RATIO * max(level[j], 1e-30)]
        findings.append(_vanishing(spec, {
            "first_layers": weak, "first_layer_grad_rms": rounded(first),
            "last_layers_grad_rms": rounded(last), "ratio": rounded(ratio, 3),
            "weight_layers": len(names)}, ratio))
    elif first > 0 and last > 0 and first >= EXPLODE_RATIO * last:
        findings.append(_exploding(spec, {"first_layer_grad_rms": rounded(first),
                                          "last_layers_grad_rms": rounded(last),
                                          "ratio": rounded(first / last, 3)}))
    else:
        total = np.sqrt(np.nansum(rms**2, axis=1))
        if total[0] > 0 and total.max() >= EXPLODE_GROWTH * total[0]:
            findings.append(_exploding(spec, {
                "first_epoch_grad_rms": rounded(total[0]), "max_grad_rms": rounded(total.max()),
                "at_epoch": int(np.argmax(total)) + 1}))
    return findings


def _vanishing(spec, evidence: dict, ratio: float) -> Finding:
    changes = {f"{path}.{name}.activation": "relu" for path, name, args in layer_items(spec)
               if name in ("dense", "conv1d", "conv2d") and args.get("activation") in SATURATING}
    first = evidence["first_layers"]
    where = ", ".join(first[:3]) + (" ..." if len(first) > 3 else "")
    return Finding(
        "vanishing_gradients", "critical" if ratio >= 1e4 else "warning", evidence,
        f"The first layers ({where}) get gradients {ratio:.0e} times smaller than the last "
        "ones, so they hardly learn: the signal fades as it flows back through many "
        "saturating layers.",
        Remedy(changes, "Use ReLU-family activations (they do not squash gradients); add "
                        "batchnorm between layers or residual connections in deep stacks, "
                        "with Kaiming initialisation (the default for relu)."))


def _exploding(spec, evidence: dict) -> Finding:
    changes = {"train.clip_grad_norm": 1.0,
               "train.optimizer.lr": rounded(spec.train.optimizer.lr / 10, 3)}
    return Finding(
        "exploding_gradients", "critical", evidence,
        "Gradients grow huge (or non-finite) as they flow back through the network, so the "
        "weight updates become wild and training cannot settle.",
        Remedy(changes, "Clip the gradient norm and lower the learning rate; batchnorm and "
                        "careful initialisation keep gradients in range in deep networks."))


def detect_gradients(f: Facts) -> list[Finding]:
    if f.model is None or not f.history:
        return []
    return diagnose_gradients(f.history, weight_layers(f.model), f.spec)


# ----------------------------------------------------------------------------- dead units
def dead_fractions(model, x: np.ndarray) -> list[tuple[str, int, int]]:
    """[(spec path, dead units, units)] for each ReLU in the model (its module name where
    the model was not built from the spec's layers): a unit (a feature, or a channel of a
    convolution) is dead when it outputs 0 for every sample of `x`."""
    channel_first = {f"{n}.act" for n, m in model.named_modules()
                     if isinstance(m, WithActivation) and isinstance(m.op, torch.nn.Conv1d)}
    found: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in model.named_modules():
        if type(m) is torch.nn.ReLU:
            def hook(mod, inp, out, name=name):
                axis = 1 if out.dim() == 4 or name in channel_first else out.dim() - 1
                alive = (out > 0).movedim(axis, -1).reshape(-1, out.shape[axis]).any(0)
                found[name] = found[name] | alive if name in found else alive
            hooks.append(m.register_forward_hook(hook))
    if not hooks:
        return []
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
    out = []
    for name, alive in found.items():
        out.append((spec_path(model, name) or name, int((~alive).sum()), int(alive.numel())))
    return out


def detect_dead_units(f: Facts) -> list[Finding]:
    if f.model is None or f.val_x is None or len(f.val_x) == 0:
        return []
    layers = dead_fractions(f.model, f.val_x)
    bad = [(p, d, n) for p, d, n in layers if n and d / n >= DEAD_FRACTION]
    if not bad:
        return []
    total_dead = sum(d for _, d, _ in layers)
    total = sum(n for _, _, n in layers)
    evidence = {"layers": [{"layer": p, "dead": d, "units": n, "fraction": rounded(d / n, 3)}
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
    all_dead = any(d == n for _, d, n in bad)
    return [Finding(
        "dead_units", "critical" if all_dead else "warning", evidence,
        "Many ReLU units output zero for every validation example, so they pass no signal "
        "and get no gradient: they are dead weight, usually after too large a learning-rate "
        "step pushed them negative.",
        Remedy(changes, "Use leaky_relu (or elu/gelu) so units never switch off completely, "
                        "and lower the learning rate if it is high."))]

