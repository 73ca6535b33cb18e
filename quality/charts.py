"""Trend charts as accessible SVG, each with the data table it is drawn from.

A chart is small multiples: one panel per series, each on its own scale, because the series
of one chart differ by orders of magnitude (100,000 people, 600 schools). The SVG is an image
with a title and a description that says what the trend is (``role="img"``,
``aria-labelledby``); the table beside it holds every number, with a caption and header
scopes, in a focusable scrolling region so a narrow screen scrolls the table, not the page.
No script, no external file: the report is one page that opens from the run folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

#: Series drawn per chart; the rest are summed as "others".
MAX_SERIES = 8
PANEL_W, PANEL_H, COLUMNS = 200, 90, 2
LINE = "#1d70b8"
INK = "#0b0c0c"


@dataclass(frozen=True)
class Trend:
    """One chart: a series per name, a value per run (``None`` where a run has none)."""

    key: str
    title: str
    runs: Sequence[str]  # labels of the runs, oldest first
    series: Mapping[str, Sequence[int | None]]


def top_series(runs: Sequence[str], values: Sequence[Mapping[str, int]],
               others: str) -> dict[str, list[int | None]]:
    """Series of a chart from one mapping per run: the ``MAX_SERIES - 1`` largest (by their
    largest value) and the sum of the rest as ``others``."""
    names = sorted({n for v in values for n in v},
                   key=lambda n: (-max(v.get(n, 0) for v in values), n))
    kept, rest = names[:MAX_SERIES - 1], names[MAX_SERIES - 1:]
    if len(names) == MAX_SERIES:
        kept, rest = names, []
    series: dict[str, list[int | None]] = {n: [v.get(n, 0) for v in values] for n in kept}
    if rest:
        series[others] = [sum(v.get(n, 0) for n in rest) for v in values]
    return series


def _describe(trend: Trend) -> str:
    if not trend.runs:
        return "No runs recorded yet."
    parts = []
    for name, points in trend.series.items():
        known = [p for p in points if p is not None]
        if not known:
            continue
        first, last = known[0], known[-1]
        move = ("unchanged at" if first == last else
                f"{'up' if last > first else 'down'} from {first:,} to")
        parts.append(f"{name} {move} {last:,}")
    return (f"Over the last {len(trend.runs)} run(s): " + "; ".join(parts) + "."
            if parts else "No values recorded.")


def svg(trend: Trend) -> str:
    """The chart: one panel per series, scaled to its own range, the latest value labelled."""
    names = list(trend.series)
    rows = max(1, -(-len(names) // COLUMNS))
    width, height = PANEL_W * COLUMNS, PANEL_H * rows
    title_id, desc_id = f"{trend.key}-title", f"{trend.key}-desc"
    out = [f"<svg class='chart' viewBox='0 0 {width} {height}' role='img' "
           f"aria-labelledby='{title_id} {desc_id}' xmlns='http://www.w3.org/2000/svg'>",
           f"<title id='{title_id}'>{escape(trend.title)}</title>",
           f"<desc id='{desc_id}'>{escape(_describe(trend))}</desc>"]
    for i, name in enumerate(names):
        x0, y0 = (i % COLUMNS) * PANEL_W, (i // COLUMNS) * PANEL_H
        points = list(trend.series[name])
        known = [p for p in points if p is not None]
        out.append(f"<g transform='translate({x0},{y0})' aria-hidden='true'>"
                   f"<text x='4' y='14' font-size='11' fill='{INK}'>{escape(name[:30])}</text>")
        if known:
            low, high = min(known), max(known)
            if low == high:  # a flat line, drawn across the middle of its panel
                low, high = low - 1, high + 1
            span = high - low
            n = max(1, len(points) - 1)
            coords = [(8 + (PANEL_W - 70) * j / n,
                       PANEL_H - 14 - (PANEL_H - 38) * ((p - low) / span))
                      for j, p in enumerate(points) if p is not None]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f"<polyline points='{path}' fill='none' stroke='{LINE}' "
                       "stroke-width='2'/>")
            lx, ly = coords[-1]
            out.append(f"<circle cx='{lx:.1f}' cy='{ly:.1f}' r='3' fill='{LINE}'/>"
                       f"<text x='{PANEL_W - 58}' y='{ly + 4:.1f}' font-size='11' "
                       f"fill='{INK}'>{known[-1]:,}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def table(trend: Trend) -> str:
    """Every number of the chart: a row per run (newest first), a column per series."""
    names = list(trend.series)
    head = "".join(f"<th scope='col'>{escape(n)}</th>" for n in names)
    body = []
    for j in range(len(trend.runs) - 1, -1, -1):
        cells = "".join(
            f"<td class='num'>{'' if trend.series[n][j] is None else f'{trend.series[n][j]:,}'}"
            "</td>" for n in names)
        body.append(f"<tr><th scope='row'>{escape(trend.runs[j])}</th>{cells}</tr>")
    caption = f"{trend.title}: the numbers, newest run first"
    return (f"<div class='table-wrap' role='region' tabindex='0' "
            f"aria-label='{escape(caption, quote=True)}'><table><caption>{escape(caption)}"
            f"</caption><thead><tr><th scope='col'>Run</th>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def figure(trend: Trend) -> str:
    """The chart and its table, side by side on a wide screen, one above the other on a
    narrow one."""
    return (f"<section class='trend' aria-labelledby='{trend.key}-h'>"
            f"<h3 id='{trend.key}-h'>{escape(trend.title)}</h3><div class='trend-body'>"
            f"<figure>{svg(trend)}<figcaption>{escape(_describe(trend))}</figcaption></figure>"
            f"{table(trend)}</div></section>")
