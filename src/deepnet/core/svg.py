"""Line charts, bar charts, parallel coordinates and heat maps as SVG, written directly:
the figures every report has (learning curves, gradient norms, the confusion matrix) and
the tune report's cost a few milliseconds this way, against about 0.1 s each and half a
second of import with matplotlib, on the path of every training run and tune. Each
function returns the SVG document; `uri` makes it a data: URI for an <img>."""

from __future__ import annotations

import base64
import math
from html import escape

import numpy as np

BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#808080"
# viridis at 0, 1/4, 1/2, 3/4, 1 (matplotlib's), interpolated in between
_VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def viridis(t: float) -> str:
    t = min(max(t, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * (t - i)):02x}" for x, y in zip(a, b, strict=True))


def _canvas(width: float, height: float, font_size: int) -> list[str]:
    """The opening of an SVG document of that size, on white."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT} font-size="{font_size}">',
            f'<rect width="{width}" height="{height}" fill="white"/>']


def uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def ticks(low: float, high: float, most: int = 6, whole: bool = False) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart, whole numbers if `whole`)
    covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / most
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if step * m >= raw)
    step = max(step, 1) if whole else step
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """log10 of round values in [10**low, 10**high]: the powers of ten when two or more
    fall inside, else 1, 2 and 5 times them."""
    decades = range(math.floor(low), math.ceil(high) + 1)
    powers = [float(d) for d in decades if low <= d <= high]
    if len(powers) >= 2:
        return powers
    return [d + math.log10(m) for d in decades for m in (1, 2, 5)
            if low <= d + math.log10(m) <= high]


def _label(v: float, log: bool) -> str:
    return f"{10 ** v:.3g}" if log else f"{v:.4g}"


def line_chart(x: list[float], lines: list[tuple[str | None, list, str, str]], *,
               title: str, xlabel: str, ylabel: str = "", log: bool = False,
               marks: list[tuple[float, str]] = (), width: int = 460, height: int = 300,
               legend_size: int = 11, legend_at: str = "top") -> str:
    """The SVG of lines over x: (label or None, values with None or NaN as gaps, colour,
    style): a dash pattern, '' (solid), "dots" (a point at each value, no line) or
    "steps" (each value held until the next x); `marks` are dashed grey vertical lines
    (x, label); log: a log scale of the positive values. The key, of the lines that have
    a value, sits in the top or bottom right corner (`legend_at`)."""
    def tr(v):
        if v is None or not math.isfinite(v) or (log and v <= 0):
            return None
        return math.log10(v) if log else float(v)

    ys = [[tr(v) for v in values] for _, values, _, _ in lines]
    seen = [v for y in ys for v in y if v is not None]
    low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
    pad = (high - low) * 0.05 or 0.5
    low, high = low - pad, high + pad
    x0, x1 = (min(x), max(x)) if x else (0, 1)
    x1 = x1 if x1 > x0 else x0 + 1
    left, right, top, bottom = 62, 12, 28, 44
    pw, ph = width - left - right, height - top - bottom

    def px(v):
        return left + (v - x0) / (x1 - x0) * pw

    def py(v):
        return top + (1 - (v - low) / (high - low)) * ph

    out = [*_canvas(width, height, 11),
           f'<text x="{left + pw / 2}" y="16" text-anchor="middle" font-size="12">'
           f'{escape(title)}</text>']
    for v in (log_ticks(low, high) if log else ticks(low, high)):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                   f'stroke="#e6e6e6"/><text x="{left - 5}" y="{py(v) + 4:.1f}" '
                   f'text-anchor="end">{_label(v, log)}</text>')
    for v in ticks(x0, x1, 8, whole=all(float(a).is_integer() for a in x)):
        out.append(f'<text x="{px(v):.1f}" y="{top + ph + 15}" text-anchor="middle">'
                   f'{_label(v, False)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="#444"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(13 {top + ph / 2}) rotate(-90)" '
                   f'text-anchor="middle">{escape(ylabel)}</text>')
    for at, _ in marks:
        out.append(f'<line x1="{px(at):.1f}" x2="{px(at):.1f}" y1="{top}" y2="{top + ph}" '
                   f'stroke="{GREY}" stroke-dasharray="5 4"/>')
    for (_, _, colour, dash), y in zip(lines, ys, strict=True):
        for run in _segments(x, y):
            if dash == "steps":
                run = [q for (a, b), (c, _) in zip(run, run[1:] + [run[-1]], strict=True)
                       for q in ((a, b), (c, b))][:-1]
            points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in run)
            extra = f' stroke-dasharray="{dash}"' if dash not in ("", "dots", "steps") else ""
            if dash == "dots":
                out.extend(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{colour}"/>'
                           for a, b in run)
            elif len(run) == 1:
                out.append(f'<circle cx="{px(run[0][0]):.1f}" cy="{py(run[0][1]):.1f}" r="2.5" '
                           f'fill="{colour}"/>')
            else:
                out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                           f'stroke-width="1.6"{extra}/>')
    keyed = [(label, colour, dash) for (label, _, colour, dash), y in zip(lines, ys, strict=True)
             if label and any(v is not None for v in y)] + \
        [(label, GREY, "5 4") for _, label in marks if label]
    box = len(keyed) * (legend_size + 4) + 6
    box_top = top + 2 if legend_at == "top" else top + ph - 2 - box
    if keyed:
        out.append(f'<rect x="{left + pw - 156}" y="{box_top}" width="152" '
                   f'height="{box}" fill="white" fill-opacity="0.85" stroke="#ccc"/>')
    for i, (label, colour, dash) in enumerate(keyed):
        y = box_top + 10 + i * (legend_size + 4)
        extra = f' stroke-dasharray="{dash}"' if dash not in ("", "dots", "steps") else ""
        key = f'<circle cx="{left + pw - 139}" cy="{y - 4}" r="3" fill="{colour}"/>' \
            if dash == "dots" else \
            f'<line x1="{left + pw - 150}" x2="{left + pw - 128}" y1="{y - 4}" ' \
            f'y2="{y - 4}" stroke="{colour}" stroke-width="2"{extra}/>'
        out.append(f'{key}<text x="{left + pw - 123}" y="{y}" font-size="{legend_size}">'
                   f'{escape(label)}</text>')
    return "".join(out + ["</svg>"])


def _segments(x, y) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with a value (a gap ends a run)."""
    runs, run = [], []
    for a, b in zip(x, y, strict=True):
        if b is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append((a, b))
    return runs + ([run] if run else [])


