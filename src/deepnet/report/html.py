"""report.html: one self-contained page (images inlined as PNG data, no network).

Sections: test metrics, the diagnosis (findings and remedies), learning curves, confusion
matrix or residuals, per-layer gradient norms, the data audit (when `RUN/audit.json`
exists: `deepnet audit SPEC --run RUN`), the model summary, the run and its spec.

Each section is drawn on its own: one that fails becomes a short note in the page and a
ReportWarning, so the run and the other sections are never lost. The test suite turns
ReportWarning into an error (pyproject.toml), so a broken section fails the tests.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import jinja2
import numpy as np
import torch
import yaml

from deepnet.core.errors import DeepnetError
from deepnet.core.io import write_text_atomic
from deepnet.diagnose.audit import feature_names
from deepnet.diagnose.gradients import input_layers, layer_grad_rms, weight_layers
from deepnet.nn.spectral import LogMel
from deepnet.report.plots import curves
from deepnet.report.robustness import report_sections
from deepnet.spec.models import DUMPER

TEMPLATE = Path(__file__).with_name("template.html")
PREDICTION_ROWS = 20_000  # at most this many test rows in the confusion matrix/residuals
SPECTROGRAMS = 8  # clips of a sound classifier drawn
CONFUSED_PAIRS = 10  # pairs of classes in a text classifier's most confused
WRONG = 12  # the most confidently wrong test examples shown
FEATURES_SHOWN = 12  # a table row's first features shown with them
AUGMENTED = 8  # image training samples drawn before and after augmentation
NOT_LISTED = ("audio", "series", "interactions")  # sound: its spectrograms show the wrong


class ReportWarning(UserWarning):
    """A section of report.html could not be drawn."""


class _Sources:
    """What several sections need, computed once: the prepared data, the findings, and
    the run's audit and robustness records. The records are read here, before any section
    is drawn: a damaged file is a CheckpointError naming it, not a note in the page."""

    def __init__(self, run, prepared=None):
        self.run = run
        self._prepared = prepared  # the training's own, when the report follows it
        self._findings = None
        self.audit = run.files.read_audit()
        self.robustness = run.files.read_robustness()

    @property
    def prepared(self):
        if self._prepared is None:
            from deepnet.data.prepare import prepare

            self._prepared = prepare(self.run.spec)
            self._prepared.preprocess = self.run.preprocess
        return self._prepared

    @functools.cached_property
    def outputs(self):
        """(split name, the model's outputs, the targets) of the test split (the
        validation split when there is none; at most PREDICTION_ROWS), or None."""
        prepared = self.prepared
        part = "test" if len(prepared.splits["test"]) else "val"
        idx = prepared.splits[part][:PREDICTION_ROWS]
        if not len(idx):
            return None
        out = self.run.predict_outputs(prepared.dataset.x[idx])
        return part, out, prepared.targets(prepared.dataset.y[idx])

    @functools.cached_property
    def decided(self):
        """(split name, outputs, targets, the classes decided) of a classifier's outputs
        (the run's threshold applied)."""
        from deepnet.train.decision import decide

        part, out, y = self.outputs
        return part, out, np.asarray(y), decide(out, self.run.meta.threshold).numpy()

    @property
    def drawn_findings(self):
        """The findings, if the diagnosis section computed them (else None)."""
        return self._findings

    @property
    def findings(self):
        if self._findings is None:
            from deepnet.diagnose import diagnose_facts, facts

            self._findings = diagnose_facts(facts(self.run, self.prepared))
        return self._findings


# ----------------------------------------------------------------------------- sections
def _test_metrics(src: _Sources) -> dict | None:
    test = src.run.results.test
    if not test:
        return None
    return {"title": "Test metrics", "table": [(k, f"{v:.4f}") for k, v in test.items()]}


def _diagnosis(src: _Sources) -> dict:
    from deepnet.diagnose import NOT_DIAGNOSED, has_validation

    if not has_validation(src.run.history):
        return {"title": "Diagnosis", "text": f"Not diagnosed: {NOT_DIAGNOSED}."}
    return {"title": "Diagnosis", "findings": [_finding_view(f) for f in src.findings]}


def _finding_view(f) -> dict:
    changes = yaml.dump(f.remedy.changes, Dumper=DUMPER, sort_keys=False,
                        default_flow_style=None, width=100).strip() if f.remedy.changes else ""
    evidence = [(k, v if isinstance(v, str | int | float) or v is None else
                 yaml.dump(v, Dumper=DUMPER, default_flow_style=True, width=1000).strip())
                for k, v in f.to_dict()["evidence"].items()]
    return {"kind": f.kind, "severity": f.severity, "explanation": f.explanation,
            "evidence": evidence, "changes": changes, "remedy": f.remedy.text}


def _curves(src: _Sources) -> dict | None:
    run = src.run
    if not run.history:
        return None
    r = run.results
    return {"title": "Learning curves", "image": curves(
        run.history, run.spec.train.metrics[0], r.best_epoch, r.stop_reason)}


def _predictions(src: _Sources) -> dict | None:
    from deepnet.report import plots

    run = src.run
    if src.outputs is None:
        return None
    part, out, y = src.outputs
    if run.encoding.kind == "series":
        return _forecast(src, part, out, y)
    if run.task == "classification":
        from deepnet.train.decision import decide

        pred = decide(out, run.meta.threshold).numpy()
        return {"title": f"Confusion matrix ({part} split, {len(y)} samples)",
                "image": plots.confusion(np.asarray(y), pred, run.classes)}
    pred = out.reshape(len(out), -1)[:, 0].numpy()
    return {"title": f"Residuals ({part} split, {len(y)} samples)",
            "image": plots.residuals(np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0],
                                     pred)}


