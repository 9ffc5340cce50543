"""The report's figures, each a matplotlib figure turned into a PNG data: URI."""

from __future__ import annotations

import numpy as np

from deepnet.core.figures import figure_png, pyplot


def curves(history: list[dict], metric: str, best_epoch: int | None,
           stop_reason: str | None = None) -> str:
    """Loss and the main metric per epoch, train vs val; the kept epoch marked."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = [h["epoch"] for h in history]
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for part in ("train", "val"):
            values = [h.get(f"{part}_{key}") for h in history]
            ax.plot(epochs, [np.nan if v is None else v for v in values], label=part)
        if best_epoch:
            label = ("early stopping: kept epoch" if stop_reason == "early_stopping"
                     else "kept weights")
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"{label} {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    return figure_png(fig)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> str:
    """Counts of (true class, predicted class), darker for a larger share of the row."""
    plt = pyplot()
    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(2 + 0.45 * k, 12)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    ticks = range(k) if k <= 30 else range(0, k, max(k // 15, 1))
    ax.set_xticks(list(ticks), [classes[i] for i in ticks], rotation=90 if k > 10 else 0)
    ax.set_yticks(list(ticks), [classes[i] for i in ticks])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    return figure_png(fig)


def residuals(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """Residual (true - predicted) against the prediction, and their histogram."""
    plt = pyplot()
    r = y_true - y_pred
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].scatter(y_pred, r, s=8, alpha=0.6)
    axes[0].axhline(0, color="grey", linestyle="--")
    axes[0].set_xlabel("predicted")
    axes[0].set_ylabel("residual (true - predicted)")
    axes[1].hist(r, bins=30)
    axes[1].set_xlabel("residual")
    axes[1].set_ylabel("samples")
    return figure_png(fig)


def gradient_norms(names: list[str], norms: np.ndarray) -> str:
    """One line per weight layer (epochs x layers), log scale, first layers dark."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    epochs = np.arange(1, norms.shape[0] + 1)
    cmap = plt.get_cmap("viridis")
    n = len(names)
    for j, name in enumerate(names):
        values = np.where(norms[:, j] > 0, norms[:, j], np.nan)
        ax.plot(epochs, values, color=cmap(j / max(n - 1, 1)), marker="." if len(epochs) < 3
                else None, label=name.removeprefix("model.") if n <= 12 or j in (0, n - 1)
                else None)
    if np.isfinite(np.where(norms > 0, norms, np.nan)).any():
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (mean over steps)")
    ax.set_title("weight-gradient L2 norm per layer (dark: first layers, light: last)")
    ax.legend(fontsize=7, ncol=2 if n > 6 else 1, loc="best")
    return figure_png(fig)


def roc_pr(score: np.ndarray, positive: np.ndarray, threshold: float | None,
           name: str) -> str:
    """The ROC curve and the precision-recall curve of scores of the positive class, the
    decision threshold (0.5 when none was chosen) marked on both."""
    from deepnet.train.decision import at_threshold
    from deepnet.train.decision import curves as rate_curves

    plt = pyplot()
    c = rate_curves(score, positive)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(c["fpr"], c["tpr"])
    axes[0].plot([0, 1], [0, 1], color="grey", linestyle=":")
    axes[0].set_xlabel("false positive rate")
    axes[0].set_ylabel("true positive rate (recall)")
    axes[1].step(c["recall"], c["precision"], where="post")
    axes[1].axhline(positive.mean(), color="grey", linestyle=":", label="chance")
    axes[1].set_xlabel("recall")
    axes[1].set_ylabel("precision")
    t = 0.5 if threshold is None else threshold
    at = at_threshold(score, positive, t)
    negatives = max(int((~positive).sum()), 1)
    fpr = int(((score >= t) & ~positive).sum()) / negatives
    label = f"threshold {t:.3g}" + ("" if threshold is not None else " (default)")
    axes[0].scatter([fpr], [at["recall"]], color="red", zorder=3, label=label)
    axes[1].scatter([at["recall"]], [at["precision"]], color="red", zorder=3, label=label)
    for ax, title in zip(axes, ("ROC", f"precision-recall of {name!r}"), strict=True):
        ax.set_title(title)
        ax.legend(loc="best")
    return figure_png(fig)


def reliability(points: list[tuple[float, float, int]]) -> str:
    """Accuracy against confidence per bin (a calibrated model lies on the diagonal),
    with the rows per bin."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    conf, acc, rows = (np.asarray(v) for v in zip(*points, strict=True))
    axes[0].plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    axes[0].plot(conf, acc, marker="o", label="model")
    axes[0].set_xlabel("confidence (probability of the predicted class)")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="best")
    axes[1].bar(conf, rows, width=0.05)
    axes[1].set_xlabel("confidence")
    axes[1].set_ylabel("rows")
    return figure_png(fig)


def forecast(origins: np.ndarray, truth: np.ndarray, predicted: np.ndarray, name: str) -> str:
    """Each window's forecast (a line per window) over the true values, by step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    steps = origins[:, None] + np.arange(truth.shape[1])[None, :]
    ax.plot(steps.ravel(), truth.ravel(), color="black", linewidth=1, label="true")
    for i, row in enumerate(steps):
        ax.plot(row, predicted[i], color="tab:orange", linewidth=1.2,
                label="forecast" if i == 0 else None)
    ax.set_xlabel("step of the series")
    ax.set_ylabel(name)
    ax.legend(loc="best")
    return figure_png(fig)


def spectrograms(mels: np.ndarray, titles: list[str]) -> str:
    """Log-mel spectrograms (clips, mels, frames), four to a row, each with its title."""
    plt = pyplot()
    cols = min(4, len(mels))
    rows = -(-len(mels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(mels):]:
        ax.axis("off")
    for ax, m, title in zip(axes.ravel(), mels, titles, strict=False):
        ax.imshow(m, origin="lower", aspect="auto", cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("frame", fontsize=8)
        ax.set_ylabel("mel", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return figure_png(fig)


def image_grid(images: np.ndarray, titles: list[str], cols: int = 6) -> str:
    """Images (N, C, H, W) in a grid, each scaled to its own range (normalised inputs
    show as they vary), one or three channels, each with its title."""
    plt = pyplot()
    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles, strict=False):
        img = np.asarray(img, dtype=np.float64)
        low, high = img.min(), img.max()
        img = (img - low) / (high - low) if high > low else np.zeros_like(img)
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(np.moveaxis(img[:3], 0, -1))
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return figure_png(fig)
