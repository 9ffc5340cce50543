"""report.html: one self-contained page (images inlined as PNG data, no network)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import jinja2

from deepnet.files import write_text_atomic

TEMPLATE = Path(__file__).with_name("template.html")


def figure_png(fig) -> str:
    """A matplotlib figure as a data: URI."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def curves(history: list[dict], metric: str, best_epoch: int | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = [h["epoch"] for h in history]
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for part in ("train", "val"):
            ax.plot(epochs, [h.get(f"{part}_{key}") for h in history], label=part)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", label="kept weights")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    return figure_png(fig)


def sections(run) -> list[dict]:
    """The report's sections, in order: each {title, html or image or table}."""
    out = []
    results = run.results
    if results.get("test"):
        out.append({"title": "Test metrics", "table": [
            (k, f"{v:.4f}") for k, v in results["test"].items()]})
    if run.history:
        metric = run.spec.train.metrics[0]
        out.append({"title": "Learning curves",
                    "image": curves(run.history, metric, results.get("best_epoch"))})
    out.append({"title": "Run", "table": [
        ("epochs", results.get("epochs")), ("stop reason", results.get("stop_reason")),
        ("message", results.get("stop_message") or "-"),
        ("seconds", results.get("seconds")), ("device", results.get("device"))]})
    return out


def write_report(run, extra: list[dict] | None = None) -> Path:
    """Write `run.path/report.html` atomically and return its path."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.from_string(TEMPLATE.read_text()).render(
        name=run.spec.name, path=str(run.path), sections=sections(run) + (extra or []),
        spec=run.spec.to_yaml())
    target = Path(run.path) / "report.html"
    write_text_atomic(target, page)
    return target