def _forecast(src: _Sources, part: str, out, y) -> dict:
    """A series' forecasts against the truth over a split's period: the windows that
    start every `horizon` steps, so each step is forecast once."""
    from deepnet.report import plots

    enc, ds = src.run.encoding, src.prepared.dataset
    idx = src.prepared.splits[part][:len(y)]
    every = np.arange(0, len(idx), enc.horizon)
    levels, origins = ds.levels[idx][every], ds.origins[idx][every]
    forecast = enc.decode(out.numpy()[every], levels)
    truth = enc.decode(np.asarray(y)[every], levels)
    return {"title": f"Forecast against the truth ({part} period, {len(every)} windows of "
                     f"{enc.horizon} steps)",
            "image": plots.forecast(origins, truth, forecast, enc.target)}


def _per_class(src: _Sources) -> dict | None:
    """Precision, recall and F1 of each class on the test split, and the threshold."""
    r = src.run.results
    if not r.per_class:
        return None
    rows = [("class", "precision", "recall", "F1", "support")] + [
        (name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}",
         int(m["support"])) for name, m in r.per_class.items()]
    section = {"title": "Per class (test split)", "table": rows, "header": True}
    if r.threshold is not None:
        t = r.threshold
        section["text"] = (f"Decision threshold {t['value']:.4g} on the probability of "
                           f"{src.run.classes[1]!r}: {t['chosen']}.")
    return section


def _wrong(src: _Sources) -> dict | None:
    """The test examples the classifier got wrong with the highest probability on its
    wrong class: images drawn, texts and table rows shown with their values."""
    run = src.run
    if run.task != "classification" or src.outputs is None or run.encoding.kind in NOT_LISTED:
        return None
    from deepnet.train.metrics import probabilities

    part, out, y, pred = src.decided
    wrong = np.flatnonzero(pred != y)
    if not len(wrong):
        return None
    probs = probabilities(out).numpy()
    sure = probs[wrong, pred[wrong]]
    order = wrong[np.argsort(-sure, kind="stable")][:WRONG]
    confidence = probs[order, pred[order]]
    rows = src.prepared.splits[part][order]
    x = src.prepared.dataset.x
    title = (f"Most confidently wrong ({part} split, {len(wrong)} of {len(y)} misclassified; "
             f"the {len(order)} surest)")
    said = [f"{run.classes[y[i]]} -> {run.classes[pred[i]]} ({c:.2f})"
            for i, c in zip(order, confidence, strict=True)]
    if len(run.input_shape) == 3:  # images
        from deepnet.report import plots

        return {"title": title, "image": plots.image_grid(np.asarray(x[rows]), said)}
    if run.encoding.kind == "text":
        table = [("true -> predicted (probability)", "text")] + [
            (s, _text(src, r)) for s, r in zip(said, rows, strict=True)]
        return {"title": title, "table": table, "header": True}
    names = feature_names(run.input_shape, run.encoding)[:FEATURES_SHOWN]
    values = np.asarray(x[rows]).reshape(len(rows), -1)[:, :len(names)]
    table = [("true -> predicted (probability)", "row", *names)] + [
        (s, int(src.prepared.dataset.source_rows()[r]), *(f"{v:.4g}" for v in vals))
        for s, r, vals in zip(said, rows, values, strict=True)]
    return {"title": title, "table": table, "header": True}


def _text(src: _Sources, row: int) -> str:
    """A text row as the model read it: its words, lowercased, cut to max_len."""
    vocab = src.run.encoding.vocab
    words = " ".join(vocab[i] for i in src.prepared.dataset.x[row] if i != 0)
    return words[:200] + ("..." if len(words) > 200 else "")


