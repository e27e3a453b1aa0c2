"""The server-drawn SVG charts: scaled axes, escaped labels, gaps where a day has no data."""

from __future__ import annotations

import re

from app.console.charts import PALETTE, Series, _nice_max, bars, lines
from app.console.web import HERE
from tests.console.test_pages import _luminance


def test_axis_tops_are_round_numbers_above_the_data() -> None:
    assert [_nice_max(v) for v in (0, 0.4, 3, 7, 12, 480, 1001)] == [1, 1, 5, 10, 20, 500, 2000]


def test_bars_scale_to_the_axis_and_labels_are_escaped() -> None:
    svg = str(bars(["<b>", "d2"], [Series("a&b", [5, 0]), Series("c", [None, 10])], title="T<"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a&amp;b" in svg
    assert 'aria-label="T&lt;"' in svg and svg.startswith("<svg")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2 and heights[1] == 2 * heights[0]  # 10 is twice 5; zeros not drawn


def test_a_missing_value_breaks_the_line_and_rates_read_as_percent() -> None:
    svg = str(
        lines(["1", "2", "3", "4"], [Series("r", [0.5, 0.25, None, 1.0])], title="t", percent=True)
    )
    assert svg.count("<polyline") == 1  # the points after the gap stand alone
    assert svg.count("<circle") == 3
    assert "100%" in svg and "r 2: 25%" in svg


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_chart_colours_and_workspace_backgrounds_meet_wcag_aa() -> None:
    assert all(_contrast(colour, "#ffffff") >= 3 for colour in PALETTE)  # graphics: 3:1
    css = (HERE / "static" / "workspace.css").read_text()
    backgrounds = set(re.findall(r"background: (#[0-9a-f]{6})", css))
    assert backgrounds  # the message bubbles and the highlighted queue item
    for background in backgrounds:
        for text in ("#1b1f24", "#4a5360", "#0b57d0"):  # --fg, --muted, --accent
            assert _contrast(text, background) >= 4.5, (text, background)
