"""What a study leaves in its tune directory: best_spec.yaml, trials.csv, tune.json and
tune_report.html (optimisation history, importances, parallel coordinates; images inline)."""

from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Any

from deepnet.core.figures import figure_png, pyplot
from deepnet.core.io import write_text_atomic
from deepnet.spec import Distribution


def trial_rows(trials, space: dict[str, Distribution]) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, seconds, each parameter, reason."""
    from deepnet.tune.space import decode

    names = list(dict.fromkeys([*space, *(k for t in trials for k in t.params)]))
    rows = []
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        value = t.value if t.value is not None else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        params = decode(t.params, space)
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": value,
                     "epochs": t.user_attrs.get("epochs"),
                     "seconds": round(seconds, 2) if seconds is not None else None,
                     **{n: params.get(n) for n in names},
                     "reason": t.user_attrs.get("reason", "")})
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def importances(study, seed: int) -> dict[str, float]:
    """Parameter importances (fANOVA) over the complete trials; {} while too few."""
    import optuna
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 3 or len({t.value for t in done}) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        out = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception:  # e.g. parameters that differ between trials of an edited space
        return {}
    return {k: float(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- figures
def history_png(rows: list[dict], metric: str, maximize: bool) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for state, style in (("complete", {"color": "C0"}), ("pruned", {"color": "grey",
                                                                    "marker": "x"})):
        pts = [(r["number"], r["value"]) for r in rows
               if r["state"] == state and _finite(r["value"])]
        if pts:
            ax.scatter(*zip(*pts, strict=True), label=state, s=22, **style)
    best, line = None, []
    for r in rows:
        if r["state"] == "complete" and _finite(r["value"]):
            v = r["value"]
            best = v if best is None or (v > best if maximize else v < best) else best
        line.append(best)
    if any(b is not None for b in line):
        ax.step([r["number"] for r in rows], line, where="post", color="C3", label="best so far")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"val {metric}")
    ax.legend()
    return figure_png(fig)


def importances_png(imp: dict[str, float]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(imp)))
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="C0")
    ax.set_xlabel("importance (fANOVA)")
    return figure_png(fig)


def parallel_png(rows: list[dict], space: dict[str, Distribution], metric: str) -> str:
    """Parallel coordinates of the complete trials: one axis per parameter, then the value;
    each line coloured by its value."""
    plt = pyplot()
    done = [r for r in rows if r["state"] == "complete" and _finite(r["value"])]
    axes = list(space)
    cols = [[_position(r[p], space[p]) for r in done] for p in axes]
    values = [r["value"] for r in done]
    lo, hi = min(values), max(values)
    cols.append([(v - lo) / (hi - lo) if hi > lo else 0.5 for v in values])
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * (len(axes) + 1)), 4))
    cmap = plt.get_cmap("viridis")
    for i in range(len(values)):
        ax.plot(range(len(cols)), [c[i] for c in cols], color=cmap(cols[-1][i]), alpha=0.8)
    for x in range(len(cols)):
        ax.axvline(x, color="#999", linewidth=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([*(short(p) for p in axes), f"val {metric}"], rotation=15)
    for x, p in enumerate(axes):
        lo_p, hi_p = _ends(space[p])
        ax.annotate(lo_p, (x, 0), textcoords="offset points", xytext=(3, -12), fontsize=7)
        ax.annotate(hi_p, (x, 1), textcoords="offset points", xytext=(3, 4), fontsize=7)
    ax.annotate(f"{lo:.4g}", (len(axes), 0), textcoords="offset points", xytext=(3, -12),
                fontsize=7)
    ax.annotate(f"{hi:.4g}", (len(axes), 1), textcoords="offset points", xytext=(3, 4),
                fontsize=7)
    ax.set_yticks([])
    ax.set_ylim(-0.1, 1.1)
    return figure_png(fig)


def _position(value, dist: Distribution) -> float:
    if dist.kind == "choice":
        from deepnet.tune.space import label

        labels = [label(c) for c in dist.choice]
        return labels.index(label(value)) / max(len(labels) - 1, 1) \
            if label(value) in labels else 0.5
    lo, hi = dist.bounds
    if value is None:
        return 0.5
    if dist.kind == "loguniform" or dist.log:
        lo, hi, value = math.log(lo), math.log(hi), math.log(value)
    return (value - lo) / (hi - lo)


def _ends(dist: Distribution) -> tuple[str, str]:
    if dist.kind == "choice":
        return str(dist.choice[0])[:20], str(dist.choice[-1])[:20]
    return f"{dist.bounds[0]:.3g}", f"{dist.bounds[1]:.3g}"


def short(path: str) -> str:
    return path.removeprefix("train.").removeprefix("model.")


def _finite(v) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


# ----------------------------------------------------------------------------- the page
def write_report(path: Path, summary: dict, rows: list[dict], imp: dict[str, float],
                 space: dict[str, Distribution], metric: str, maximize: bool) -> Path:
    """tune_report.html: one self-contained page."""
    parts = [f"<h1>Tuning: study {html.escape(summary['study'])}</h1>",
             "<p>" + html.escape(
                 f"{summary['finished']} trials: {summary['trials']['complete']} complete, "
                 f"{summary['trials']['pruned']} pruned, {summary['trials']['failed']} failed."
                 f" Objective: {'maximise' if maximize else 'minimise'} val {metric}; storage "
                 f"{summary['storage']}.") + "</p>"]
    if summary["best_value"] is not None:
        items = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(repr(v))}</li>"
                        for k, v in summary["best_params"].items())
        parts.append(f"<h2>Best: val {metric} {summary['best_value']:.6g} "
                     f"(trial {summary['best_trial']})</h2><ul>{items}</ul>"
                     f"<p>Spec: <code>{html.escape(str(summary['best_spec']))}</code> "
                     "(ready for <code>deepnet train</code>)</p>")
    parts.append("<h2>Optimisation history</h2>")
    parts.append(f'<img src="{history_png(rows, metric, maximize)}" alt="history">')
    parts.append("<h2>Parameter importances</h2>")
    if imp:
        parts.append(f'<img src="{importances_png(imp)}" alt="importances">')
    else:
        parts.append("<p>Too few complete trials to estimate importances.</p>")
    if sum(r["state"] == "complete" and _finite(r["value"]) for r in rows) >= 2:
        parts.append("<h2>Parallel coordinates</h2>")
        parts.append(f'<img src="{parallel_png(rows, space, metric)}" alt="parallel">')
    parts.append("<h2>Trials</h2>" + _table(rows))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>deepnet tune: "
            f"{html.escape(summary['study'])}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}td.l{text-align:left}img{max-width:100%}"
            "</style></head><body>" + "\n".join(parts) + "</body></html>\n")
    write_text_atomic(path, page)
    return path


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>No trials yet.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = []
    for r in rows:
        cells = []
        for k, v in r.items():
            text = f"{v:.6g}" if isinstance(v, float) else ("" if v is None else str(v))
            cls = ' class="l"' if k in ("state", "reason") or isinstance(v, str) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
