"""Small charts as inline SVG, drawn on the server (no scripts, nothing fetched from elsewhere).

Each chart carries a title and a description for screen readers; the pages show the same figures in a
table next to it for anyone who would rather read numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 34


def _frame(title: str, description: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>{''.join(body)}</svg>"
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return float(step * 4 if step * 4 >= value else value)
    return float(value)


def _axes(y_max: float, ticks: int = 4, fmt: str = "{:g}") -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = []
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = TOP + plot_h - plot_h * i / ticks
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{fmt.format(value)}</text>')
    return out


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, len(labels) // 10)  # at most about ten labels under the axis
    out = []
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            y = HEIGHT - BOTTOM + 16
            out.append(f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="middle">{escape(label)}</text>')
    return out


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], unit: str = ""
) -> Markup:
    """One bar per label, stacked from ``series`` (name, values, CSS class); a legend below."""
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    body = _axes(y_max)
    for i, label in enumerate(labels):
        y = float(TOP + plot_h)
        for name, values, css in series:
            h = plot_h * values[i] / y_max
            y -= h
            if h > 0:
                body.append(
                    f'<rect class="{css}" x="{LEFT + slot * i + slot * 0.15:.1f}" y="{y:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{h:.1f}"><title>{escape(label)}: {values[i]:g} {escape(name)}'
                    f"</title></rect>"
                )
    body += _x_labels(labels, slot)
    x = LEFT
    for name, _, css in series:
        body.append(f'<rect class="{css}" x="{x}" y="{HEIGHT - 12}" width="10" height="10"/>')
        body.append(f'<text class="legend" x="{x + 14}" y="{HEIGHT - 3}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    described = "; ".join(
        f"{label}: " + ", ".join(f"{s[1][i]:g} {s[0]}" for s in series) for i, label in enumerate(labels)
    )
    return _frame(title, described or "no data", body)


def line(
    title: str, labels: Sequence[str], values: Sequence[float | None], y_max: float, fmt: str = "{:.1f}"
) -> Markup:
    """A line with dots; gaps where a value is missing (a day without ratings)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    body = _axes(y_max, fmt="{:g}")
    points: list[tuple[float, float]] = []
    segments: list[list[tuple[float, float]]] = [points]
    for i, value in enumerate(values):
        if value is None:
            points = []
            segments.append(points)
            continue
        x, y = LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * value / y_max
        points.append((x, y))
        body.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(labels[i])}: {fmt.format(value)}'
            f"</title></circle>"
        )
    for seg in segments:
        if len(seg) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            body.insert(0, f'<polyline class="line" points="{path}"/>')
    body += _x_labels(labels, slot)
    described = "; ".join(
        f"{label}: {fmt.format(v) if v is not None else 'none'}" for label, v in zip(labels, values, strict=True)
    )
    return _frame(title, described or "no data", body)


def hbars(title: str, items: Sequence[tuple[str, float]], css: str = "bar-a") -> Markup:
    """Horizontal bars, one per item (e.g. calls per language)."""
    row, label_w = 22, 60
    height = TOP + row * max(1, len(items)) + 8
    top = max((v for _, v in items), default=0) or 1
    plot_w = WIDTH - label_w - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = TOP + row * i
        w = plot_w * value / top
        body.append(f'<text class="tick" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect class="{css}" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}"/>')
        body.append(f'<text class="tick" x="{label_w + w + 4:.1f}" y="{y + 14}">{value:g}</text>')
    described = "; ".join(f"{label}: {value:g}" for label, value in items)
    return _frame(title, described or "no data", body, height=height)
