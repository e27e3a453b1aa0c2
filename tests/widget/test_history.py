"""What a visitor sees of a conversation beyond one answer: an agent's messages live and in
the history (with the agent's name), and retries of a message answered or stored once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi.testclient import TestClient

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, Message, MessageRole
from app.runtime import Runtime
from tests.widget.conftest import HostSite, Keys
from tests.widget.test_api import body, counts, parse_sse, start_conversation, visitor_headers


def test_live_events_reach_the_visitor(
    kefu_url: str,
    api: TestClient,
    admin_api: httpx.Client,
    keys: Keys,
    host_site: HostSite,
) -> None:
    """Over a real socket: the stream says ``ready`` once subscribed, then forwards the agent's
    side of a handoff (only the fields a visitor may see)."""
    h = visitor_headers(api, keys.client, host_site.url)
    cid = start_conversation(api, keys.client, host_site.url, h)
    got: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()

    def listen() -> None:
        url = f"{kefu_url}/widget/api/conversations/{cid}/events"
        with httpx.stream("GET", url, headers=h, timeout=30) as r:
            assert r.status_code == 200
            buf = ""
            for text in r.iter_text():
                buf += text
                while "\n\n" in buf:
                    block, buf = buf.split("\n\n", 1)
                    got.extend(parse_sse(block + "\n\n"))
                    if got and got[-1][0] == "ready":
                        ready.set()
                    if len(got) >= 3:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(15), "no ready event"
    assert admin_api.post(f"/admin/conversations/{cid}/claim", json={"agent": "alice"}).is_success
    sent = admin_api.post(
        f"/admin/conversations/{cid}/messages", json={"agent": "alice", "text": "Hi, Alice here."}
    )
    assert sent.status_code == 201
    thread.join(15)
    assert [n for n, _ in got] == ["ready", "status", "agent_message"]
    assert got[1][1] == {"status": "human"}
    assert got[2][1]["content"] == "Hi, Alice here." and got[2][1]["agent"] == "alice"
    assert set(got[2][1]) == {"message_id", "content", "agent", "created_at"}


def test_history_names_the_agent_of_each_agent_message(
    api: TestClient, keys: Keys, host_site: HostSite
) -> None:
    """After a reload the frame shows who answered, as the live event did."""
    h = visitor_headers(api, keys.client, host_site.url)
    cid = start_conversation(api, keys.client, host_site.url, h)
    admin = {"Authorization": f"Bearer {keys.admin}"}
    for agent in ("alice", "bob 王"):
        assert api.post(
            f"/admin/conversations/{cid}/claim", json={"agent": agent}, headers=admin
        ).is_success
        for text in (f"{agent} here", "anything else?"):
            sent = api.post(
                f"/admin/conversations/{cid}/messages",
                json={"agent": agent, "text": text},
                headers=admin,
            )
            assert sent.status_code == 201
        assert api.post(
            f"/admin/conversations/{cid}/release", json={"agent": agent}, headers=admin
        ).is_success
    history = api.get(f"/widget/api/conversations/{cid}/messages", headers=h).json()
    shown = [(m["role"], m["content"], m["agent"]) for m in history["messages"]]
    assert shown[2:] == [
        ("agent", "alice here", "alice"),
        ("agent", "anything else?", "alice"),
        ("agent", "bob 王 here", "bob 王"),
        ("agent", "anything else?", "bob 王"),
    ]
    assert all(agent is None for role, _, agent in shown[:2])  # the visitor's and the bot's


def _pending_message(runtime: Runtime, cid: str, client_message_id: str) -> int:
    """A message a first attempt stored and did not answer."""
    with runtime.session_factory.begin() as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        user = conversation_service.add_message(
            db_session=s,
            conversation=conv,
            role=MessageRole.USER,
            content="how long does delivery take?",
            client_message_id=client_message_id,
        )
        return user.id


def test_a_retry_of_a_message_whose_first_attempt_died_is_answered_once(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    """The turn answers it (no attempt is running); the widget once waited a minute for an
    answer nobody was making, then gave up with ``in_progress``."""
    h = visitor_headers(api, keys.client, host_site.url)
    cid = start_conversation(api, keys.client, host_site.url, h)
    user_id = _pending_message(widget_runtime, cid, "attempt-0001")
    retry = body("how long does delivery take?", conversation_id=cid)
    retry["client_message_id"] = "attempt-0001"
    before = counts(widget_runtime)
    events = parse_sse(api.post("/widget/api/messages", json=retry, headers=h).text)
    assert "".join(d["text"] for n, d in events if n == "delta") == (
        "Orders arrive in **3-5 working days**."
    )
    done = events[-1]
    assert done[0] == "done" and done[1]["conversation_id"] == cid and done[1]["message_id"]
    assert counts(widget_runtime) == (before[0], before[1] + 1)  # the answer, not the question
    with widget_runtime.session_factory() as s:
        reply = s.get(Message, done[1]["message_id"])
        assert reply is not None and reply.reply_to_id == user_id

    # Once more: the stored answer is replayed, with its own message id.
    again = parse_sse(api.post("/widget/api/messages", json=retry, headers=h).text)
    assert again[-1][1]["replayed"] is True
    assert again[-1][1]["message_id"] == done[1]["message_id"]
    assert counts(widget_runtime) == (before[0], before[1] + 1)


def test_a_retry_while_a_person_holds_the_conversation_is_not_stored_twice(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    h = visitor_headers(api, keys.client, host_site.url)
    first = body("I want a human")
    events = parse_sse(api.post("/widget/api/messages", json=first, headers=h).text)
    assert [n for n, _ in events] == ["handoff", "delta", "done"]
    assert events[0][1]["reason"] and events[-1][1]["route"] == "handoff"
    cid = events[-1][1]["conversation_id"]

    waiting = body("are you there?", conversation_id=cid)
    events = parse_sse(api.post("/widget/api/messages", json=waiting, headers=h).text)
    assert events == [("done", ANY_DICT)] and events[0][1]["route"] == "human"
    before = counts(widget_runtime)
    again = parse_sse(api.post("/widget/api/messages", json=waiting, headers=h).text)
    assert [n for n, _ in again] == ["done"] and again[0][1]["route"] == "human"
    assert counts(widget_runtime) == before
    history = api.get(f"/widget/api/conversations/{cid}/messages", headers=h).json()
    assert history["status"] == "awaiting_human"
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        "I want a human",
        "are you there?",
    ]


class _Any:
    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.kind)


ANY_STR: Any = _Any(str)
ANY_DICT: Any = _Any(dict)
