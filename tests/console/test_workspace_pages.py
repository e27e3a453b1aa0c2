"""The conversations, handoff and analytics pages through the console's own session (both
databases): who sees what, the handoff changes acting as the signed-in person, and a
transcript showing a turn's trace."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app.console import i18n
from app.console.handoff_routes import SCRIPT_WORDS
from app.console.models import ConsoleRole
from app.console.web import HERE
from app.conversation import service as conversation_service
from app.conversation.models import MessageRole
from app.feedback import service as feedback_service
from app.feedback.models import Rating
from app.main import create_app
from app.runtime import Runtime
from tests.console.support import make_user, page_token, sign_in
from tests.handoff.conftest import make_conversation

HTML = {"Accept": "text/html"}


def _traced_conversation(factory: sessionmaker[Session]) -> str:
    with factory.begin() as s:
        conv = conversation_service.create(
            db_session=s, channel="web", external_user_id="v1", customer_id=None
        )
        asked = conversation_service.add_message(
            db_session=s, conversation=conv, role=MessageRole.USER, content="我的订单到哪了"
        )
        answer = conversation_service.add_message(
            db_session=s,
            conversation=conv,
            role=MessageRole.ASSISTANT,
            content="您的订单已发货。[1]",
            reply_to_id=asked.id,
            route="llm",
            latency_ms=812,
        )
        passage = {"chunk_id": "doc7-3", "document_id": 7, "source": "shipping.md"}
        conversation_service.add_trace(
            db_session=s,
            conversation_id=conv.id,
            message_id=answer.id,
            route="llm",
            intent=None,
            confidence=0.87,
            retrieved=[{**passage, "score": 0.031, "dense_score": 0.912, "keyword_score": 1.2}],
            tool_calls=[
                {
                    "round": 1,
                    "name": "get_order",
                    "arguments": {"order_id": "SO123"},
                    "result": {"ok": True, "status": "已发货"},
                    "ms": 12.5,
                }
            ],
            citations=[
                {"n": 1, **passage, "heading_path": ["配送"], "excerpt": "下单后48小时内发货"}
            ],
            prompt_version="agent-v3",
            timings={"route_ms": 4.0, "total_ms": 790.0},
        )
        feedback_service.record(
            db_session=s, message=answer, rating=Rating.DOWN, comment="太慢", source="test"
        )
        return conv.id


def test_agents_see_conversations_and_handoff_admins_also_analytics(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "amy", ConsoleRole.AGENT)
    conv_id = _traced_conversation(session_factory)
    sign_in(client, "amy")
    listed = client.get("/console/conversations", params={"route": "llm"}, headers=HTML)
    assert listed.status_code == 200 and "我的订单到哪了" in listed.text
    none = client.get("/console/conversations", params={"route": "faq"}, headers=HTML)
    assert "我的订单到哪了" not in none.text
    for bad in (
        {"start": "yesterday"},
        {"route": "nope"},
        {"start": "2026-12-02", "end": "2026-12-01"},
    ):
        assert client.get("/console/conversations", params=bad).status_code == 422, bad
    page = client.get(f"/console/conversations/{conv_id}", headers=HTML)
    assert page.status_code == 200
    for shown in (
        "shipping.md",
        "下单后48小时内发货",
        "get_order",
        "SO123",
        "agent-v3",
        "790",
        "太慢",
    ):
        assert shown in page.text, shown
    for lang, word in (("zh", "人工接待"), ("en", "Handoff")):
        client.get(f"/console/lang/{lang}?next=/console/handoff", follow_redirects=False)
        for path in (
            "/console/handoff",
            "/console/conversations",
            f"/console/conversations/{conv_id}",
        ):
            page = client.get(path, headers=HTML)
            assert page.status_code == 200 and word in page.text, (path, lang)
    assert client.get("/console/analytics", headers=HTML).status_code == 403
    token = page_token(client, "/console/handoff")
    refused = client.post(
        "/console/handoff/canned", json={"title": "t", "text": "x"}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403


def test_claim_reply_release_as_the_signed_in_agent(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "amy", ConsoleRole.AGENT, display_name="小艾")
    make_user(session_factory, "ben", ConsoleRole.AGENT)
    conv_id = make_conversation(session_factory)
    # Two browsers: each client its own app (a lifespan runs once per app).
    with (
        TestClient(create_app(runtime=runtime)) as amy,
        TestClient(create_app(runtime=runtime)) as ben,
    ):
        sign_in(amy, "amy")
        sign_in(ben, "ben")
        a = {"X-CSRF-Token": page_token(amy, "/console/handoff")}
        b = {"X-CSRF-Token": page_token(ben, "/console/handoff")}
        base = f"/console/handoff/conversations/{conv_id}"
        queue = amy.get("/console/handoff/queue").json()
        assert [q["id"] for q in queue] == [conv_id]
        assert amy.post(f"{base}/claim").status_code == 403  # no CSRF token
        claimed = amy.post(f"{base}/claim", headers=a)
        assert claimed.status_code == 200 and claimed.json()["assigned_agent"] == "amy"
        taken = ben.post(f"{base}/claim", headers=b)
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"
        assert ben.post(f"{base}/messages", headers=b, json={"text": "hi"}).status_code == 409
        sent = amy.post(f"{base}/messages", headers=a, json={"text": "您好，我是小艾"})
        assert sent.status_code == 201 and sent.json()["message"]["author"] == "小艾"
        assert amy.post(f"{base}/messages", headers=a, json={"text": " "}).status_code == 422
        assert ben.post(f"{base}/release", headers=b).status_code == 409
        released = amy.post(f"{base}/release", headers=a)
        assert released.status_code == 200 and released.json()["status"] == "bot"
        detail = amy.get(base).json()
        assert [m["author"] for m in detail["messages"] if m["role"] == "agent"] == ["小艾"]


def test_analytics_page_draws_the_charts(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "ada", ConsoleRole.ADMIN)
    _traced_conversation(session_factory)
    sign_in(client, "ada")
    for lang in ("zh", "en"):
        client.get(f"/console/lang/{lang}?next=/console/analytics", follow_redirects=False)
        page = client.get("/console/analytics", params={"days": 7}, headers=HTML)
        assert page.status_code == 200, page.text[:500]
        assert page.text.count("<svg") == 4
        for chart in ("traffic", "rates", "feedback", "latency"):
            assert f'data-chart="{chart}"' in page.text
        assert "我的订单到哪了" in page.text  # a thumbs-down answer is a knowledge gap
    today = datetime.now(UTC).date().isoformat()
    assert f"<td>{today}</td>" in page.text
    assert client.get("/console/analytics", params={"days": 5}).status_code == 422
    assert (datetime.now(UTC) - timedelta(days=1)).date().isoformat() in page.text


def test_admins_keep_the_canned_replies(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "ada", ConsoleRole.ADMIN)
    sign_in(client, "ada")
    token = {"X-CSRF-Token": page_token(client, "/console/handoff")}
    made = client.post(
        "/console/handoff/canned", json={"title": "问候", "text": "您好"}, headers=token
    )
    assert made.status_code == 201 and made.json()["updated_by"] == "ada"
    dup = client.post("/console/handoff/canned", json={"title": "问候", "text": "x"}, headers=token)
    assert dup.status_code == 409
    assert (
        client.post("/console/handoff/canned", json={"title": "t"}, headers=token).status_code
        == 422
    )
    assert "您好" in client.get("/console/handoff", headers=HTML).text
    reply_id = made.json()["id"]
    edited = client.put(
        f"/console/handoff/canned/{reply_id}",
        json={"title": "问候", "text": "您好！"},
        headers=token,
    )
    assert edited.status_code == 200
    assert [r["text"] for r in client.get("/console/handoff/canned").json()] == ["您好！"]
    assert client.delete(f"/console/handoff/canned/{reply_id}").status_code == 403  # no token
    assert client.delete(f"/console/handoff/canned/{reply_id}", headers=token).status_code == 204
    assert client.get("/console/handoff/canned").json() == []


def test_every_word_the_workspace_script_shows_is_handed_to_it() -> None:
    script = (HERE / "static" / "handoff.js").read_text()
    used = set(re.findall(r'W\["([a-z_.]+)"\]', script))
    used |= {f"{prefix}.{v}" for prefix in ("status", "who") for v in STATES[prefix]}
    assert used <= set(SCRIPT_WORDS)
    assert all(key in i18n.words() for key in SCRIPT_WORDS)


STATES = {
    "status": ("bot", "awaiting_human", "human", "closed"),
    "who": ("user", "assistant", "system"),
}
