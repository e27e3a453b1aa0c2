"""Finding 2: no widget identity is ever signed with a published default secret."""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import DEV_SECRET, Settings
from app.main import create_app
from app.runtime import Runtime
from app.widget import identity
from tests.security.conftest import new_key


def _dev_runtime(
    data_dir: Path, db_bind: Engine | Connection, session_factory: sessionmaker[Session]
) -> Runtime:
    # What the quick start runs: development, and no KEFU_SECRET_KEY.
    settings = Settings(environment="development", data_dir=data_dir)
    assert settings.secret_key.get_secret_value() == DEV_SECRET
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    return Runtime.build(
        settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )


def test_first_start_generates_a_private_secret_and_forged_identities_fail(
    tmp_path: Path,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        runtime = _dev_runtime(tmp_path / "data", db_bind, session_factory)
    assert any("KEFU_SECRET_KEY" in r.getMessage() for r in caplog.records)
    secret_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    generated = runtime.settings.secret_key.get_secret_value()
    assert generated != DEV_SECRET and len(generated) >= 32

    client = new_key(session_factory, Role.CLIENT)
    # What anyone who read the source could compute for any key id.
    dev_secret = hmac.new(
        DEV_SECRET.encode(), f"widget-identity:{client.key.id}".encode(), hashlib.sha256
    ).hexdigest()
    forged = identity.sign(dev_secret, "C10002")
    with TestClient(create_app(runtime=runtime)) as http:
        response = http.post(
            "/widget/api/messages",
            headers={
                "Authorization": f"Bearer {client.secret}",
                "X-Kefu-Origin": "https://shop.example",
            },
            json={
                "text": "我的账单多少钱",
                "client_message_id": "m-00000001",
                "visitor_id": "v-00000001",
                "identity": forged,
            },
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_identity"

    # The next start signs with the same key: visitors' tokens survive a restart.
    again = _dev_runtime(tmp_path / "data", db_bind, session_factory)
    assert again.settings.secret_key.get_secret_value() == generated


@pytest.mark.parametrize("known", [DEV_SECRET, "", "changeme"])
def test_a_known_default_is_never_used_for_signing(known: str) -> None:
    with pytest.raises(RuntimeError):
        identity.signing_secret(known, 1)
