"""Feedback from the widget: a visitor rates the answers of their own conversation, and only
those; a second rating replaces the first; bad input is refused and changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.conversation.models import Message
from app.feedback.models import MessageFeedback
from app.runtime import Runtime
from tests.widget.conftest import FAQ_QUESTION, HostSite, Keys
from tests.widget.test_api import body, parse_sse, visitor_headers


def _ask(api: TestClient, h: dict[str, str], text: str) -> dict[str, Any]:
    res = api.post("/widget/api/messages", json=body(text), headers=h)
    assert res.status_code == 200, res.text
    name, done = parse_sse(res.text)[-1]
    assert name == "done", res.text
    return done


def _url(conversation_id: str, message_id: int) -> str:
    return f"/widget/api/conversations/{conversation_id}/messages/{message_id}/feedback"


def _stored(runtime: Runtime) -> list[tuple[int, str, str | None, str]]:
    with runtime.session_factory() as s:
        rows = s.scalars(select(MessageFeedback).order_by(MessageFeedback.message_id))
        return [(f.message_id, f.rating.value, f.comment, f.source) for f in rows]


def test_a_visitor_rates_an_answer_and_a_second_rating_replaces_the_first(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    h = visitor_headers(api, keys.client, host_site.url)
    done = _ask(api, h, FAQ_QUESTION)
    cid, mid = done["conversation_id"], done["message_id"]
    before = [r for r in _stored(widget_runtime) if r[0] != mid]

    up = api.post(_url(cid, mid), json={"rating": "up"}, headers=h)
    assert up.status_code == 200, up.text
    assert up.json()["rating"] == "up" and up.json()["comment"] is None
    again = api.post(_url(cid, mid), json={"rating": "up"}, headers=h)
    assert again.status_code == 200
    down = api.post(_url(cid, mid), json={"rating": "down", "comment": "  too vague  "}, headers=h)
    assert down.status_code == 200, down.text
    assert down.json() | {"created_at": 0, "updated_at": 0} == {
        "message_id": mid,
        "conversation_id": cid,
        "rating": "down",
        "comment": "too vague",
        "source": "web",
        "created_at": 0,
        "updated_at": 0,
    }
    assert [r for r in _stored(widget_runtime) if r[0] != mid] == before
    assert (mid, "down", "too vague", "web") in _stored(widget_runtime)


def test_bad_feedback_is_refused_and_changes_nothing(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite
) -> None:
    h = visitor_headers(api, keys.client, host_site.url)
    mine = _ask(api, h, FAQ_QUESTION)
    stranger = visitor_headers(api, keys.client, host_site.url)
    theirs = _ask(api, stranger, FAQ_QUESTION)
    cid, mid = mine["conversation_id"], mine["message_id"]
    with widget_runtime.session_factory() as s:
        question_id = s.scalar(select(Message.reply_to_id).where(Message.id == mid))
    before = _stored(widget_runtime)

    cases = [
        # another visitor's answer, named through my conversation or theirs
        (_url(cid, theirs["message_id"]), {"rating": "up"}, h, 404, "not_found"),
        (_url(theirs["conversation_id"], theirs["message_id"]), {"rating": "up"}, h, 404, None),
        # my answer, without my visitor token
        (_url(cid, mid), {"rating": "up"}, stranger, 404, "not_found"),
        (_url(cid, 999_999_999), {"rating": "up"}, h, 404, "not_found"),
        (_url(cid, question_id), {"rating": "up"}, h, 422, "unprocessable"),
        (_url(cid, mid), {"rating": "meh"}, h, 422, "validation_error"),
        (_url(cid, mid), {}, h, 422, "validation_error"),
        (_url(cid, mid), {"rating": "up", "comment": "x" * 1001}, h, 422, "validation_error"),
        (_url(cid, mid), {"rating": "up", "extra": 1}, h, 422, "validation_error"),
        (_url(cid, mid), {"rating": "up"}, {"X-Kefu-Origin": host_site.url}, 401, None),
    ]
    for url, payload, hdrs, status, code in cases:
        res = api.post(url, json=payload, headers=hdrs)
        assert res.status_code == status, (url, payload, res.text)
        error = res.json()["error"]
        assert error["message"], res.text
        if code:
            assert error["code"] == code, res.text
    assert _stored(widget_runtime) == before
