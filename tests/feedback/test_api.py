"""Feedback by message id over /v1 and Dify's custom tool: the answer ids the responses carry
are the ones feedback names; a key (and a Dify end user) rates only its own answers; a second
rating replaces the first; bad input is refused in each API's envelope and changes nothing.
The turns run through the real pipeline (no LLM: the no-passages answer)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.models import Message
from app.feedback import service as feedback_service
from app.feedback.models import MessageFeedback


@pytest.fixture
def backend() -> str:
    # One database: the SQL is the ORM's; both are covered by tests/analytics.
    return "postgresql"


def _key(factory: sessionmaker[Session], role: Role) -> dict[str, str]:
    with factory() as s:
        new = auth_service.create(db_session=s, name=f"fb-{role.value}", role=role)
        s.commit()
    return {"Authorization": f"Bearer {new.secret}"}


def _stored(factory: sessionmaker[Session]) -> list[tuple[int, str, str | None, str]]:
    with factory() as s:
        rows = s.scalars(select(MessageFeedback).order_by(MessageFeedback.message_id))
        return [(f.message_id, f.rating.value, f.comment, f.source) for f in rows]


def _ask_v1(client: TestClient, key: dict[str, str], text: str) -> dict[str, Any]:
    res = client.post(
        "/v1/chat/completions",
        json={"model": "kefu", "messages": [{"role": "user", "content": text}]},
        headers=key,
    )
    assert res.status_code == 200, res.text
    kefu: dict[str, Any] = res.json()["kefu"]
    assert kefu["message_id"], kefu
    return kefu


def test_v1_feedback_by_the_message_id_of_a_completion(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    mine, other = _key(session_factory, Role.CLIENT), _key(session_factory, Role.CLIENT)
    turn = _ask_v1(client, mine, "退货运费谁出？")
    theirs = _ask_v1(client, other, "退货运费谁出？")
    mid = turn["message_id"]

    res = client.post("/v1/feedback", json={"message_id": mid, "rating": "up"}, headers=mine)
    assert res.status_code == 200, res.text
    assert res.json()["conversation_id"] == turn["conversation_id"]
    res = client.post(
        "/v1/feedback",
        json={"message_id": mid, "rating": "down", "comment": "wrong"},
        headers=mine,
    )
    assert res.status_code == 200, res.text
    assert _stored(session_factory) == [(mid, "down", "wrong", "openai")]

    with session_factory() as s:
        question = s.scalar(select(Message.reply_to_id).where(Message.id == mid))
    cases = [
        ({"message_id": theirs["message_id"], "rating": "up"}, mine, 404, "not_found"),
        ({"message_id": 987_654_321, "rating": "up"}, mine, 404, "not_found"),
        ({"message_id": question, "rating": "up"}, mine, 422, "unprocessable"),
        ({"message_id": mid, "rating": "sideways"}, mine, 422, "validation_error"),
        ({"message_id": "x", "rating": "up"}, mine, 422, "validation_error"),
        ({"rating": "up"}, mine, 422, "validation_error"),
        ({"message_id": mid, "rating": "up"}, {}, 401, None),
        ({"message_id": mid, "rating": "up"}, _key(session_factory, Role.DIFY), 403, None),
    ]
    for payload, key, status, code in cases:
        res = client.post("/v1/feedback", json=payload, headers=key)
        assert res.status_code == status, (payload, res.text)
        error = res.json()["error"]
        assert error["message"] and error["type"], res.text  # OpenAI's envelope
        if code:
            assert error["code"] == code
    assert _stored(session_factory) == [(mid, "down", "wrong", "openai")]


def test_dify_feedback_by_the_message_id_of_the_ask_tool(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    dify, other = _key(session_factory, Role.DIFY), _key(session_factory, Role.DIFY)
    asked = client.post(
        "/dify/tools/ask", json={"question": "发票抬头写错了怎么改", "user": "u1"}, headers=dify
    )
    assert asked.status_code == 200, asked.text
    mid = asked.json()["message_id"]
    assert isinstance(mid, int)

    body = {"message_id": mid, "user": "u1", "rating": "down", "comment": "没用"}
    res = client.post("/dify/tools/feedback", json=body, headers=dify)
    assert res.status_code == 200, res.text
    assert (res.json()["rating"], res.json()["source"]) == ("down", "dify")
    again = client.post("/dify/tools/feedback", json=body, headers=dify)
    assert again.status_code == 200
    assert _stored(session_factory) == [(mid, "down", "没用", "dify")]

    cases = [
        (body | {"user": "u2"}, dify, 404),  # another end user of the same workspace
        (body, other, 404),  # another workspace
        (body | {"rating": "5 stars"}, dify, 422),
        (body | {"message_id": 0}, dify, 422),
        ({k: v for k, v in body.items() if k != "user"}, dify, 422),
        (body, {}, 403),  # Dify's probe contract: unauthenticated is 403
    ]
    for payload, key, status in cases:
        res = client.post("/dify/tools/feedback", json=payload, headers=key)
        assert res.status_code == status, (payload, res.text)
        assert res.json()["error_code"] and res.json()["error_msg"], res.text
    assert _stored(session_factory) == [(mid, "down", "没用", "dify")]


def test_observers_count_new_and_changed_ratings_only(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    seen: list[tuple[str, str]] = []
    feedback_service.on_feedback(lambda rating, source: seen.append((rating, source)))
    try:
        key = _key(session_factory, Role.CLIENT)
        mid = _ask_v1(client, key, "hello there, is anyone around?")["message_id"]
        for rating in ("up", "up", "down", "down"):
            payload = {"message_id": mid, "rating": rating}
            assert client.post("/v1/feedback", json=payload, headers=key).status_code == 200
    finally:
        feedback_service.observers.clear()
    assert seen == [("up", "openai"), ("down", "openai")]
