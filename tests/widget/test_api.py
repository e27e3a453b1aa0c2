"""The widget's HTTP surface: embed script, frame page with CSP, the streaming message API,
history, live events, signed identities, and bad input refused with the error envelope."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.conversation.models import Conversation, Message
from app.conversation.schemas import ToolCallFinished, ToolCallStarted
from app.runtime import Runtime
from app.widget import identity, sse
from tests.widget.conftest import FAQ_QUESTION, HostSite, Keys


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def headers(key: str, origin: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Kefu-Origin": origin}


def visitor_headers(api: TestClient, key: str, origin: str) -> dict[str, str]:
    """One visitor's headers: the visitor token the frame page issues, as the frame sends it."""
    page = api.get("/widget/frame", params={"key": key, "origin": origin})
    found = re.search(r'data-visitor-token="([^"]+)"', page.text)
    assert found, page.text
    return headers(key, origin) | {"X-Kefu-Visitor-Token": found.group(1)}


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "text": text,
        "client_message_id": uuid.uuid4().hex,
        "visitor_id": uuid.uuid4().hex,
        **extra,
    }


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.session_factory() as s:
        return (
            s.scalar(select(func.count()).select_from(Conversation)) or 0,
            s.scalar(select(func.count()).select_from(Message)) or 0,
        )


def test_widget_js_is_public_cacheable_javascript(api: TestClient) -> None:
    res = api.get("/widget.js")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/javascript")
    assert "max-age" in res.headers["cache-control"]
    assert "data-key" in res.text and "postMessage" in res.text


