"""Finding 7: nobody learns which knowledge bases or documents exist without the right key:
authentication (and the admin role) comes before any lookup."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.runtime import Runtime
from knowledge import service as knowledge_service
from tests.security.conftest import new_key

PATHS = [
    ("get", "/admin/knowledge-bases/{kb}"),
    ("get", "/admin/knowledge-bases/{kb}/documents"),
    ("get", "/admin/knowledge-bases/{kb}/documents/{kb}.md"),
    ("delete", "/admin/knowledge-bases/{kb}"),
    ("post", "/admin/knowledge-bases/{kb}/search"),
    ("get", "/admin/knowledge-bases/{kb}/jobs"),
    ("post", "/admin/knowledge-bases/{kb}/reindex"),
]


def _answers(client: TestClient, kb: str, headers: dict[str, str]) -> list[tuple[int, str]]:
    out = []
    for method, template in PATHS:
        response = client.request(
            method, template.format(kb=kb), headers=headers, json={"query": "x"}
        )
        out.append((response.status_code, response.json()["error"]["message"]))
    return out


def test_existing_and_missing_knowledge_bases_look_the_same_without_an_admin_key(
    client: TestClient, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s:
        knowledge_service.create_kb(
            db_session=s, name="secret-plans", embedding_model="m", embedding_dim=4
        )
        s.commit()
    client_key = new_key(session_factory, Role.CLIENT).secret
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer kefu_" + "x" * 43}, 401),
        ({"Authorization": f"Bearer {client_key}"}, 403),
    ]:
        existing = _answers(client, "secret-plans", headers)
        missing = _answers(client, "no-such-kb", headers)
        assert existing == missing
        assert {code for code, _ in existing} == {status}
        assert not any("secret-plans" in message for _, message in existing)
