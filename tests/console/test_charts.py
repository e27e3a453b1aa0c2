"""The server-drawn SVG charts: scaled axes, escaped labels, gaps where a day has no data."""

from __future__ import annotations

import re

from app.console.charts import Series, _nice_max, bars, lines


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
