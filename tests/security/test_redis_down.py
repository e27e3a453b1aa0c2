"""Finding 6: Redis going away degrades cache, rate limits and live events to the process's
own memory, with a warning; no request fails with 500 because of it."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.core.config import RedisSettings, Settings
from app.main import create_app
from app.runtime import Runtime
from tests.security.conftest import free_port, new_key
from tests.support import wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, on loopback, that it may stop (never the shared one)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def up() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    wait_until(up, timeout=15, what="redis-server to start")
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)


def test_requests_survive_redis_going_away(
    own_redis: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proc = own_redis
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="redis-test-secret-0123456789",  # type: ignore[arg-type]
        redis=RedisSettings(url=url),
    )
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    runtime = Runtime.build(settings, engine=engine, session_factory=session_factory)
    admin = new_key(session_factory, Role.ADMIN).secret
    client_key = new_key(session_factory, Role.CLIENT).secret

    def calls(http: TestClient) -> list[int]:
        widget = {
            "Authorization": f"Bearer {client_key}",
            "X-Kefu-Origin": "https://shop.example",
            "X-Kefu-Visitor": "visitor-0001",
        }
        return [
            http.get(
                "/admin/knowledge-bases", headers={"Authorization": f"Bearer {admin}"}
            ).status_code,
            http.get("/v1/models", headers={"Authorization": f"Bearer {client_key}"}).status_code,
            http.get("/widget/api/conversations/c-x/messages", headers=widget).status_code,
            http.post(
                "/widget/api/messages",
                headers=widget,
                json={
                    "text": "你好",
                    "client_message_id": "m-00000001",
                    "visitor_id": "visitor-0001",
                },
            ).status_code,
        ]

    try:
        with TestClient(create_app(runtime=runtime)) as http:
            assert calls(http) == [200, 200, 404, 200]
            proc.terminate()
            proc.wait(timeout=15)
            # The app configured logging when it was made: listen on the root logger now.
            logging.getLogger().addHandler(caplog.handler)
            try:
                assert calls(http) == [200, 200, 404, 200]
            finally:
                logging.getLogger().removeHandler(caplog.handler)
            assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
            ready = http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["components"]["redis"]["state"] == "degraded"
    finally:
        runtime.close()
