"""Small SVG charts drawn on the server: a histogram against the previous run's, and a series over runs.

Plain SVG strings, escaped, sized by viewBox so they scale with the page; no JavaScript, no download.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
CURRENT, PREVIOUS, LINE = "#2f6fb3", "#d9822b", "#2f6fb3"


def _frame(title: str, body: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>{body}</svg>'
    )


def _axes(y_max: float, y_format: str) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>']  # fmt: skip
    for step in range(5):
        value = y_max * step / 4
        y = HEIGHT - BOTTOM - plot_h * step / 4
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                     f"{escape(format(value, y_format))}</text>")  # fmt: skip
    return "".join(parts)


def histogram_svg(edges: Sequence[float], counts: Sequence[float], previous: Sequence[float] | None, title: str) -> str:
    """Bars: this run's share of scores per bin; outline: the previous run's share (same bins)."""
    if not counts or len(edges) != len(counts) + 1:
        return _frame(title, f'<text x="{LEFT}" y="{HEIGHT / 2}" class="empty">no scores recorded</text>', title)
    shares = _shares(counts)
    before = _shares(previous) if previous is not None and len(previous) == len(counts) else None
    top = max([*shares, *(before or [])]) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar = plot_w / len(shares)
    parts = [_axes(top, ".0%")]
    for index, share in enumerate(shares):
        height = plot_h * share / top
        x = LEFT + index * bar
        parts.append(f'<rect class="bar" x="{x + 1:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{bar - 2:.1f}" '
                     f'height="{height:.1f}" fill="{CURRENT}"><title>[{edges[index]:.3g}, {edges[index + 1]:.3g}): '
                     f"{share:.1%}</title></rect>")  # fmt: skip
    if before is not None:
        points = []
        for index, share in enumerate(before):
            y = HEIGHT - BOTTOM - plot_h * share / top
            points += [f"{LEFT + index * bar:.1f},{y:.1f}", f"{LEFT + (index + 1) * bar:.1f},{y:.1f}"]
        parts.append(f'<polyline class="previous" points="{" ".join(points)}" fill="none" stroke="{PREVIOUS}" '
                     'stroke-width="2"/>')  # fmt: skip
    for index in (0, len(edges) // 2, len(edges) - 1):
        x = LEFT + index * bar
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
                     f"{edges[index]:.3g}</text>")  # fmt: skip
    legend = "this run (bars)" + (", previous run (line)" if before is not None else "")
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" class="tick" text-anchor="end">{legend}</text>')
    return _frame(title, "".join(parts), title)


def series_svg(labels: Sequence[str], values: Sequence[float | None], title: str, y_format: str) -> str:
    """A line over runs (oldest left); runs without a value leave a gap."""
    known = [v for v in values if v is not None]
    if not known:
        return _frame(title, f'<text x="{LEFT}" y="{HEIGHT / 2}" class="empty">no values recorded</text>', title)
    top = max(known) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(values) - 1) if len(values) > 1 else 0.0
    parts = [_axes(top, y_format)]
    segment: list[str] = []
    for index, value in enumerate(values):
        x = LEFT + (index * step if len(values) > 1 else plot_w / 2)
        if value is None:
            if len(segment) > 1:
                parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{LINE}" stroke-width="2"/>')
            segment = []
            continue
        y = HEIGHT - BOTTOM - plot_h * value / top
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE}">'
                     f"<title>{escape(labels[index])}: {escape(format(value, y_format))}</title></circle>")  # fmt: skip
    if len(segment) > 1:
        parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for index in sorted({0, len(labels) - 1}):
        x = LEFT + (index * step if len(values) > 1 else plot_w / 2)
        anchor = "end" if index and index == len(labels) - 1 else "start" if len(values) > 1 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="{anchor}">'
                     f"{escape(labels[index])}</text>")  # fmt: skip
    return _frame(title, "".join(parts), title)


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]
