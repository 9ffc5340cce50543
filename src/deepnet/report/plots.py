"""The report's figures, each a data: URI: SVG written directly for the ones every report
has (core/svg.py), PNG from Pillow for image grids and from matplotlib for the rest."""

from __future__ import annotations

import numpy as np

from deepnet.core import svg
from deepnet.core.figures import data_uri, figure_png, image_png, pyplot


def curves(history: list[dict], metric: str, best_epoch: int | None,
           stop_reason: str | None = None) -> str:
    """Loss and the main metric per epoch, train vs val; the kept epoch marked (SVG)."""
    epochs = [h["epoch"] for h in history]
    label = ("early stopping: kept epoch" if stop_reason == "early_stopping"
             else "kept weights")
    marks = [(best_epoch, f"{label} {best_epoch}")] if best_epoch else []
    return svg.uri(svg.side_by_side(*(
        svg.line_chart(epochs, [(part, [h.get(f"{part}_{key}") for h in history], colour, "")
                                for part, colour in (("train", svg.BLUE), ("val", svg.ORANGE))
                                if any(f"{part}_{key}" in h for h in history)],
                       title=key, xlabel="epoch", marks=marks)
        for key in ("loss", metric))))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> str:
    """Counts of (true class, predicted class), darker for a larger share of the row
    (SVG)."""
    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return svg.uri(svg.heat_map(counts, classes, xlabel="predicted class (darker: a larger "
                                "share of the true class)", ylabel="true class"))


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
    """One line per weight layer (epochs x layers), log scale, first layers dark (SVG)."""
    epochs = list(range(1, norms.shape[0] + 1))
    n = len(names)
    lines = [(name.removeprefix("model.") if n <= 12 or j in (0, n - 1) else None,
              [float(v) if v > 0 else None for v in norms[:, j]], svg.viridis(j / max(n - 1, 1)),
              "") for j, name in enumerate(names)]
    return svg.uri(svg.line_chart(
        epochs, lines, title="weight-gradient L2 norm per layer (dark: first layers, light: "
        "last)", xlabel="epoch", ylabel="gradient norm (mean over steps)",
        log=bool((norms > 0).any()), width=900, height=340, legend_size=9))


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
    show as they vary), one or three channels, each under its title. Drawn with Pillow,
    not matplotlib: a grid of 12 images took matplotlib half a second of every report."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    side, band, pad = 112, 18, 10
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = max([side] + [int(measure.textlength(t, font=font)) for t in titles]) + pad
    canvas = Image.new("RGB", (cols * width + pad, rows * (band + side + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (img, title) in enumerate(zip(images, titles, strict=False)):
        x0, y0 = pad + (i % cols) * width, pad + (i // cols) * (band + side + pad)
        tile = _tile(np.asarray(img, dtype=np.float64), side)
        draw.text((x0 + (width - pad - draw.textlength(title, font=font)) / 2, y0), title,
                  fill="black", font=font)
        canvas.paste(tile, (x0 + (width - pad - tile.width) // 2,
                            y0 + band + (side - tile.height) // 2))
    return data_uri(image_png(canvas))


def _tile(img: np.ndarray, side: int):
    """One (C, H, W) image as a Pillow image whose longer side is `side` pixels (nearest
    neighbour up to 64 pixels, so small images stay sharp)."""
    from PIL import Image

    low, high = img.min(), img.max()
    img = (img - low) / (high - low) if high > low else np.zeros_like(img)
    pixels = np.round((img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)) * 255)
    tile = Image.fromarray(pixels.astype(np.uint8)).convert("RGB")
    scale = side / max(tile.size)
    size = (max(1, round(tile.width * scale)), max(1, round(tile.height * scale)))
    return tile.resize(size, Image.NEAREST if max(tile.size) <= 64 else Image.BILINEAR)