def _augmented(src: _Sources) -> dict | None:
    """Image training samples after the spec's augmentation, as the network gets them
    (normalised, each drawn in its own range), beside the same samples unchanged."""
    run = src.run
    augment = run.spec.data.augment
    if not augment or len(run.input_shape) != 3:
        return None
    from deepnet.data.augment import make_augment
    from deepnet.report import plots

    prepared = src.prepared
    rows = prepared.splits["train"][:AUGMENTED]
    x = torch.as_tensor(np.asarray(run.preprocess(np.asarray(prepared.dataset.x[rows]))))
    step = make_augment(augment, tuple(run.input_shape), run.preprocess,
                        encoding=run.encoding)
    seen = step(x, torch.Generator().manual_seed(run.spec.seed)).numpy()
    images = np.concatenate([x.numpy(), seen])
    titles = [f"row {r}" for r in rows] + ["augmented"] * len(rows)
    return {"title": f"Augmented training samples (top: as stored; below: after "
                     f"{', '.join(a.kind for a in augment)})",
            "image": plots.image_grid(images, titles, cols=len(rows))}


def _confused(src: _Sources) -> dict | None:
    """A text classifier's most confused pairs of classes, each with an example text as
    the model read it (its words, lowercased, cut to max_len)."""
    run = src.run
    if run.encoding.kind != "text" or src.outputs is None:
        return None
    part, _, y, pred = src.decided
    wrong = np.flatnonzero(pred != y)
    if not len(wrong):
        return None
    pairs, counts = np.unique(np.c_[y[wrong], pred[wrong]], axis=0, return_counts=True)
    idx = src.prepared.splits[part]
    rows = [("true class", "predicted as", "texts", "example")]
    for k in np.argsort(-counts, kind="stable")[:CONFUSED_PAIRS]:
        t, p = pairs[k]
        first = wrong[(y[wrong] == t) & (pred[wrong] == p)][0]
        rows.append((run.classes[t], run.classes[p], int(counts[k]), _text(src, idx[first])))
    return {"title": f"Most confused classes ({part} split, {len(wrong)} of {len(y)} texts "
                     "misclassified)", "table": rows, "header": True}


def _spectrograms(src: _Sources) -> dict | None:
    """A sound classifier's first test clips (the misclassified first) as the network's
    logmel layer sees them, each titled with its true and predicted class."""
    run = src.run
    if run.encoding.kind != "audio" or src.outputs is None:
        return None
    first = next((m for m in run.model.modules() if isinstance(m, LogMel)), None)
    if first is None:
        return None
    from deepnet.report import plots

    part, _, y, pred = src.decided
    order = np.r_[np.flatnonzero(pred != y), np.flatnonzero(pred == y)][:SPECTROGRAMS]
    rows = src.prepared.splits[part][order]
    with torch.no_grad():
        x = torch.as_tensor(src.prepared.dataset.x[rows]).to(first.filters.device)
        mels = first(x)[:, 0].cpu().numpy()
    titles = [f"{run.classes[y[i]]} -> {run.classes[pred[i]]}" for i in order]
    return {"title": f"Spectrograms ({part} split, true -> predicted; "
                     f"{int((pred != y).sum())} of {len(y)} misclassified, shown first)",
            "image": plots.spectrograms(mels, titles)}


def _rates(src: _Sources) -> dict | None:
    """A binary classifier's ROC and precision-recall curves, the threshold marked."""
    run = src.run
    if run.task != "classification" or len(run.classes) != 2 or src.outputs is None:
        return None
    from deepnet.report import plots
    from deepnet.train.metrics import positive_score

    part, out, y = src.outputs
    positive = np.asarray(y) == 1
    if positive.all() or not positive.any():
        return None
    return {"title": f"ROC and precision-recall curves ({part} split)",
            "image": plots.roc_pr(positive_score(out).numpy(), positive, run.meta.threshold,
                                  run.classes[1])}


def _reliability(src: _Sources) -> dict | None:
    """The reliability diagram, where the run measures or calibrates its probabilities."""
    run = src.run
    wanted = "ece" in (run.spec.train.metrics or []) or run.spec.train.calibrate is not None
    if run.task != "classification" or not wanted or src.outputs is None:
        return None
    from deepnet.report import plots
    from deepnet.train.metrics import expected_calibration_error, reliability

    part, out, y = src.outputs
    y = torch.as_tensor(y)
    ece = expected_calibration_error(out, y)
    return {"title": f"Reliability diagram ({part} split, expected calibration error "
                     f"{ece:.4f})", "image": plots.reliability(reliability(out, y))}