def side_by_side(*charts: str) -> str:
    """Charts (SVG documents) in one row, as one SVG."""
    sizes = [(int(c.split('width="')[1].split('"')[0]), int(c.split('height="')[1].split('"')[0]))
             for c in charts]
    width, height = sum(w for w, _ in sizes), max(h for _, h in sizes)
    out, x = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}">'], 0
    for chart, (w, _) in zip(charts, sizes, strict=True):
        out.append(f'<g transform="translate({x} 0)">{chart}</g>')
        x += w
    return "".join(out + ["</svg>"])


def heat_map(counts: np.ndarray, classes: list[str], *, xlabel: str, ylabel: str) -> str:
    """Counts of (row, column) as squares, darker blue for a larger share of the row,
    the count written in each non-empty square while there are at most 30 classes."""
    k = len(classes)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    cell = max(8, min(34, 480 // max(k, 1)))
    longest = max((len(c) for c in classes), default=1)
    left = 34 + min(longest, 16) * 7
    top, side = 10, cell * k
    bottom = 40 + (min(longest, 16) * 6 if k > 10 else 0)
    width, height = left + side + 20, top + side + bottom
    out = [*_canvas(width, height, 10)]
    for i in range(k):
        for j in range(k):
            s = float(share[i, j])
            fill = "#" + "".join(f"{round(255 + (c - 255) * s):02x}" for c in (8, 48, 107))
            out.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                       f'height="{cell}" fill="{fill}"/>')
            if k <= 30 and counts[i, j]:
                out.append(f'<text x="{left + (j + 0.5) * cell}" y="{top + (i + 0.5) * cell + 3.5}"'
                           f' text-anchor="middle" fill="{"white" if s > 0.5 else "black"}" '
                           f'font-size="{min(10, cell // 2 + 2)}">{counts[i, j]}</text>')
    every = 1 if k <= 30 else max(k // 15, 1)
    for i in range(0, k, every):
        name = escape(classes[i][:16])
        out.append(f'<text x="{left - 4}" y="{top + (i + 0.5) * cell + 3.5}" '
                   f'text-anchor="end">{name}</text>')
        cx, cy = left + (i + 0.5) * cell, top + side + 12
        turn = f' transform="rotate(-90 {cx} {cy})" text-anchor="end"' if k > 10 else \
            ' text-anchor="middle"'
        out.append(f'<text x="{cx}" y="{cy + (0 if k > 10 else 2)}"{turn}>{name}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="none" '
               f'stroke="#444"/>')
    out.append(f'<text x="{left + side / 2}" y="{height - 6}" text-anchor="middle" '
               f'font-size="11">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(11 {top + side / 2}) rotate(-90)" '
               f'text-anchor="middle" font-size="11">{escape(ylabel)}</text>')
    return "".join(out + ["</svg>"])


def bar_chart(values: dict[str, float], *, xlabel: str, width: int = 640) -> str:
    """Horizontal bars, the first item at the top, from 0 to the largest value."""
    names = list(values)
    longest = max((len(n) for n in names), default=1)
    left, right, top, bar = 12 + min(longest, 48) * 6.5, 40, 10, 22
    height = top + bar * len(names) + 40
    pw = width - left - right
    high = max([v for v in values.values() if math.isfinite(v)] + [0.0]) or 1.0
    out = [*_canvas(width, height, 11)]
    for v in ticks(0.0, high):
        x = left + v / high * pw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + bar * len(names)}" '
                   f'stroke="#e6e6e6"/><text x="{x:.1f}" y="{top + bar * len(names) + 15}" '
                   f'text-anchor="middle">{v:.3g}</text>')
    for i, name in enumerate(names):
        v = values[name] if math.isfinite(values[name]) else 0.0
        y = top + i * bar
        out.append(f'<rect x="{left}" y="{y + 3}" width="{max(v, 0) / high * pw:.1f}" '
                   f'height="{bar - 6}" fill="{BLUE}"/><text x="{left - 5}" y="{y + bar / 2 + 4}"'
                   f' text-anchor="end">{escape(name[:48])}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    return "".join(out + ["</svg>"])


def parallel_chart(axes: list[str], ends: list[tuple[str, str]], lines: list[list[float]],
                   colours: list[str], height: int = 320) -> str:
    """Parallel coordinates: one vertical axis per name, labelled at its ends (low, high);
    each line a list of positions in [0, 1], one per axis, in its colour."""
    axes = [_cut(a, 22) for a in axes]
    gap, top, bottom, char = 150, 24, 46, 6.2  # char: about the width of a letter, in px
    left = max(40, len(axes[0]) * char / 2 + 6) if axes else 40
    right = max(40, len(axes[-1]) * char / 2 + 6,
                max(len(e) for e in ends[-1]) * char + 10) if axes else 40
    width = round(left + right + gap * max(len(axes) - 1, 1))
    ph = height - top - bottom

    def at(i: int, v: float) -> str:
        return f"{left + i * gap:.1f},{top + (1 - v) * ph:.1f}"

    out = [*_canvas(width, height, 10)]
    for values, colour in zip(lines, colours, strict=True):
        points = " ".join(at(i, v) for i, v in enumerate(values))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                   f'stroke-width="1.4" stroke-opacity="0.85"/>')
    for i, (name, (low, high)) in enumerate(zip(axes, ends, strict=True)):
        x = round(left + i * gap, 1)
        out.append(f'<line x1="{x}" x2="{x}" y1="{top}" y2="{top + ph}" stroke="#999"/>'
                   f'<text x="{x + 3}" y="{top - 6}">{escape(high)}</text>'
                   f'<text x="{x + 3}" y="{top + ph + 12}">{escape(low)}</text>'
                   f'<text x="{x}" y="{height - 8}" text-anchor="middle" font-size="11">'
                   f'{escape(name)}</text>')
    return "".join(out + ["</svg>"])


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "\u2026"
