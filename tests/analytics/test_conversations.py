"""Searching conversations by channel, route, feedback, handoff, date and text; the detail
page carries each answer's rating and each turn's trace."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.analytics.conftest import NOW, Seeded, SeedFn
from tests.analytics.test_summary import SPEC


@pytest.fixture
def seeded(seed: SeedFn) -> Seeded:
    return seed(SPEC)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"faq", "fee", "human", "order", "mixed", "old"}),
        ({"channel": "openai"}, {"human", "order"}),
        ({"route": "faq"}, {"faq"}),
        ({"route": "handoff"}, {"human"}),
        ({"feedback": "down"}, {"fee", "old"}),
        ({"feedback": "up"}, {"faq"}),
        ({"feedback": "any"}, {"faq", "fee", "old"}),
        ({"feedback": "none"}, {"human", "order", "mixed"}),
        ({"handoff": "true"}, {"human", "order"}),
        ({"handoff": "false"}, {"faq", "fee", "mixed", "old"}),
        ({"q": "运费"}, {"fee", "mixed"}),
        ({"q": "DELIVERY"}, {"faq"}),
        ({"q": "100%"}, set()),
        ({"channel": "web", "feedback": "down", "handoff": "false"}, {"fee", "old"}),
    ],
)
def test_filters(
    client: TestClient,
    admin_secret: str,
    seeded: Seeded,
    params: dict[str, str],
    expected: set[str],
) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    res = client.get("/admin/conversations", params=params, headers=admin)
    assert res.status_code == 200, res.text
    names = {v: k for k, v in seeded.conversations.items()}
    page = res.json()
    assert {names[i["id"]] for i in page["items"]} == expected
    assert page["total"] == len(expected)


def test_rows_and_paging(client: TestClient, admin_secret: str, seeded: Seeded) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    first = client.get("/admin/conversations", params={"limit": 4}, headers=admin).json()
    rest = client.get(
        "/admin/conversations", params={"limit": 4, "offset": 4}, headers=admin
    ).json()
    assert first["total"] == rest["total"] == 6
    assert len(first["items"]) == 4 and len(rest["items"]) == 2
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in rest["items"]}
    row = next(
        i for i in first["items"] + rest["items"] if i["id"] == seeded.conversations["order"]
    )
    assert row["channel"] == "openai" and row["messages"] == 4
    assert row["first_question"] == "我的订单到哪了"
    assert row["routes"] == ["llm"] and row["handoff"] is True
    assert (row["feedback_up"], row["feedback_down"]) == (0, 0)


def test_date_range(client: TestClient, admin_secret: str, seeded: Seeded) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    params: dict[str, Any] = {"start": (NOW - timedelta(days=40)).isoformat(),
                              "end": (NOW - timedelta(days=20)).isoformat()}  # fmt: skip
    # Conversations are stamped by the database clock; the old one's messages are backdated,
    # so only its last activity says "old": the range filters on activity.
    res = client.get("/admin/conversations", params=params, headers=admin)
    assert res.status_code == 200, res.text
    assert res.json()["total"] == 0
    later = client.get(
        "/admin/conversations",
        params={"start": (NOW + timedelta(days=1)).isoformat()},
        headers=admin,
    )
    assert later.json()["total"] == 0


def test_bad_filters_are_refused(client: TestClient, admin_secret: str) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    for params in ({"feedback": "meh"}, {"handoff": "perhaps"}, {"limit": 0}, {"q": ""}):
        res = client.get("/admin/conversations", params=params, headers=admin)
        assert res.status_code == 422, (params, res.text)
        assert res.json()["error"]["code"] == "validation_error"


def test_detail_carries_feedback_and_traces(
    client: TestClient, admin_secret: str, seeded: Seeded
) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    cid = seeded.conversations["fee"]
    detail = client.get(f"/admin/conversations/{cid}", headers=admin).json()
    rated = {m["id"]: m["feedback"] for m in detail["messages"]}
    disliked = rated[seeded.answers["退货的运费由谁承担？"]]
    assert disliked["rating"] == "down" and disliked["comment"] == "没回答我的问题"
    assert rated[seeded.answers["退货运费谁出？"]] is None
    assert len(detail["traces"]) == 2
    assert detail["traces"][0]["timings"]["total_ms"] == 2000.0
    assert detail["traces"][0]["retrieved"][0]["dense_score"] == 0.70
    assert detail["traces"][0]["citations"] == []