def _gradients(src: _Sources) -> dict | None:
    from deepnet.report import plots

    run = src.run
    if not run.history or not any(h.get("grad_norms") for h in run.history):
        return None
    names, norms = layer_grad_rms(run.history, weight_layers(run.model), rms=False)
    if not names:
        return None
    section = {"title": "Gradient norms per layer",
               "image": plots.gradient_norms(names, norms)}
    inputs = input_layers(run.model)
    if inputs:  # which input the network learns from
        names, rms = layer_grad_rms(run.history, inputs)
        section["table"] = [("input", "gradient RMS per parameter, first epoch",
                             "median over epochs", "last epoch")] + [
            (n, f"{rms[0, j]:.3g}", f"{np.median(rms[:, j]):.3g}", f"{rms[-1, j]:.3g}")
            for j, n in enumerate(names)]
        section["header"] = True
    return section


def _audit(src: _Sources) -> dict | None:
    report = src.audit
    if report is None:
        return None
    top = [("label issues (first 10)", ", ".join(
        f"row {r.row}: {r.label} -> {r.suggested}" for r in report.label_issues[:10])
        or "-"),
        ("leakage (first 10)", ", ".join(
            f"{r.split} row {r.row} = train row {r.train_row}"
            for r in report.leakage[:10]) or "-")]
    return {"title": "Data audit", "table": report.summary() + top,
            "text": "From `deepnet audit SPEC --run RUN`; rows are 0-based indices in the "
                    "source."}


def _summary(src: _Sources) -> dict:
    from deepnet.summary import human, summary

    run = src.run
    s = summary(run.spec, input_shape=run.input_shape, encoding=run.meta.encoding)
    rows = [("layer", "type", "output shape", "params", "FLOPs")]
    rows += [(r.path.removeprefix("model."), r.type, str(tuple(r.output_shape)),
              f"{r.params:,}", human(r.flops)) for r in s.layers]
    rows.append(("total", "", "", f"{s.total_params:,}", human(s.flops)))
    return {"title": "Model summary", "table": rows, "header": True}


def _robustness(src: _Sources) -> list[dict]:
    return report_sections(src.run, src.robustness)


def _ensemble(src: _Sources) -> dict | None:
    members = src.run.results.member_test
    if not members:
        return None
    return {"title": "Ensemble members", "table": [
        (name, ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
        for name, test in members.items()]}


def _run(src: _Sources) -> dict:
    r = src.run.results
    return {"title": "Run", "table": [
        ("epochs", r.epochs), ("kept epoch", r.best_epoch), ("stop reason", r.stop_reason),
        ("message", r.stop_message or "-"), ("seconds", r.seconds), ("device", r.device)]}


# title -> section(s) or None; a section that fails is replaced by a note, not the report
SECTIONS: dict[str, Callable[[_Sources], dict | list[dict] | None]] = {
    "Test metrics": _test_metrics,
    "Diagnosis": _diagnosis,
    "Learning curves": _curves,
    "Predictions": _predictions,
    "Per class": _per_class,
    "Most confidently wrong": _wrong,
    "Most confused classes": _confused,
    "Augmented training samples": _augmented,
    "Spectrograms": _spectrograms,
    "ROC and precision-recall curves": _rates,
    "Reliability": _reliability,
    "Gradient norms per layer": _gradients,
    "Data audit": _audit,
    "Robustness": _robustness,
    "Ensemble members": _ensemble,
    "Model summary": _summary,
    "Run": _run,
}


def sections(src: _Sources) -> list[dict]:
    """The report's sections, in order: each {title, text/html/image/table/findings}."""
    out = []
    for title, make in SECTIONS.items():
        try:
            section = make(src)
        except DeepnetError:  # a damaged run file: named, exit 2, as everywhere
            raise
        except Exception as e:  # one bad section must not lose the report
            warnings.warn(f"report.html: the section {title!r} could not be drawn: "
                          f"{type(e).__name__}: {e}", ReportWarning, stacklevel=2)
            section = {"title": title, "text": f"This section could not be drawn "
                                               f"({type(e).__name__}: {e})."}
        if section is not None:
            out += section if isinstance(section, list) else [section]
    return out


@functools.cache
def _template() -> jinja2.Template:
    """template.html, compiled once a process (10 ms: a third of a small run's report)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE.read_text())


def write_report(run, prepared=None, out: str | Path | None = None) -> Path:
    """Write `run.path/report.html` (or `out`) atomically and return its path; its
    findings also go to diagnosis.json, which `deepnet diagnose` prints while the run is
    unchanged. Everything it shows is read from the run directory, so `deepnet report`
    redraws the same report. `prepared`: the run's prepared data, if at hand (else
    prepared again)."""
    src = _Sources(run, prepared)
    page = _template().render(
        name=run.spec.name, path=str(run.path), sections=sections(src),
        spec=run.spec.to_yaml())
    if out is None:
        path = run.files.write_report(page)
    else:
        path = Path(out)
        write_text_atomic(path, page)
    if src.drawn_findings is not None:
        run.files.write_diagnosis([f.to_dict() for f in src.drawn_findings])
    return path
