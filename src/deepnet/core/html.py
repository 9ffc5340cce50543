"""Small HTML pieces for notebook display (`_repr_html_` of Run, Spec, Summary, the
findings, the audit and attack results): escaped tables and an inline SVG line chart.
Nothing here loads a plotting library or a script: a notebook shows them as they are."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STYLE = "border-collapse:collapse;font-size:12px;margin:4px 0"
CELL = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def esc(value: Any) -> str:
    return html.escape(fmt(value))


def fmt(value: Any) -> str:
    """A value as a cell shows it: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = 50) -> str:
    """An HTML table of `rows` (each a sequence of cells), at most `limit` of them."""
    rows = list(rows)
    head = "".join(f"<th style='{CELL}'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='{CELL}'>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows[:limit])
    more = (f"<tr><td colspan='{len(header)}' style='{CELL}'>... and {len(rows) - limit} more"
            "</td></tr>") if len(rows) > limit else ""
    return f"<table style='{STYLE}'><tr>{head}</tr>{body}{more}</table>"


def pairs(items: Mapping[str, Any]) -> str:
    """A two-column table of names and values (None values left out)."""
    return table(["", ""], [(k, v) for k, v in items.items() if v is not None])


def section(title: str, *parts: str) -> str:
    return f"<div><b>{html.escape(title)}</b>{''.join(parts)}</div>"


def line_chart(series: Mapping[str, Sequence[float]], title: str, width: int = 360,
               height: int = 160, marker: float | None = None) -> str:
    """An inline SVG of one line per series over x = 1, 2, ... (NaN: a gap), with the
    y range in its axis labels; `marker` draws a vertical line at that x."""
    finite = [v for vs in series.values() for v in vs if math.isfinite(v)]
    n = max((len(vs) for vs in series.values()), default=0)
    if not finite or n == 0:
        return ""
    lo, hi = min(finite), max(finite)
    hi = hi if hi > lo else lo + 1
    pad = 30

    def x(i: int) -> float:
        return pad + (width - pad - 8) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return 8 + (height - 28) * (1 - (v - lo) / (hi - lo))

    lines = []
    for colour, (name, values) in zip(COLOURS * 4, series.items(), strict=False):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values)
                          if math.isfinite(v))
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' "
                     f"points='{points}'><title>{html.escape(name)}</title></polyline>")
    mark = ""
    if marker is not None and 1 <= marker <= n:
        mx = x(int(marker) - 1)
        mark = f"<line x1='{mx:.1f}' x2='{mx:.1f}' y1='8' y2='{height - 20}' stroke='grey' " \
               "stroke-dasharray='3,3'/>"
    legend = " ".join(f"<tspan fill='{c}'>{html.escape(name)}</tspan>"
                      for c, name in zip(COLOURS * 4, series, strict=False))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"style='font:10px sans-serif'><text x='{pad}' y='{height - 4}'>{html.escape(title)}"
            f" by epoch: {legend}</text><text x='0' y='12'>{hi:.3g}</text>"
            f"<text x='0' y='{height - 22}'>{lo:.3g}</text>{mark}{''.join(lines)}</svg>")
