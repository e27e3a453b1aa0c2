"""Finding 10: a turn's trace (shown by GET /admin/conversations/{id}) keeps no raw phone,
ID or bank-card number; the masker leaves hex ids alone."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.conversation.models import Conversation
from app.core.logging import mask_pii, scrub
from app.runtime import Runtime
from tests.security.conftest import new_key
from tests.support import SHOP, ingest

PHONE, ID_CARD, CARD = "13812345678", "110101199003071234", "6222021234567890"


def test_trace_search_query_is_masked(
    client: TestClient, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    ingest(runtime, SHOP)
    key = new_key(session_factory, Role.CLIENT).secret
    admin = new_key(session_factory, Role.ADMIN).secret
    question = f"积分能转赠吗？我的手机号{PHONE}，身份证{ID_CARD}，银行卡{CARD}"
    answer = client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "kefu", "messages": [{"role": "user", "content": question}]},
    )
    assert answer.status_code == 200, answer.text
    with session_factory() as s:
        conversation_id = s.scalars(select(Conversation.id)).one()
    detail = client.get(
        f"/admin/conversations/{conversation_id}", headers={"Authorization": f"Bearer {admin}"}
    )
    assert detail.status_code == 200, detail.text
    traces = detail.json()["traces"]
    assert traces and traces[0]["search_query"], traces
    dumped = json.dumps(traces, ensure_ascii=False)
    for raw in (PHONE, ID_CARD, CARD):
        assert raw not in dumped
    assert "138****5678" in traces[0]["search_query"]


def test_hex_ids_survive_the_masker() -> None:
    for hex_id in (
        "754661e5d70c41498413812345678c2f",
        "a1234567890123456b",
        "c0ffee110101199003071234deadbeef",
    ):
        assert mask_pii(hex_id) == hex_id
        assert scrub(f"conversation {hex_id} closed") == f"conversation {hex_id} closed"
    assert mask_pii(f"电话{PHONE}") == "电话138****5678"