def test_the_frame_is_locked_to_the_keys_origins(
    api: TestClient, keys: Keys, host_site: HostSite, other_site: HostSite
) -> None:
    ok = api.get("/widget/frame", params={"key": keys.client, "origin": host_site.url})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/html")
    csp = ok.headers["content-security-policy"]
    assert f"frame-ancestors {host_site.url}" in csp and "script-src 'self'" in csp
    assert f'data-origin="{host_site.url}"' in ok.text

    refused = api.get("/widget/frame", params={"key": keys.client, "origin": other_site.url})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    page = api.get(
        "/widget/frame",
        params={"key": keys.client, "origin": other_site.url},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 403 and "<p>" in page.text

    wrong = api.get("/widget/frame", params={"key": "kefu_" + "x" * 43, "origin": host_site.url})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"

    # A key without allowed origins is a private one (/v1): never put in a page.
    private = api.get("/widget/frame", params={"key": keys.open_client, "origin": other_site.url})
    assert private.status_code == 403
    assert private.json()["error"]["code"] == "private_key"


def test_the_frame_escapes_what_it_echoes(api: TestClient, keys: Keys) -> None:
    res = api.get(
        "/widget/frame",
        params={"key": keys.client, "origin": 'http://a"><script>x'},
        headers={"Accept": "text/html"},
    )
    assert res.status_code == 422 and res.headers["content-type"].startswith("text/html")
    assert "<script>" not in res.text and "&lt;script&gt;" in res.text


def test_admin_keys_are_refused_in_the_widget(
    api: TestClient, keys: Keys, host_site: HostSite
) -> None:
    res = api.post(
        "/widget/api/messages", json=body("hi"), headers=headers(keys.admin, host_site.url)
    )
    assert res.status_code == 403 and res.json()["error"]["code"] == "wrong_key_role"


def test_a_question_streams_an_answer_with_its_citation_and_history_keeps_it(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    h = visitor_headers(api, keys.client, host_site.url)
    first = body(FAQ_QUESTION)
    res = api.post("/widget/api/messages", json=first, headers=h)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(res.text)
    names = [name for name, _ in events]
    assert names[-1] == "done" and "delta" in names and "citations" in names
    answer = "".join(d["text"] for n, d in events if n == "delta")
    assert answer == "Orders arrive in **3-5 working days**."
    cited = next(d for n, d in events if n == "citations")["items"]
    assert [c["source"] for c in cited] == ["faq.csv"]
    done = events[-1][1]
    assert done["route"] == "faq" and done["message_id"] and not done["replayed"]
    cid = done["conversation_id"]

    # A retry of the same message (a dropped connection) is answered from storage, once.
    before = counts(widget_runtime)
    again = parse_sse(api.post("/widget/api/messages", json=first, headers=h).text)
    assert again[-1][1]["replayed"] is True and again[-1][1]["conversation_id"] == cid
    assert "".join(d["text"] for n, d in again if n == "delta") == answer
    assert counts(widget_runtime) == before

    # Without the conversation id (a first message retried), the visitor's open one is found.
    retried = parse_sse(
        api.post(
            "/widget/api/messages",
            json={**first, "conversation_id": None},
            headers=h,
        ).text
    )
    assert retried[-1][1]["conversation_id"] == cid and retried[-1][1]["replayed"]

    history = api.get(f"/widget/api/conversations/{cid}/messages", headers=h)
    assert history.status_code == 200
    msgs = history.json()["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["client_message_id"] == first["client_message_id"]
    assert msgs[1]["citations"][0]["source"] == "faq.csv"
    assert history.json()["status"] == "bot"
    with widget_runtime.session_factory() as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.channel == "web"
        visitor = h["X-Kefu-Visitor-Token"].rpartition(".")[0]
        assert conv.external_user_id == f"key:{keys.client_id}:{visitor}"


def start_conversation(
    api: TestClient, key: str, origin: str, h: dict[str, str] | None = None
) -> str:
    h = h or visitor_headers(api, key, origin)
    res = api.post("/widget/api/messages", json=body("hello"), headers=h)
    return str(parse_sse(res.text)[-1][1]["conversation_id"])


@pytest.mark.parametrize(
    "case",
    [
        "unknown_conversation",
        "another_keys_conversation",
        "wrong_key",
        "missing_key",
        "too_long",
        "body_too_large",
        "empty",
        "disallowed_origin",
        "missing_origin",
        "forged_identity",
        "non_ascii_identity",
        "bad_client_id",
    ],
)
def test_bad_input_gets_the_envelope_and_stores_nothing(
    case: str,
    api: TestClient,
    widget_runtime: Runtime,
    keys: Keys,
    host_site: HostSite,
    other_site: HostSite,
) -> None:
    h = headers(keys.client, host_site.url)
    msg = body("how long does delivery take?")
    expected = {
        "unknown_conversation": (404, "not_found"),
        "another_keys_conversation": (404, "not_found"),
        "wrong_key": (401, "unauthorized"),
        "missing_key": (401, "unauthorized"),
        "too_long": (422, "message_too_long"),
        "body_too_large": (413, "payload_too_large"),
        "empty": (422, "empty_message"),
        "disallowed_origin": (403, "origin_not_allowed"),
        "missing_origin": (403, "origin_not_allowed"),
        "forged_identity": (401, "invalid_identity"),
        "non_ascii_identity": (401, "invalid_identity"),
        "bad_client_id": (422, "validation_error"),
    }[case]
    if case == "unknown_conversation":
        msg["conversation_id"] = uuid.uuid4().hex
    elif case == "another_keys_conversation":
        msg["conversation_id"] = start_conversation(api, keys.other_client, host_site.url)
    elif case == "wrong_key":
        h["Authorization"] = "Bearer kefu_" + "y" * 43
    elif case == "missing_key":
        del h["Authorization"]
    elif case == "too_long":
        msg["text"] = "字" * (widget_runtime.settings.limits.max_message_chars + 1)
    elif case == "body_too_large":
        msg["text"] = "x" * (widget_runtime.settings.limits.max_body_bytes + 10)
    elif case == "empty":
        msg["text"] = "   "
    elif case == "disallowed_origin":
        h["X-Kefu-Origin"] = other_site.url
    elif case == "missing_origin":
        del h["X-Kefu-Origin"]
    elif case == "forged_identity":
        msg["identity"] = identity.sign("not-the-secret", "C1001")
    elif case == "non_ascii_identity":
        msg["identity"] = identity.sign("not-the-secret", "C1001")[:-2] + "签名"
    elif case == "bad_client_id":
        msg["client_message_id"] = "<x>"
    before = counts(widget_runtime)
    res = api.post("/widget/api/messages", json=msg, headers=h)
    assert (res.status_code, res.json()["error"]["code"]) == expected
    assert set(res.json()["error"]) == {"code", "message", "details"}
    assert counts(widget_runtime) == before


def test_history_and_events_are_private_to_the_key(
    api: TestClient, keys: Keys, host_site: HostSite
) -> None:
    mine = visitor_headers(api, keys.other_client, host_site.url)
    cid = start_conversation(api, keys.other_client, host_site.url, mine)
    h = visitor_headers(api, keys.client, host_site.url)
    assert api.get(f"/widget/api/conversations/{cid}/messages", headers=h).status_code == 404
    assert api.get(f"/widget/api/conversations/{cid}/events", headers=h).status_code == 404
    assert api.get(f"/widget/api/conversations/{cid}/messages", headers=mine).status_code == 200


def test_a_signed_identity_reaches_the_conversation_and_cannot_be_swapped(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    admin = {"Authorization": f"Bearer {keys.admin}"}
    secret = api.get(f"/admin/api-keys/{keys.client_id}/widget-secret", headers=admin).json()
    assert secret["max_age"] == widget_runtime.settings.channels.widget_identity_max_age
    client_only = {"Authorization": f"Bearer {keys.client}"}
    assert (
        api.get(f"/admin/api-keys/{keys.client_id}/widget-secret", headers=client_only).status_code
        == 403
    )

    h = headers(keys.client, host_site.url)
    token = identity.sign(secret["secret"], "C1001")
    first = body("hello", identity=token)
    done = parse_sse(api.post("/widget/api/messages", json=first, headers=h).text)[-1][1]
    with widget_runtime.session_factory() as s:
        conv = s.get(Conversation, done["conversation_id"])
        assert conv is not None and conv.customer_id == "C1001"

    # Logged out (or someone else logged in) on the same browser: the account does not carry over.
    before = counts(widget_runtime)
    for other in (None, identity.sign(secret["secret"], "C2002")):
        res = api.post(
            "/widget/api/messages",
            json=body("what is my balance", identity=other, conversation_id=conv.id),
            headers=h,
        )
        assert res.status_code == 403 and res.json()["error"]["code"] == "identity_mismatch"
    assert counts(widget_runtime) == before

    expired = identity.sign(secret["secret"], "C1001", expires_in=-5)
    res = api.post("/widget/api/messages", json=body("hi", identity=expired), headers=h)
    assert res.status_code == 401 and res.json()["error"]["code"] == "identity_expired"


async def test_keepalive_comments_fill_silences() -> None:
    async def slow() -> AsyncIterator[bytes]:
        await asyncio.sleep(0.3)
        yield b"event: done\ndata: {}\n\n"

    chunks = [c async for c in sse.with_keepalive(slow(), 0.05)]
    assert chunks[-1].startswith(b"event: done")
    assert chunks.count(sse.KEEPALIVE) >= 2 and set(chunks[:-1]) == {sse.KEEPALIVE}


async def test_a_failing_turn_ends_the_stream_with_an_error_event() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield sse.sse("delta", {"text": "par"})
        raise RuntimeError("boom")

    chunks = [c async for c in sse.with_keepalive(broken(), 5)]
    assert parse_sse(b"".join(chunks).decode())[-1] == (
        "error",
        {"code": "internal_error", "message": "the answer failed"},
    )


def test_tool_events_name_the_tool_but_keep_its_arguments_server_side() -> None:
    started = sse.encode(ToolCallStarted("get_bill", {"phone": "13812345678"}))
    finished = sse.encode(ToolCallFinished("get_bill", {"amount": 88}))
    assert parse_sse(started.decode()) == [("tool", {"name": "get_bill", "phase": "started"})]
    assert parse_sse(finished.decode()) == [("tool", {"name": "get_bill", "phase": "finished"})]
