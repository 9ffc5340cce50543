"""How a classifier's scores become decisions, and how good the decisions are per class:
per-class precision, recall and F1, the decision threshold of a binary classifier chosen
on the validation split (`train.threshold`: the one of highest F1, or of highest recall
at a precision), and the points of its ROC and precision-recall curves."""

from __future__ import annotations

import math

import numpy as np
import torch

from deepnet.train.metrics import positive_score, predicted_classes


def decide(out: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """Class indices of outputs: the most probable class, or for a binary classifier
    with a chosen `threshold`, class 1 when its probability is at least that."""
    if threshold is None:
        return predicted_classes(out)
    return (positive_score(out) >= threshold).long()


def decide_probabilities(p: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """decide() for class probabilities (N, classes) as numpy arrays."""
    if threshold is None:
        return p.argmax(axis=1)
    return (p[:, 1] >= threshold).astype(np.int64)


def per_class(pred: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, dict]:
    """{class: {precision, recall, f1, support}} of predictions `pred` for targets `y`
    (0 where a ratio has nothing to divide, as scikit-learn's zero_division=0)."""
    out = {}
    for c, name in enumerate(names):
        tp = int(((pred == c) & (y == c)).sum())
        predicted, support = int((pred == c).sum()), int((y == c).sum())
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        out[name] = {"precision": p, "recall": r,
                     "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": support}
    return out


def _cuts(score: np.ndarray, positive: np.ndarray):
    """(thresholds from the highest score down, true positives and predicted positives
    at each: a row is positive when its score is at least the threshold)."""
    order = np.argsort(-score, kind="mergesort")
    s, hit = score[order], positive[order]
    last = np.r_[s[1:] != s[:-1], True]
    return s[last], np.cumsum(hit)[last], (np.flatnonzero(last) + 1)


def choose_threshold(score: np.ndarray, positive: np.ndarray, choose: str,
                     precision: float = 0.9) -> tuple[float, str]:
    """(threshold, how it was chosen) on scores of the positive class: `max_f1`, or
    `recall_at_precision` (the highest recall whose precision is at least `precision`;
    when none reaches it, the threshold of the highest precision, said so)."""
    thresholds, tp, predicted = _cuts(score, positive.astype(bool))
    n_pos = max(int(positive.sum()), 1)
    p, r = tp / predicted, tp / n_pos
    if choose == "max_f1":
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        i = int(np.argmax(f1))
        return float(thresholds[i]), f"highest F1 on the validation split ({f1[i]:.4f})"
    ok = np.flatnonzero(p >= precision)
    if len(ok):
        i = int(ok[np.argmax(r[ok])])
        return float(thresholds[i]), (f"highest recall ({r[i]:.4f}) at precision >= "
                                      f"{precision:g} on the validation split")
    i = int(np.argmax(p))
    return float(thresholds[i]), (f"no threshold reaches precision {precision:g} on the "
                                  f"validation split; the most precise one ({p[i]:.4f})")


def at_threshold(score: np.ndarray, positive: np.ndarray, threshold: float) -> dict:
    """Precision, recall and F1 of the positive class at `threshold`."""
    pred = score >= threshold
    tp = int((pred & positive).sum())
    p = tp / int(pred.sum()) if pred.any() else 0.0
    r = tp / int(positive.sum()) if positive.any() else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def curves(score: np.ndarray, positive: np.ndarray) -> dict[str, list]:
    """The ROC curve (false and true positive rates) and the precision-recall curve of
    scores of the positive class, one point per distinct threshold."""
    thresholds, tp, predicted = _cuts(score, positive.astype(bool))
    n_pos, n_neg = int(positive.sum()), int((~positive.astype(bool)).sum())
    fp = predicted - tp
    return {"fpr": [0.0, *(fp / max(n_neg, 1)).tolist()],
            "tpr": [0.0, *(tp / max(n_pos, 1)).tolist()],
            "recall": (tp / max(n_pos, 1)).tolist(), "precision": (tp / predicted).tolist(),
            "thresholds": thresholds.tolist()}


def finite(d: dict) -> dict:
    """`d` with its float values rounded to 6 places (NaN as None) for results.json."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else
                round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


# ----------------------------------------------------------------------------- calibration
def class_logits(out: torch.Tensor) -> torch.Tensor:
    """(N, classes) float logits; one output unit (a binary classifier) becomes [0, z]."""
    out = out.float()
    return torch.cat([torch.zeros_like(out), out], dim=1) if out.shape[-1] == 1 else out


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature T that minimises the cross-entropy of logits / T on (validation)
    targets `y` (Guo et al. 2017): one parameter, fitted by L-BFGS on log T."""
    z = class_logits(logits.detach())
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def nll():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(nll)
    return float(log_t.detach().exp().clamp(1e-2, 1e2))


def fold_temperature(model: torch.nn.Module, temperature: float, x: torch.Tensor) -> None:
    """Divide the network's outputs by `temperature` by scaling its last dense layer
    (checked on inputs `x`): predict, export and serve then give calibrated
    probabilities with nothing added. ValueError when the outputs are not that layer's."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not last:
        raise ValueError("the network has no dense layer to scale")
    with torch.no_grad():
        before = model(x).float()
        last[-1].weight.div_(temperature)
        if last[-1].bias is not None:
            last[-1].bias.div_(temperature)
        after = model(x).float()
        if not torch.allclose(after, before / temperature, rtol=1e-4, atol=1e-5):
            last[-1].weight.mul_(temperature)
            if last[-1].bias is not None:
                last[-1].bias.mul_(temperature)
            raise ValueError("the network's outputs are not those of its last dense layer "
                             "(an activation or layer after it): make the last layer "
                             "`dense` with a linear activation")
