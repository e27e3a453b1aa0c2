"""The summary's figures day by day (the analytics charts), on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.feedback.models import Rating
from tests.analytics.conftest import NOW, Seeded, SeedFn, T


def test_every_day_of_the_range_with_that_days_figures(
    client: TestClient, admin_secret: str, seed: SeedFn
) -> None:
    yesterday = NOW - timedelta(days=1)
    seeded: Seeded = seed(
        {
            "a": ("web", [T("q1", at=yesterday, total_ms=100), T("q2", total_ms=300)]),
            "b": ("web", [T("q3", route="handoff", intent="human", total_ms=50)]),
            "c": ("wechat", [T("q4", rating=Rating.DOWN, total_ms=200)]),
        }
    )
    assert seeded.conversations
    admin = {"Authorization": f"Bearer {admin_secret}"}
    params: dict[str, Any] = {
        "start": (NOW - timedelta(days=3)).isoformat(),
        "end": (NOW + timedelta(seconds=1)).isoformat(),
    }
    res = client.get("/admin/analytics/daily", params=params, headers=admin)
    assert res.status_code == 200, res.text
    days = res.json()["days"]
    assert [d["day"] for d in days] == [
        (NOW - timedelta(days=i)).date().isoformat() for i in (3, 2, 1, 0)
    ]
    empty, before, today = days[0], days[2], days[3]
    assert (empty["answers"], empty["resolution_rate"], empty["time_to_answer"]["median_ms"]) == (
        0,
        None,
        None,
    )
    assert (before["conversations"], before["answers"], before["handoff_rate"]) == (1, 1, 0.0)
    assert (today["conversations"], today["answers"]) == (3, 3)
    assert today["handoff_rate"] == round(1 / 3, 4)
    assert today["resolution_rate"] == round(1 / 3, 4)  # b handed off, c thumbs-down
    assert today["feedback"]["down"] == 1 and today["time_to_answer"]["median_ms"] == 200.0
    # The days add up to the range's summary.
    summary = client.get("/admin/analytics/summary", params=params, headers=admin).json()
    assert sum(d["answers"] for d in days) == summary["answers"] == 4

    wechat = client.get(
        "/admin/analytics/daily", params={**params, "channel": "wechat"}, headers=admin
    )
    assert [d["answers"] for d in wechat.json()["days"]] == [0, 0, 0, 1]
    backwards = client.get(
        "/admin/analytics/daily",
        params={"start": params["end"], "end": params["start"]},
        headers=admin,
    )
    assert backwards.status_code == 422
    assert client.get("/admin/analytics/daily", params=params).status_code == 401
