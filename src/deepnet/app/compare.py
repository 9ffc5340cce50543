"""`deepnet compare RUN RUN ...`: how runs differ (each spec against the first, as the
`--set` words that turn the first spec into it), their test metrics side by side, and
their learning curves overlaid (`--html FILE`: one self-contained page)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnet.core import html as h
from deepnet.core.errors import DeepnetError
from deepnet.core.figures import figure_png, pyplot
from deepnet.core.io import write_text_atomic
from deepnet.core.shell import format_override
from deepnet.runs.load import load
from deepnet.spec.paths import differences, get_path

IGNORED = ("name",)  # differs between runs without changing what is trained


@dataclass
class Comparison:
    runs: list[str]
    changes: dict[str, dict[str, object]]  # run -> {spec path: its value}, against runs[0]
    test: dict[str, dict[str, float | None]]  # metric -> run -> value
    histories: dict[str, list[dict]]
    metric: str  # the first run's main metric, drawn with the loss

    def set_words(self, run: str) -> list[str]:
        return [format_override(p, v) for p, v in self.changes[run].items()]

    def to_dict(self) -> dict:
        return {"reference": self.runs[0], "runs": self.runs,
                "changes": {r: {"set": self.set_words(r), "values": self.changes[r]}
                            for r in self.runs[1:]},
                "test": self.test,
                "curves": {r: [{k: v for k, v in e.items() if k != "grad_norms"}
                               for e in hist] for r, hist in self.histories.items()}}


def compare(runs: list[str | Path]) -> Comparison:
    if len(runs) < 2:
        raise DeepnetError(f"compare needs at least 2 runs; got {len(runs)}")
    names = [str(r) for r in runs]
    if len(set(names)) != len(names):
        raise DeepnetError("compare: a run is named twice: " + ", ".join(names))
    loaded = [load(r) for r in runs]
    specs = [r.spec.to_dict() for r in loaded]
    changes = {}
    for name, spec in zip(names[1:], specs[1:], strict=True):
        paths = [p for p in differences(specs[0], spec) if p.split(".")[0] not in IGNORED]
        changes[name] = {p: _value(spec, p) for p in paths}
    metrics = list(dict.fromkeys(k for r in loaded for k in (r.results.test or {})))
    test = {m: {n: (r.results.test or {}).get(m) for n, r in zip(names, loaded, strict=True)}
            for m in metrics}
    return Comparison(names, changes, test,
                      {n: r.history for n, r in zip(names, loaded, strict=True)},
                      loaded[0].spec.train.metrics[0])


def _value(spec: dict, path: str):
    try:
        return get_path(spec, path)
    except DeepnetError:  # the key is in the first spec only
        return None


def curves_png(c: Comparison) -> str:
    """Validation loss and metric per epoch, one line per run; the training loss dashed."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, hist) in enumerate(c.histories.items()):
        colour = f"C{i % 10}"
        epochs = [e["epoch"] for e in hist]
        a.plot(epochs, [e.get("val_loss") for e in hist], color=colour, label=name)
        a.plot(epochs, [e.get("train_loss") for e in hist], color=colour, linestyle="--",
               linewidth=0.8)
        b.plot(epochs, [e.get(f"val_{c.metric}") for e in hist], color=colour, label=name)
    a.set(title="loss (val solid, train dashed)", xlabel="epoch")
    b.set(title=f"val_{c.metric}", xlabel="epoch")
    b.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def write_html(c: Comparison, path: str | Path) -> Path:
    runs = c.runs
    diff_rows = [(r, " ".join(c.set_words(r)) or "(the same spec)") for r in runs[1:]]
    metric_rows = [(m, *(c.test[m][r] if c.test[m][r] is not None else "-" for r in runs))
                   for m in c.test]
    body = "".join([
        h.section("Runs", h.table(["", "run"], [("reference", runs[0])] + [
            (f"run {i}", r) for i, r in enumerate(runs[1:], 1)])),
        h.section(f"Spec changes against {runs[0]}",
                  h.table(["run", "--set"], diff_rows)),
        h.section("Test metrics", h.table(["metric", *runs], metric_rows)),
        h.section("Learning curves", f"<img alt='learning curves' src='{curves_png(c)}'>"),
    ])
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>deepnet compare</title>"
            f"</head><body style='font-family:sans-serif'><h1>deepnet compare</h1>{body}"
            "</body></html>")
    path = Path(path)
    write_text_atomic(path, page)
    return path
