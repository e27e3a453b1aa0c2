"""The widget's storage paths on both databases (the other widget tests share one SQLite file)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.models import Message
from tests.widget.test_api import parse_sse

ORIGIN = "https://shop.example.com"


def test_conversation_round_trip(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        mine = auth_service.create(
            db_session=s, name="site", role=Role.CLIENT, allowed_origins=[ORIGIN + "/"]
        )
        other = auth_service.create(db_session=s, name="other", role=Role.CLIENT)
        s.commit()
    h = {"Authorization": f"Bearer {mine.secret}", "X-Kefu-Origin": ORIGIN}
    msg = {"text": "hello", "client_message_id": uuid.uuid4().hex, "visitor_id": "visitor-01"}
    first = client.post("/widget/api/messages", json=msg, headers=h)
    events = parse_sse(first.text)
    assert events[-1][0] == "done" and events[-1][1]["route"] == "smalltalk"
    cid = events[-1][1]["conversation_id"]
    # A visitor without a token is given one with the answer; the frame keeps it.
    h["X-Kefu-Visitor-Token"] = first.headers["X-Kefu-Visitor-Token"]

    again = parse_sse(client.post("/widget/api/messages", json=msg, headers=h).text)
    # Replayed from storage: the same answer, under its stored message id.
    assert again[-1][1] == {**events[-1][1], "replayed": True}
    history = client.get(f"/widget/api/conversations/{cid}/messages", headers=h).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]

    theirs = {"Authorization": f"Bearer {other.secret}", "X-Kefu-Origin": ORIGIN}
    res = client.post("/widget/api/messages", json={**msg, "conversation_id": cid}, headers=theirs)
    assert res.status_code == 404
    with session_factory() as s:
        stored = s.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == cid)
        )
    assert stored == 2
