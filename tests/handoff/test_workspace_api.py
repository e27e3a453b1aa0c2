"""What the agents' workspace reads and writes besides claim and release, on both databases:
canned replies, the display name a customer sees, and the customer's records."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.customers.demo import load_demo
from app.handoff.models import CannedReply
from tests.handoff.conftest import MakeConversation

URL = "/admin/canned-replies"


def _count(db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(CannedReply)) or 0


def test_canned_replies_add_edit_delete_and_refuse_bad_input(
    client: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    made = client.post(
        URL, headers=admin, json={"title": " 问候 ", "text": "您好，请问有什么可以帮您？"}
    )
    assert made.status_code == 201, made.text
    greeting = made.json()
    assert greeting["title"] == "问候" and greeting["updated_by"] == "test-admin"
    other = client.post(URL, headers=admin, json={"title": "Refund", "text": "3-5 days."}).json()
    assert [r["title"] for r in client.get(URL, headers=admin).json()] == ["Refund", "问候"]

    # A title already used (in any case), an empty text, an unknown id: refused, nothing changes.
    dup = client.post(URL, headers=admin, json={"title": "refund", "text": "x"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_title"
    renamed = client.put(
        f"{URL}/{greeting['id']}", headers=admin, json={"title": "REFUND", "text": "x"}
    )
    assert renamed.status_code == 409
    empty = client.post(URL, headers=admin, json={"title": "t", "text": "  "})
    assert empty.status_code == 422 and "text" in empty.text
    assert (
        client.put(f"{URL}/999999", headers=admin, json={"title": "a", "text": "b"}).status_code
        == 404
    )
    assert _count(db_session) == 2

    edited = client.put(
        f"{URL}/{other['id']}", headers=admin, json={"title": "Refund time", "text": "5 days."}
    )
    assert edited.status_code == 200 and edited.json()["text"] == "5 days."
    assert client.delete(f"{URL}/{greeting['id']}", headers=admin).status_code == 204
    assert client.delete(f"{URL}/{greeting['id']}", headers=admin).status_code == 404
    assert [r["title"] for r in client.get(URL, headers=admin).json()] == ["Refund time"]


def test_canned_replies_need_an_admin_key(client: TestClient, client_key: dict[str, str]) -> None:
    assert client.get(URL).status_code == 401
    assert client.post(URL, headers=client_key, json={"title": "a", "text": "b"}).status_code == 403


def test_the_customer_sees_the_display_name_and_the_holder_stays_the_login(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation
) -> None:
    conv_id = conversation()
    base = f"/admin/conversations/{conv_id}"
    assert client.post(f"{base}/claim", headers=admin, json={"agent": "alice"}).status_code == 200
    sent = client.post(
        f"{base}/messages",
        headers=admin,
        json={"agent": "alice", "display_name": "小艾", "text": "您好", "client_message_id": "m1"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["message"]["author"] == "小艾"
    assert sent.json()["conversation"]["assigned_agent"] == "alice"
    # A retry under the same name is the same message; under another name it is refused.
    again = client.post(
        f"{base}/messages",
        headers=admin,
        json={"agent": "alice", "display_name": "小艾", "text": "您好", "client_message_id": "m1"},
    )
    assert again.status_code == 201 and again.json()["replayed"] is True
    renamed = client.post(
        f"{base}/messages",
        headers=admin,
        json={"agent": "alice", "display_name": "Bob", "text": "您好", "client_message_id": "m1"},
    )
    assert renamed.status_code == 409
    history = client.get(base, headers=admin).json()["messages"]
    assert [m["author"] for m in history if m["role"] == "agent"] == ["小艾"]


def test_the_customers_records_beside_the_conversation(
    client: TestClient, admin: dict[str, str], conversation: MakeConversation, db_session: Session
) -> None:
    load_demo(db_session=db_session)
    db_session.commit()
    anonymous = conversation()
    known = conversation(customer_id="C10001")
    refused = client.get(f"/admin/conversations/{anonymous}/customer", headers=admin)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "customer_unknown"
    assert client.get("/admin/conversations/nope/customer", headers=admin).status_code == 404

    res = client.get(f"/admin/conversations/{known}/customer", headers=admin)
    assert res.status_code == 200, res.text
    profile = res.json()
    assert profile["customer_id"] == "C10001" and profile["unavailable"] == []
    assert profile["membership"]["tier_label"]
    assert profile["orders"] and all(o["customer_id"] == "C10001" for o in profile["orders"])
    placed = [o["placed_at"] for o in profile["orders"]]
    assert placed == sorted(placed, reverse=True)
