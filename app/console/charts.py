"""Charts as inline SVG, drawn on the server: no chart library, no script, and the numbers
are in the page for screen readers (a table beside each chart says the same).

Colours are from a palette whose every entry has at least 3:1 contrast on white (WCAG's
figure for graphics); series are also told apart by their legend order and a marker shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0b57d0", "#b3261e", "#146c2e", "#7a4d00", "#6a1b9a")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 12, 12, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return float(step * factor)
    return float(value)


def _fmt(value: float, percent: bool) -> str:
    return f"{value * 100:.0f}%" if percent else f"{value:g}"


def _frame(labels: Sequence[str], top: float, percent: bool, title: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="15" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c9d1da"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4a5360">'
            f"{_fmt(value, percent)}</text>"
        )
    every = max(1, -(-len(labels) // 7))  # at most seven labels under the axis
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 22}" text-anchor="middle" '
                f'fill="#4a5360">{escape(label)}</text>'
            )
    return parts


def bars(labels: Sequence[str], series: Sequence[Series], *, title: str) -> Markup:
    """Grouped bars, one group per label."""
    top = _nice_max(max((v or 0 for s in series for v in s.values), default=0))
    parts = _frame(labels, top, False, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    width = slot * 0.8 / max(1, len(series))
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        for i, value in enumerate(s.values):
            if not value:
                continue
            h = plot_h * value / top
            x = LEFT + slot * i + slot * 0.1 + width * k
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(s.name)} {escape(labels[i])}: '
                f"{value:g}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    labels: Sequence[str], series: Sequence[Series], *, title: str, percent: bool = False
) -> Markup:
    """Lines with a marker per point; a missing value (no data that day) breaks the line."""
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    top = 1.0 if percent else _nice_max(highest)
    parts = _frame(labels, top, percent, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, value in enumerate(s.values):
            if value is None:
                run = []
                runs.append(run)
                continue
            x, y = LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * min(value, top) / top
            run.append(f"{x:.1f},{y:.1f}")
            marker = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                if k % 2 == 0
                else f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" '
                f'fill="{colour}">'
            )
            parts.append(
                f"{marker}<title>{escape(s.name)} {escape(labels[i])}: "
                f"{_fmt(value, percent)}</title>{'</circle>' if k % 2 == 0 else '</rect>'}"
            )
        for points in runs:
            if len(points) > 1:
                parts.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"/>'
                )
    parts.append("</svg>")
    return Markup("".join(parts))
