"""PostgreSQL unreachable (a loopback proxy in front of the real server, taken down): every
route answers 503 ``unavailable`` with a Retry-After in its own envelope, never a 500, and
turns refuse before storing anything; when the database is back, requests succeed again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.cache import InProcessCache
from app.core.config import Settings
from app.core.db import make_engine
from app.core.errors import AppError
from app.main import create_app
from app.openai_compat import streaming
from app.runtime import Runtime
from app.widget import sse
from tests.pg_proxy import PgProxy

ORIGIN = "https://shop.example"


@dataclass
class Outage:
    proxy: PgProxy
    runtime: Runtime
    keys: dict[Role, str]
    widget_key: str


@pytest.fixture
def outage(pg_url: str, pg_engine: Engine, settings: Settings) -> Iterator[Outage]:
    keys: dict[Role, str] = {}
    with Session(pg_engine) as s:
        for role in (Role.CLIENT, Role.DIFY):
            keys[role] = auth_service.create(
                db_session=s, name=f"down-{uuid.uuid4().hex[:8]}", role=role
            ).secret
        widget = auth_service.create(
            db_session=s, name="down-widget", role=Role.CLIENT, allowed_origins=[ORIGIN]
        ).secret
        s.commit()
    with PgProxy(pg_url) as proxy:
        engine = make_engine(proxy.url, pool_timeout=5)
        runtime = Runtime.build(settings, engine=engine, cache=InProcessCache())
        try:
            yield Outage(proxy, runtime, keys, widget)
        finally:
            runtime.ingestion.close()
            runtime.index.close()
            engine.dispose()


def _unavailable(resp_json: dict[str, object], headers: object) -> None:
    error = resp_json["error"]
    assert isinstance(error, dict) and error["code"] == "unavailable", resp_json
    assert int(headers["retry-after"]) > 0  # type: ignore[index]


def test_every_route_answers_503_while_the_database_is_down(outage: Outage) -> None:
    v1 = {"Authorization": f"Bearer {outage.keys[Role.CLIENT]}"}
    widget = {"Authorization": f"Bearer {outage.widget_key}", "X-Kefu-Origin": ORIGIN}
    chat = {"model": "kefu", "messages": [{"role": "user", "content": "你好"}]}
    # TestClient re-raises whatever reaches the server unhandled: a 500 would fail here.
    with TestClient(create_app(runtime=outage.runtime)) as client:
        assert client.get("/v1/models", headers=v1).status_code == 200
        outage.proxy.down()

        for stream in (False, True):
            resp = client.post("/v1/chat/completions", headers=v1, json={**chat, "stream": stream})
            assert resp.status_code == 503
            _unavailable(resp.json(), resp.headers)
            assert resp.json()["error"]["type"] == "server_error"  # OpenAI SDKs read it

        message = {"text": "你好", "client_message_id": "c-1", "visitor_id": "v-1"}
        resp = client.post("/widget/api/messages", headers=widget, json=message)
        assert resp.status_code == 503
        _unavailable(resp.json(), resp.headers)

        # A route (not the authentication middleware) reading the database.
        resp = client.get("/widget/frame", params={"key": outage.widget_key, "origin": ORIGIN})
        assert resp.status_code == 503
        _unavailable(resp.json(), resp.headers)

        dify = {"Authorization": f"Bearer {outage.keys[Role.DIFY]}"}
        resp = client.post("/dify/tools/ask", headers=dify, json={"question": "你好"})
        assert resp.status_code == 503 and resp.headers["retry-after"]
        assert resp.json()["error_code"] == 503  # Dify's own format

        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["components"]["database"]["state"] == "down"

        outage.proxy.up()
        assert client.get("/v1/models", headers=v1).status_code == 200


async def test_a_turn_refuses_before_storing_while_the_database_is_down(outage: Outage) -> None:
    outage.proxy.down()
    req = TurnRequest(channel="widget", text="你好", client_message_id="c-2")

    with pytest.raises(AppError) as refused:
        await run_turn(outage.runtime, req)
    assert (refused.value.status_code, refused.value.code) == (503, "unavailable")

    # /v1: refused before the first byte, so the route answers an HTTP 503.
    with pytest.raises(AppError) as refused:
        await streaming.stream(outage.runtime, req, include_usage=False)
    assert refused.value.status_code == 503

    # The widget's stream has started: it ends in an "unavailable" event the frame resends on.
    chunks = [c async for c in sse.turn_stream(outage.runtime, req, keepalive=15)]
    assert len(chunks) == 1 and chunks[0].startswith(b"event: error\n")
    assert b'"code": "unavailable"' in chunks[0]


def test_an_exhausted_pool_is_503_too(pg_url: str, pg_engine: Engine, settings: Settings) -> None:
    """Every connection busy past pool_timeout (a slow database, a burst): 503, not 500."""
    with Session(pg_engine) as s:
        secret = auth_service.create(db_session=s, name="pool", role=Role.CLIENT).secret
        s.commit()
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    runtime = Runtime.build(settings, engine=engine, cache=InProcessCache())
    auth = {"Authorization": f"Bearer {secret}"}
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            assert client.get("/v1/models", headers=auth).status_code == 200
            with engine.connect():  # the pool's only connection, held
                resp = client.get("/v1/models", headers=auth)
            assert resp.status_code == 503
            _unavailable(resp.json(), resp.headers)
            assert client.get("/v1/models", headers=auth).status_code == 200
    finally:
        runtime.ingestion.close()
        runtime.index.close()
        engine.dispose()
