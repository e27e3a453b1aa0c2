"""Every analytics figure over seeded conversations with known outcomes, on both databases:
volume, routes, resolution and handoff rates and reasons, time to answer, feedback, by channel
and by knowledge base; the knowledge gaps grouped by meaning; the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.analytics.gaps import group
from app.analytics.turns import Turn
from app.feedback.models import Rating
from tests.analytics.conftest import NOW, Seeded, SeedFn, T

ORDER = {"name": "get_order", "arguments": {"order_id": "YF1"}, "result": {"status": "shipped"}}
HUMAN = {"name": "request_human", "arguments": {"reason": "complaint"}, "result": {"handoff": True}}
RETURN_FEE = ["退货运费谁出？", "退货的运费由谁承担？", "退货运费是谁付的"]
INVOICE = "发票抬头写错了怎么改"

SPEC: dict[str, tuple[str, list[T]]] = {
    # Answered from the FAQ, and the customer liked it: resolved.
    "faq": ("web", [T("How long does delivery take?", route="faq", total_ms=100, cited=True,
                      score=0.95, rating=Rating.UP)]),
    # Weak evidence twice, then a thumbs-down: not resolved, two gap questions.
    "fee": ("web", [T(RETURN_FEE[0], total_ms=2000, score=0.70, document=True),
                    T(RETURN_FEE[1], total_ms=3000, score=0.75, document=True,
                      rating=Rating.DOWN, comment="没回答我的问题")]),
    # The router handed off: not resolved.
    "human": ("openai", [T("转人工", route="handoff", total_ms=50, intent="handoff.human")]),
    # An order looked up (no gap: a tool answered), then the agent handed off.
    "order": ("openai", [T("我的订单到哪了", total_ms=500, score=0.5, tools=(ORDER,)),
                         T("太慢了我要投诉", total_ms=4000, score=0.4, tools=(HUMAN,))]),
    # A gap paraphrase, a confident cited answer, an unrelated gap: resolved (nobody 👎).
    "mixed": ("web", [T(RETURN_FEE[2], total_ms=1000, score=0.6),
                      T("积分可以兑换现金吗", total_ms=800, score=0.95, cited=True),
                      T(INVOICE, total_ms=1200, score=0.5)]),
    # Outside the range: counted nowhere.
    "old": ("web", [T("旧问题", total_ms=9000, at=NOW - timedelta(days=30),
                      rating=Rating.DOWN)]),
}  # fmt: skip


@pytest.fixture
def seeded(seed: SeedFn) -> Seeded:
    return seed(SPEC)


def _range(**extra: Any) -> dict[str, Any]:
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    return {"start": start.isoformat(), "end": end.isoformat(), **extra}


def test_summary_figures(client: TestClient, admin_secret: str, seeded: Seeded) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    res = client.get("/admin/analytics/summary", params=_range(), headers=admin)
    assert res.status_code == 200, res.text
    s = res.json()
    assert s["conversations"] == 5
    assert s["answers"] == 9
    assert s["messages"] == {"assistant": 9, "user": 9}
    assert s["routes"] == {"llm": 7, "faq": 1, "handoff": 1}
    # Resolved: faq and mixed; fee got a 👎, human and order were handed off.
    assert s["resolution_rate"] == 0.4
    assert s["handoff_rate"] == 0.4
    assert s["handoff_reasons"] == {"handoff.human": 1, "complaint": 1}
    # 50 100 500 800 1000 1200 2000 3000 4000: the median is the 5th; p95 lies at rank 7.6.
    assert s["time_to_answer"] == {"answers": 9, "median_ms": 1000.0, "p95_ms": 3600.0}
    assert s["feedback"] == {
        "answers": 9, "up": 1, "down": 1, "rated_share": 0.2222, "up_ratio": 0.5
    }  # fmt: skip
    web, openai = s["by_channel"]["web"], s["by_channel"]["openai"]
    assert (web["conversations"], web["answers"], web["resolution_rate"]) == (3, 6, 0.6667)
    assert (web["handoff_rate"], web["feedback"]["down"]) == (0.0, 1)
    assert (openai["conversations"], openai["handoff_rate"], openai["resolution_rate"]) == (
        2, 1.0, 0.0
    )  # fmt: skip
    assert openai["time_to_answer"]["median_ms"] == 500.0
    returns = s["by_knowledge_base"][seeded.kb]
    assert (returns["conversations"], returns["answers"], returns["resolution_rate"]) == (1, 2, 0.0)
    assert returns["messages"] == {"assistant": 2, "user": 2}
    assert s["by_knowledge_base"].keys() == {seeded.kb}  # document 999999 belongs to none

    only_web = client.get("/admin/analytics/summary", params=_range(channel="web"), headers=admin)
    assert only_web.json()["conversations"] == 3 and only_web.json()["by_channel"].keys() == {"web"}
    # The knowledge base: the turns whose retrieval or citations used its documents.
    kb = client.get(
        "/admin/analytics/summary", params=_range(knowledge_base=seeded.kb), headers=admin
    ).json()
    assert (kb["conversations"], kb["answers"], kb["resolution_rate"]) == (1, 2, 0.0)
    assert kb["knowledge_base"] == seeded.kb
    # A wider range takes in the old conversation and its 👎.
    wide = client.get(
        "/admin/analytics/summary",
        params={"start": (NOW - timedelta(days=60)).isoformat()},
        headers=admin,
    ).json()
    assert (wide["conversations"], wide["feedback"]["down"]) == (6, 2)


def test_summary_csv(client: TestClient, admin_secret: str, seeded: Seeded) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    res = client.get("/admin/analytics/summary.csv", params=_range(), headers=admin)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(res.text.lstrip("\ufeff"))))
    assert rows[0] == ["scope", "metric", "value"]
    values = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert values[("all", "resolution_rate")] == "0.4"
    assert values[("all", "route.llm")] == "7"
    assert values[("all", "handoff_reason.complaint")] == "1"
    assert values[("all", "time_to_answer.p95_ms")] == "3600.0"
    assert values[("channel:openai", "handoff_rate")] == "1.0"
    assert values[(f"knowledge_base:{seeded.kb}", "feedback.down")] == "1"


def test_knowledge_gaps_group_paraphrases_most_frequent_first(
    client: TestClient, admin_secret: str, seeded: Seeded
) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    res = client.get("/admin/analytics/knowledge-gaps", params=_range(), headers=admin)
    assert res.status_code == 200, res.text
    g = res.json()
    # Not gaps: the FAQ answer, the confident cited one, the tool's, the handoffs.
    assert g["questions"] == 4
    first, second = g["groups"]
    assert first["question"] == RETURN_FEE[0]
    assert (first["count"], first["conversations"]) == (3, 2)
    assert first["reasons"] == {"low_confidence": 3, "not_found": 3, "thumbs_down": 1}
    assert sorted(e["question"] for e in first["examples"]) == sorted(RETURN_FEE)
    disliked = next(e for e in first["examples"] if e["question"] == RETURN_FEE[1])
    assert disliked["comment"] == "没回答我的问题"
    assert disliked["message_id"] == seeded.answers[RETURN_FEE[1]]
    assert disliked["reasons"] == ["low_confidence", "not_found", "thumbs_down"]
    assert disliked["top_score"] == 0.75
    assert (second["question"], second["count"]) == (INVOICE, 1)

    exported = client.get("/admin/analytics/knowledge-gaps.csv", params=_range(), headers=admin)
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [(r["group"], r["question"]) for r in rows if r["group"] == "2"] == [("2", INVOICE)]
    assert {r["question"] for r in rows if r["group"] == "1"} == set(RETURN_FEE)
    assert {r["group_count"] for r in rows if r["group"] == "1"} == {"3"}


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, 422, "unprocessable"),
        ({"start": "yesterday"}, 422, "validation_error"),
        ({"knowledge_base": "nope"}, 404, "not_found"),
    ],
)
def test_bad_ranges_are_refused(
    client: TestClient, admin_secret: str, params: dict[str, str], status: int, code: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_secret}"}
    res = client.get("/admin/analytics/summary", params=params, headers=admin)
    assert res.status_code == status, res.text
    assert res.json()["error"]["code"] == code


def test_analytics_need_an_admin_key(client: TestClient, session_factory: Any) -> None:
    from app.auth import service as auth_service
    from app.auth.models import Role

    with session_factory() as s:
        key = auth_service.create(db_session=s, name="c", role=Role.CLIENT)
        s.commit()
    for path in ("/admin/analytics/summary", "/admin/analytics/knowledge-gaps",
                 "/admin/conversations"):  # fmt: skip
        assert client.get(path).status_code == 401
        res = client.get(path, headers={"Authorization": f"Bearer {key.secret}"})
        assert res.status_code == 403 and res.json()["error"]["message"]


def test_knowledge_gaps_embed_each_question_once_across_loads() -> None:
    # The page is reloaded over overlapping ranges; only questions new since need the model.
    class Counting:
        def __init__(self) -> None:
            self.embedded: list[str] = []

        def embed_queries(self, texts: list[str]) -> Any:
            self.embedded.extend(texts)
            return [[1.0, float(len(t))] for t in texts]

    def turn(n: int, question: str) -> Turn:
        # An agent's answer that found nothing: a gap ("not_found").
        return Turn(
            message_id=n,
            conversation_id=f"c{n}",
            channel="web",
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
            route="llm",
            question=question,
            answer="抱歉，我没有找到相关信息。",
        )

    embedder = Counting()
    first = [turn(1, "退货运费谁出"), turn(2, "how do refunds work")]
    group(first, embedder=embedder, min_score=0.8, similarity=0.95)  # type: ignore[arg-type]
    group([*first, turn(3, "能开发票吗")], embedder=embedder, min_score=0.8, similarity=0.95)  # type: ignore[arg-type]
    assert sorted(embedder.embedded) == sorted(
        ["退货运费谁出", "how do refunds work", "能开发票吗"]
    )
