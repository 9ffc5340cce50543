"""The benchmark's output: plain-text tables (one per section of rows, then the figures)
and, as the last line, one JSON object of every figure."""

from __future__ import annotations

import json
import math

from bench.faults.stats import rate

CELL = 150  # a list figure is cut to this many characters in the table


def normalise(figures: dict) -> dict:
    """Every {"k", "n"} figure (as the audit part may give them) with its rate and Wilson
    interval; non-finite numbers as None (strict JSON)."""
    out = {}
    for name, value in figures.items():
        if isinstance(value, dict) and set(value) == {"k", "n"}:
            value = rate(value["k"], value["n"])
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[name] = value
    return out


def _table(title: str, rows: list[dict]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k != "section" and k not in cols]
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([f"== {title}", line(cols), line(["-" * w for w in widths]),
                      *(line(row) for row in cells)])


def _figure(value) -> str:
    if isinstance(value, dict) and "rate" in value:
        r = "-" if value["rate"] is None else f"{value['rate']:.3f}"
        lo, hi = value["ci95"]
        return f"{value['k']}/{value['n']} = {r}  [95% CI {lo:.3f}, {hi:.3f}]"
    if isinstance(value, list):
        text = "; ".join(" ".join(str(v).split()) for v in value) or "none"
        return text if len(text) <= CELL else text[:CELL - 3] + "..."  # the JSON has it all
    return str(value)


def render(rows: list[dict], figures: dict) -> str:
    """Tables of the rows by section (in order of first appearance), then the figures."""
    sections: dict[str, list[dict]] = {}
    for r in rows:
        sections.setdefault(r.get("section", "other"), []).append(r)
    parts = [_table(title, rs) for title, rs in sections.items()]
    parts.append(_table("figures", [{"figure": k, "value": _figure(v)} for k, v in figures.items()]))
    return "\n\n".join(parts)


def json_line(figures: dict) -> str:
    return json.dumps(figures, sort_keys=False, allow_nan=False)
