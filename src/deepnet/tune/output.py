"""What a study leaves in its tune directory: best_spec.yaml, trials.csv, tune.json and
tune_report.html (optimisation history, importances, parallel coordinates: SVG inline)."""

from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Any

from deepnet.core import svg
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


# ----------------------------------------------------------------------------- figures
def history_svg(rows: list[dict], metric: str, maximize: bool) -> str:
    """Each trial's value (pruned ones at the epoch they stopped) and the best so far."""
    numbers = [r["number"] for r in rows]

    def values(state: str) -> list:
        return [r["value"] if r["state"] == state and _finite(r["value"]) else None
                for r in rows]

    best, line = None, []
    for v in values("complete"):
        if v is not None:
            best = v if best is None or (v > best if maximize else v < best) else best
        line.append(best)
    return svg.line_chart(numbers, [("complete", values("complete"), svg.BLUE, "dots"),
                                    ("pruned", values("pruned"), svg.GREY, "dots"),
                                    ("best so far", line, "#d62728", "steps")],
                          title="Optimisation history", xlabel="trial",
                          ylabel=f"val {metric}", width=760,
                          legend_at="bottom" if maximize else "top")  # away from the best


def importances_svg(imp: dict[str, float]) -> str:
    return svg.bar_chart(imp, xlabel="importance (fANOVA)")


def parallel_svg(rows: list[dict], space: dict[str, Distribution], metric: str) -> str:
    """Parallel coordinates of the complete trials: one axis per parameter, then the value;
    each line coloured by its value."""
    done = [r for r in rows if r["state"] == "complete" and _finite(r["value"])]
    values = [r["value"] for r in done]
    lo, hi = min(values), max(values)
    scaled = [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in values]
    lines = [[*(_position(r[p], space[p]) for p in space), t]
             for r, t in zip(done, scaled, strict=True)]
    return svg.parallel_chart([*(short(p) for p in space), f"val {metric}"],
                              [*(_ends(space[p]) for p in space), (f"{lo:.4g}", f"{hi:.4g}")],
                              lines, [svg.viridis(t) for t in scaled])


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
    parts.append(f'<img src="{svg.uri(history_svg(rows, metric, maximize))}" alt="history">')
    parts.append("<h2>Parameter importances</h2>")
    if imp:
        parts.append(f'<img src="{svg.uri(importances_svg(imp))}" alt="importances">')
    else:
        parts.append("<p>Too few complete trials to estimate importances.</p>")
    if sum(r["state"] == "complete" and _finite(r["value"]) for r in rows) >= 2:
        parts.append("<h2>Parallel coordinates</h2>")
        parts.append(f'<img src="{svg.uri(parallel_svg(rows, space, metric))}" alt="parallel">')
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
