"""The robustness report's figures, as PNG bytes: accuracy-vs-eps curves and a grid of
adversarial examples (original, perturbation, adversarial, both predictions)."""

from __future__ import annotations

import numpy as np

from deepnet.core.figures import png_bytes as _png
from deepnet.core.figures import pyplot
from deepnet.runs.records import AttackRecord


def curve_png(attacks: list[AttackRecord]) -> bytes:
    """Robust accuracy against eps, one line per attack (and variant) with a curve."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    drawn = set()
    for a in attacks:
        if not a.curve:
            continue
        ax = axes[0] if a.norm == "linf" else axes[1]
        eps, acc = zip(*a.curve, strict=True)
        label = f"{a.method} ({a.variant})" + (" targeted" if a.targeted else "")
        ax.plot(eps, acc, marker="o", label=label)
        drawn.add(a.norm)
    for ax, norm in zip(axes, ("linf", "l2"), strict=True):
        ax.set_xlabel(f"eps ({norm}, raw input units)")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"accuracy vs eps, {norm}")
        if norm in drawn:
            ax.legend(fontsize=8)
    return _png(fig)


def _show(ax, v: np.ndarray, diverging: bool = False, lo: float = 0.0, hi: float = 1.0
          ) -> None:
    """One sample: an image (channels, height, width) or a row of values."""
    if v.ndim == 3 and v.shape[0] in (1, 3):
        img = v[0] if v.shape[0] == 1 else np.transpose(v, (1, 2, 0))
    else:
        img = v.reshape(1, -1)
    if diverging:
        m = float(np.abs(img).max()) or 1.0
        ax.imshow(img if img.ndim == 2 else img.mean(-1), cmap="seismic", vmin=-m, vmax=m,
                  aspect="auto" if v.ndim != 3 else None)
    elif img.ndim == 3:
        ax.imshow(np.clip((img - lo) / ((hi - lo) or 1.0), 0, 1))
    else:
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, aspect="auto" if v.ndim != 3 else None)
    ax.set_xticks([])
    ax.set_yticks([])


def grid_png(result, classes: list[str], n: int = 8) -> bytes:
    """Rows: original, perturbation, adversarial; one column per example, successful
    attacks first, with the clean and adversarial predictions."""
    plt = pyplot()
    y, clean, adv = result.y.numpy(), result.clean_pred.numpy(), result.adv_pred.numpy()
    goal = result.goal.numpy()
    broken = (adv == goal) if result.targeted else (clean == y) & (adv != y)
    order = np.concatenate([np.flatnonzero(broken), np.flatnonzero(~broken)])[:n]
    x, xa = result.x.numpy(), result.x_adv.numpy()
    lo, hi = float(min(x.min(), xa.min())), float(max(x.max(), xa.max()))
    cols = max(len(order), 1)
    fig, axes = plt.subplots(3, cols, figsize=(1.6 * cols, 5.2), squeeze=False)
    for j, i in enumerate(order):
        _show(axes[0, j], x[i], lo=lo, hi=hi)
        axes[0, j].set_title(f"y={classes[y[i]]}\npred {classes[clean[i]]}", fontsize=8)
        _show(axes[1, j], xa[i] - x[i], diverging=True)
        _show(axes[2, j], xa[i], lo=lo, hi=hi)
        axes[2, j].set_title(f"adv pred {classes[adv[i]]}", fontsize=8,
                             color="red" if broken[i] else "black")
    for r, name in enumerate(("original", "perturbation", "adversarial")):
        axes[r, 0].set_ylabel(name)
    eps = "minimal" if result.eps is None else f"{result.eps:g}"
    fig.suptitle(f"{result.method} ({result.variant}), {result.norm}, eps {eps}", fontsize=9)
    return _png(fig)
