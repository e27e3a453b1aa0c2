"""Finding 8: text that is not text (a lone UTF-16 surrogate, control characters) or shows
nothing (zero-width characters) is refused with a 422 envelope on every channel, and
nothing is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.conversation.models import Message
from tests.security.conftest import new_key

# Raw JSON: "\ud800" is a valid JSON escape that decodes to a lone surrogate.
CASES = [
    ('"\\ud800 hello"', "invalid_text"),
    ('"hi \\u0000 there"', "invalid_text"),
    ('"\\u200b\\u200b\\ufeff \\u2060"', "empty_message"),
]


def _messages(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count(Message.id))) or 0)


@pytest.mark.parametrize(("raw", "code"), CASES)
def test_v1_refuses_it_with_the_envelope(
    raw: str, code: str, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT).secret
    body = '{"model": "kefu", "messages": [{"role": "user", "content": ' + raw + "}]}"
    response = client.post(
        "/v1/chat/completions",
        content=body.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert _messages(session_factory) == 0


@pytest.mark.parametrize(("raw", "code"), CASES)
def test_widget_refuses_it_with_the_envelope_not_an_event_stream(
    raw: str, code: str, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT).secret
    body = '{"text": ' + raw + ', "client_message_id": "m-00000001", "visitor_id": "v-00000001"}'
    response = client.post(
        "/widget/api/messages",
        content=body.encode(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Kefu-Origin": "https://shop.example",
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert _messages(session_factory) == 0


def test_an_earlier_turn_with_a_lone_surrogate_is_refused_too(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT).secret
    body = (
        '{"model": "kefu", "messages": [{"role": "user", "content": "\\udc00"},'
        ' {"role": "assistant", "content": "ok"}, {"role": "user", "content": "hi"}]}'
    )
    response = client.post(
        "/v1/chat/completions",
        content=body.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_text"
