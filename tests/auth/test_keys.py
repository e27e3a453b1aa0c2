"""Bearer auth: 401 for missing, malformed or unknown keys; 403 for revoked keys or wrong role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import ApiKey, Role


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_key_is_stored_hashed(db_session: Session) -> None:
    new = auth_service.create(db_session=db_session, name="ops", role=Role.ADMIN)
    row = db_session.get(ApiKey, new.key.id)
    assert row is not None
    assert new.secret not in (row.key_hash, row.prefix)
    assert row.key_hash == auth_service.hash_key(new.secret)
    assert auth_service.authenticate(db_session=db_session, secret=new.secret).id == row.id


@pytest.mark.parametrize(
    "header",
    [None, "Basic abc", "Bearer", "Bearer  ", "Bearer a b", "Token kefu_x"],
)
def test_missing_or_malformed_header_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = client.get("/admin/api-keys", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["www-authenticate"] == "Bearer"


def test_unknown_key_is_401(client: TestClient) -> None:
    resp = client.get("/admin/api-keys", headers=_bearer("kefu_" + "A" * 43))
    assert resp.status_code == 401


def test_roles_and_revocation(client: TestClient, admin_secret: str) -> None:
    resp = client.post(
        "/admin/api-keys", json={"name": "widget", "role": "client"}, headers=_bearer(admin_secret)
    )
    assert resp.status_code == 201
    created = resp.json()
    client_secret = created["key"]
    assert client_secret.startswith("kefu_") and created["prefix"] == client_secret[:13]

    assert client.get("/whoami", headers=_bearer(client_secret)).json()["role"] == "client"
    resp = client.get("/admin/api-keys", headers=_bearer(client_secret))
    assert resp.status_code == 403
    assert "admin" in resp.json()["error"]["message"]

    listed = client.get("/admin/api-keys", headers=_bearer(admin_secret)).json()
    assert {k["name"] for k in listed} >= {"widget"}
    assert all("key" not in k and "key_hash" not in k for k in listed)

    resp = client.delete(f"/admin/api-keys/{created['id']}", headers=_bearer(admin_secret))
    assert resp.status_code == 200 and resp.json()["revoked"] is True
    resp = client.get("/whoami", headers=_bearer(client_secret))
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == "API key has been revoked"
    resp = client.delete("/admin/api-keys/999999", headers=_bearer(admin_secret))
    assert resp.status_code == 404


def test_rate_limit(client: TestClient, db_session: Session) -> None:
    new = auth_service.create(
        db_session=db_session, name="tiny", role=Role.CLIENT, rate_limit_per_minute=3
    )
    db_session.commit()
    codes = [client.get("/whoami", headers=_bearer(new.secret)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
