"""Charts drawn on the server as inline SVG: no JavaScript library, no CDN, nothing to load.

The console's Content-Security-Policy forbids inline styles, so shapes carry SVG presentation
attributes (x, y, width…) and CSS classes from ``stats.css`` (``s0``…``s7`` for series colours,
``h0``…``h5`` for heat levels). Every chart has a ``<title>``/``<desc>`` for screen readers,
each mark its own ``<title>`` (a tooltip with the exact count), and the page puts a table
with the same numbers next to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SERIES_CLASSES = 8
HEAT_LEVELS = 5


@dataclass(frozen=True)
class Series:
    key: str | None
    label: str
    css: str  # "s0"…"s7"


@dataclass(frozen=True)
class Column:
    axis: str  # short label under the bar ("1er")
    label: str  # full label for the tooltip ("mardi 1er décembre 2026")
    values: Mapping[str | None, int]
    sub: str = ""  # a second line under the axis label, e.g. the month where it changes


def series_class(index: int) -> str:
    return f"s{index % SERIES_CLASSES}"


def nice_step(maximum: int, ticks: int = 4) -> int:
    """A round whole step (1, 2, 2.5, 5 × 10ⁿ) giving at most ``ticks`` gridlines to ``maximum``."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 2.5, 5) if magnitude >= 10 else (1, 2, 5)
    return next((int(f * magnitude) for f in factors if f * magnitude >= raw),
                int(10 * magnitude))


def _calls(n: int) -> str:
    return f"{n} appel" if n in (0, 1) else f"{n} appels"


def _open(chart_id: str, width: float, height: float, title: str, desc: str,
          css: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]


def stacked_bars(columns: Sequence[Column], series: Sequence[Series], *, chart_id: str,
                 title: str, desc: str) -> Markup:
    """Vertical bars, one per column, stacked by series (calls per day, by branch)."""
    left, right, top, bottom, plot_h = 44, 8, 12, 44, 220
    slot = max(8.0, min(40.0, 640 / max(len(columns), 1)))
    width = left + slot * len(columns) + right
    height = top + plot_h + bottom
    totals = [sum(c.values.get(s.key, 0) for s in series) for c in columns]
    step = nice_step(max(totals, default=0))
    scale_max = max(step * math.ceil(max(totals, default=0) / step), step)
    out = _open(chart_id, width, height, title, desc, "bars")
    for tick in range(0, scale_max + 1, step):
        y = top + plot_h - plot_h * tick / scale_max
        out.append(f'<line class="grid" x1="{left}" x2="{width - right:g}" '
                   f'y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{tick}</text>')
    label_every = max(1, math.ceil(18 / slot))  # a day number needs ~18 units
    bar_w = max(slot * 0.72, 4)
    for i, (column, total) in enumerate(zip(columns, totals, strict=True)):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        out.append(f'<g class="column" data-label="{escape(column.label)}" '
                   f'data-total="{total}">')
        for s in series:
            n = column.values.get(s.key, 0)
            if not n:
                continue
            h = plot_h * n / scale_max
            y -= h
            out.append(f'<rect class="{s.css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}" data-series="{escape(s.label)}" data-value="{n}">'
                       f'<title>{escape(column.label)} — {escape(s.label)} : {_calls(n)}'
                       f'</title></rect>')
        out.append("</g>")
        cx = left + slot * i + slot / 2
        if i % label_every == 0:
            out.append(f'<text class="axis" x="{cx:.1f}" y="{top + plot_h + 16}" '
                       f'text-anchor="middle">{escape(column.axis)}</text>')
        if column.sub:
            out.append(f'<text class="axis sub" x="{cx:.1f}" y="{top + plot_h + 32}" '
                       f'text-anchor="middle">{escape(column.sub)}</text>')
    out.append(f'<line class="baseline" x1="{left}" x2="{width - right:g}" '
               f'y1="{top + plot_h}" y2="{top + plot_h}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(items: Sequence[tuple[str, int]], *, chart_id: str, title: str, desc: str,
          css: str = "s0") -> Markup:
    """Horizontal bars with their label above (long node titles stay readable)."""
    width, pad, row, font = 560, 8, 52, 15
    label_room = 64  # for the count after the longest bar
    maximum = max((n for _, n in items), default=0) or 1
    height = pad * 2 + row * len(items)
    out = _open(chart_id, width, height, title, desc, "hbars")
    for i, (label, n) in enumerate(items):
        y = pad + row * i
        w = max((width - 2 * pad - label_room) * n / maximum, 2)
        out.append(f'<g class="row" data-label="{escape(label)}" data-value="{n}">')
        out.append(f'<text class="label" x="{pad}" y="{y + font}">{escape(label)}</text>')
        out.append(f'<rect class="{css}" x="{pad}" y="{y + font + 6}" width="{w:.1f}" '
                   f'height="20"><title>{escape(label)} : {_calls(n)}</title></rect>')
        out.append(f'<text class="value" x="{pad + w + 6:.1f}" y="{y + font + 21}">{n}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def heatmap(grid: Sequence[Sequence[int]], row_labels: Sequence[str], *, chart_id: str,
            title: str, desc: str) -> Markup:
    """A weekday × hour grid: the darker the cell, the more calls started in that hour."""
    left, top, cell, gap = 84, 22, 26, 2
    hours = len(grid[0]) if grid else 24
    width = left + hours * (cell + gap) + 4
    height = top + len(grid) * (cell + gap) + 4
    maximum = max((n for row in grid for n in row), default=0)
    out = _open(chart_id, width, height, title, desc, "heat")
    for h in range(hours):
        x = left + h * (cell + gap) + cell / 2
        out.append(f'<text class="tick" x="{x:g}" y="{top - 8}" text-anchor="middle">{h}</text>')
    for d, (label, row) in enumerate(zip(row_labels, grid, strict=True)):
        y = top + d * (cell + gap)
        out.append(f'<text class="axis" x="{left - 8}" y="{y + cell / 2 + 4:g}" '
                   f'text-anchor="end">{escape(label)}</text>')
        for h, n in enumerate(row):
            level = 0 if not n else max(1, math.ceil(HEAT_LEVELS * n / maximum))
            x = left + h * (cell + gap)
            out.append(f'<rect class="h{level}" x="{x}" y="{y}" width="{cell}" height="{cell}" '
                       f'rx="3" data-day="{d}" data-hour="{h}" data-value="{n}">'
                       f'<title>{escape(label)}, {h} h à {h + 1} h : {_calls(n)}</title></rect>')
            if n:
                out.append(f'<text class="count h{level}" x="{x + cell / 2:g}" '
                           f'y="{y + cell / 2 + 4:g}" text-anchor="middle">{n}</text>')
    out.append("</svg>")
    return Markup("".join(out))
