"""The handoff admin API on both databases: queue, detail, claim, reply, release, close."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, ConversationStatus, Message, MessageRole
from tests.handoff.conftest import MakeConversation

S = ConversationStatus


def _url(conv_id: str, action: str = "") -> str:
    return f"/admin/conversations/{conv_id}" + (f"/{action}" if action else "")


def _messages(db_session: Session, conv_id: str) -> list[tuple[str, str]]:
    rows = db_session.execute(
        select(Message.role, Message.content)
        .where(Message.conversation_id == conv_id)
        .order_by(Message.id)
    ).all()
    return [(role.value, content) for role, content in rows]


def test_queue_lists_waiting_then_held_oldest_first(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation
) -> None:
    first = conversation(channel="wechat", external_user_id="o-1")
    second = conversation(
        messages=(
            (MessageRole.USER, "订单一直没到"),
            (MessageRole.ASSISTANT, "正在转人工"),
            (MessageRole.USER, "我的手机号 13812345678，快点"),
        )
    )
    held = conversation(status=S.HUMAN, assigned_agent="alice")
    bot_only = conversation(status=S.BOT)
    closed = conversation(status=S.CLOSED)

    resp = client.get("/admin/handoff/queue", headers=admin)
    assert resp.status_code == 200, resp.text
    items = resp.json()
    assert [i["id"] for i in items] == [first, second, held]
    assert {bot_only, closed}.isdisjoint(i["id"] for i in items)
    by_id = {i["id"]: i for i in items}
    # Agents need the real text; only logs are masked.
    assert by_id[second]["last_customer_message"] == "我的手机号 13812345678，快点"
    assert by_id[second]["message_count"] == 3
    assert by_id[first]["channel"] == "wechat" and by_id[first]["external_user_id"] == "o-1"
    assert by_id[held]["assigned_agent"] == "alice" and by_id[held]["status"] == "human"
    assert by_id[first]["waiting_since"] <= by_id[second]["waiting_since"]

    waiting = client.get("/admin/handoff/queue?status=awaiting_human", headers=admin).json()
    assert [i["id"] for i in waiting] == [first, second]
    bad = client.get("/admin/handoff/queue?status=closed", headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_detail_has_messages_and_404_for_unknown(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation
) -> None:
    conv_id = conversation()
    body = client.get(_url(conv_id), headers=admin).json()
    assert body["conversation"]["id"] == conv_id
    assert body["conversation"]["status"] == "awaiting_human"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "我要转人工"),
        ("assistant", "好的，正在为您转接人工客服。"),
    ]
    assert body["traces"] == []

    for path, method in [
        (_url("nope"), "GET"),
        (_url("nope", "claim"), "POST"),
        (_url("nope", "release"), "POST"),
        (_url("nope", "close"), "POST"),
        (_url("nope", "messages"), "POST"),
    ]:
        resp = client.request(method, path, headers=admin, json={"agent": "a", "text": "hi"})
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["error"]["code"] == "not_found"


def test_claim_is_exclusive_and_idempotent(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation, db_session: Session
) -> None:
    conv_id = conversation()
    won = client.post(_url(conv_id, "claim"), headers=admin, json={"agent": "alice"})
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "human" and won.json()["assigned_agent"] == "alice"

    again = client.post(_url(conv_id, "claim"), headers=admin, json={"agent": " alice "})
    assert again.status_code == 200 and again.json()["assigned_agent"] == "alice"

    lost = client.post(_url(conv_id, "claim"), headers=admin, json={"agent": "bob"})
    assert lost.status_code == 409
    error = lost.json()["error"]
    assert error["code"] == "already_claimed" and "alice" in error["message"]
    assert error["details"]["assigned_agent"] == "alice"

    conv = db_session.get(Conversation, conv_id, populate_existing=True)
    assert conv is not None and conv.status == S.HUMAN and conv.assigned_agent == "alice"
    # One audit line: the idempotent repeat and the refused claim change nothing.
    assert [m for m in _messages(db_session, conv_id) if m[0] == "system"] == [
        ("system", "claimed by alice")
    ]


def test_claim_from_the_bot_and_not_when_closed(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation
) -> None:
    active = conversation(status=S.BOT)
    resp = client.post(_url(active, "claim"), headers=admin, json={"agent": "alice"})
    assert resp.status_code == 200 and resp.json()["status"] == "human"

    closed = conversation(status=S.CLOSED)
    resp = client.post(_url(closed, "claim"), headers=admin, json={"agent": "alice"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "conversation_closed"

    empty = client.post(_url(active, "claim"), headers=admin, json={"agent": "   "})
    assert empty.status_code == 422


def test_only_the_holder_replies_and_limits_hold(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation, db_session: Session
) -> None:
    conv_id = conversation()
    before = _messages(db_session, conv_id)
    url = _url(conv_id, "messages")
    unclaimed = client.post(url, headers=admin, json={"agent": "alice", "text": "您好"})
    assert unclaimed.status_code == 409 and unclaimed.json()["error"]["code"] == "not_claimed"

    client.post(_url(conv_id, "claim"), headers=admin, json={"agent": "alice"})
    before = _messages(db_session, conv_id)
    other = client.post(url, headers=admin, json={"agent": "bob", "text": "您好"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "not_holder"
    assert other.json()["error"]["details"]["assigned_agent"] == "alice"

    limit = client.app.state.runtime.settings.limits.max_message_chars  # type: ignore[attr-defined]
    too_long = client.post(url, headers=admin, json={"agent": "alice", "text": "长" * (limit + 1)})
    assert too_long.status_code == 422 and too_long.json()["error"]["details"]["limit"] == limit
    blank = client.post(url, headers=admin, json={"agent": "alice", "text": " \n "})
    assert blank.status_code == 422
    assert _messages(db_session, conv_id) == before

    sent = client.post(
        url, headers=admin, json={"agent": "alice", "text": " 您好，我是客服 Alice "}
    )
    assert sent.status_code == 201, sent.text
    msg = sent.json()["message"]
    assert msg["role"] == "agent" and msg["content"] == "您好，我是客服 Alice"
    assert msg["author"] == "alice"  # stored: the customer's history names the agent
    assert _messages(db_session, conv_id)[-1] == ("agent", "您好，我是客服 Alice")
    detail = client.get(f"/admin/conversations/{conv_id}", headers=admin).json()
    assert [m["author"] for m in detail["messages"] if m["role"] == "agent"] == ["alice"]


def test_a_retried_agent_message_is_stored_once(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation, db_session: Session
) -> None:
    conv_id = conversation(status=S.HUMAN, assigned_agent="alice")
    body = {"agent": "alice", "text": "已为您退款", "client_message_id": "agent-1"}
    first = client.post(_url(conv_id, "messages"), headers=admin, json=body)
    retry = client.post(_url(conv_id, "messages"), headers=admin, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["replayed"] and not first.json()["replayed"]
    assert retry.json()["message"]["id"] == first.json()["message"]["id"]
    assert _messages(db_session, conv_id).count(("agent", "已为您退款")) == 1

    reused = client.post(
        _url(conv_id, "messages"), headers=admin, json={**body, "text": "something else"}
    )
    assert reused.status_code == 409
    # The same id and text from another agent is another message, not a retry of alice's.
    theirs = client.post(_url(conv_id, "messages"), headers=admin, json={**body, "agent": "bob"})
    assert theirs.status_code == 409
    assert theirs.json()["error"]["code"] == "client_message_id_reused"


def test_release_and_close(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation, db_session: Session
) -> None:
    conv_id = conversation(status=S.HUMAN, assigned_agent="alice", external_user_id="o-9")
    open_conv = conversation_service.find_open(
        db_session=db_session, channel="web", external_user_id="o-9"
    )
    assert open_conv is not None and open_conv.id == conv_id
    wrong = client.post(_url(conv_id, "release"), headers=admin, json={"agent": "bob"})
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "not_holder"
    wrong_close = client.post(_url(conv_id, "close"), headers=admin, json={"agent": "bob"})
    assert wrong_close.status_code == 409

    for _ in range(2):  # the second release changes nothing
        resp = client.post(_url(conv_id, "release"), headers=admin, json={"agent": "alice"})
        assert resp.status_code == 200
        assert resp.json()["status"] == "bot" and resp.json()["assigned_agent"] is None

    for _ in range(2):
        resp = client.post(_url(conv_id, "close"), headers=admin)
        assert resp.status_code == 200 and resp.json()["status"] == "closed"
    reopen = client.post(_url(conv_id, "release"), headers=admin, json={"agent": "alice"})
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "conversation_closed"

    assert [m for m in _messages(db_session, conv_id) if m[0] == "system"] == [
        ("system", "released to the bot by alice"),
        ("system", "closed"),
    ]
    # A closed conversation is not continued: the channel user starts a new one.
    assert (
        conversation_service.find_open(db_session=db_session, channel="web", external_user_id="o-9")
        is None
    )


def test_an_unclaimed_conversation_goes_back_to_the_bot(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation
) -> None:
    conv_id = conversation()
    resp = client.post(_url(conv_id, "release"), headers=admin, json={"agent": "alice"})
    assert resp.status_code == 200 and resp.json()["status"] == "bot"
    assert client.get("/admin/handoff/queue", headers=admin).json() == []


def test_only_admin_keys(
    client: TestClient, client_key: dict[str, str], conversation: MakeConversation
) -> None:
    conv_id = conversation()
    for method, path in [
        ("GET", "/admin/handoff/queue"),
        ("GET", "/admin/handoff/events"),
        ("GET", _url(conv_id)),
        ("POST", _url(conv_id, "claim")),
        ("POST", _url(conv_id, "messages")),
        ("POST", _url(conv_id, "release")),
        ("POST", _url(conv_id, "close")),
    ]:
        resp = client.request(method, path, headers=client_key, json={"agent": "a", "text": "x"})
        assert resp.status_code == 403, (path, resp.text)
        assert resp.json()["error"]["code"] == "forbidden"
        assert client.request(method, path).status_code == 401
