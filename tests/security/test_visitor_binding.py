"""Finding 11: an anonymous widget conversation is shown only to the visitor holding the
token the server issued when it started; its id, or the visitor's id, proves nothing."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.conversation.models import Conversation
from tests.security.conftest import new_key

SITE = "https://shop.example"
PHONE = "13812345678"


def _visitor(client: TestClient, key: str) -> dict[str, str]:
    page = client.get("/widget/frame", params={"key": key, "origin": SITE})
    token = re.search(r'data-visitor-token="([^"]+)"', page.text)
    assert token, page.text
    return {
        "Authorization": f"Bearer {key}",
        "X-Kefu-Origin": SITE,
        "X-Kefu-Visitor-Token": token.group(1),
    }


def _conversation_id(sse: str) -> str:
    found = re.findall(r'"conversation_id": ?"([0-9a-f]+)"', sse)
    assert found, sse
    return found[-1]


def test_another_visitor_cannot_read_or_continue_an_anonymous_conversation(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT, allowed_origins=[SITE]).secret
    alice = _visitor(client, key)
    started = client.post(
        "/widget/api/messages",
        headers=alice,
        json={"text": f"我的电话是{PHONE}", "client_message_id": "m-alice-0001"},
    )
    assert started.status_code == 200
    cid = _conversation_id(started.text)
    with session_factory() as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.external_user_id
        alice_id = conv.external_user_id.rsplit(":", 1)[1]
    history = f"/widget/api/conversations/{cid}/messages"
    assert client.get(history, headers=alice).status_code == 200

    bare = {"Authorization": f"Bearer {key}", "X-Kefu-Origin": SITE}
    mallory_attempts = [
        bare,  # the conversation id alone
        _visitor(client, key),  # a visitor of the same site
        bare | {"X-Kefu-Visitor": alice_id},  # Alice's visitor id, as old frames sent it
        bare | {"X-Kefu-Visitor-Token": f"{alice_id}.{'0' * 64}"},  # a forged token
    ]
    for headers in mallory_attempts:
        for url in (history, f"/widget/api/conversations/{cid}/events"):
            response = client.get(url, headers=headers)
            assert response.status_code == 404, (headers, response.text)
            assert PHONE not in response.text
        continued = client.post(
            "/widget/api/messages",
            headers=headers,
            json={"text": "hi", "client_message_id": "m-mallory01", "conversation_id": cid},
        )
        assert continued.status_code == 404
    # Naming Alice's visitor id in the body does not find her open conversation either.
    fresh = client.post(
        "/widget/api/messages",
        headers=bare,
        json={"text": "hi", "client_message_id": "m-mallory02", "visitor_id": alice_id},
    )
    assert fresh.status_code == 200 and _conversation_id(fresh.text) != cid
    # Alice's own retry without the conversation id still finds hers.
    again = client.post(
        "/widget/api/messages",
        headers=alice,
        json={"text": "还在吗", "client_message_id": "m-alice-0002"},
    )
    assert _conversation_id(again.text) == cid
