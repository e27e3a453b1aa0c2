"""A real kefu HTTP server on 127.0.0.1 (uvicorn in a thread) with a small ingested knowledge
base, built once for the module: the embedding model and the ingestion take seconds, and
every test talks to it as its own end user, so tests do not see each other's conversations."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import AnswerCacheSettings, LLMSettings, Settings
from app.core.db import make_engine
from app.main import create_app
from app.runtime import Runtime
from tests.support import (
    SHOP,
    ingest,
    wait_until,
)


@dataclass(frozen=True)
class Kefu:
    base_url: str  # ends in /v1, as OpenAI clients expect
    api_key: str
    key_id: int
    runtime: Runtime

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.session_factory


def build_runtime(tmp: Path, sqlite_template: Path, llm: LLMSettings | None = None) -> Runtime:
    db = tmp / "kefu.db"
    shutil.copy(sqlite_template, db)
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        secret_key="test-secret-0123456789abcdef",
        log_json=True,
        llm=llm or LLMSettings(_env_file=None, base_url=None),
        # One runtime serves the whole module and its tests ask the same questions with new
        # scripts: a reused answer would hide the script (tests/agent covers the cache).
        answer_cache=AnswerCacheSettings(_env_file=None, enabled=False),
    )
    engine = make_engine(f"sqlite:///{db}")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    rt = Runtime.build(settings, engine=engine, session_factory=factory, cache=InProcessCache())
    ingest(rt, SHOP)
    return rt


def new_key(
    rt: Runtime, role: Role = Role.CLIENT, allowed_origins: list[str] | None = None
) -> tuple[str, int]:
    """A key's secret and id."""
    with rt.session_factory() as s:
        new = auth_service.create(
            db_session=s, name=f"openai-{role.value}", role=role, allowed_origins=allowed_origins
        )
        s.commit()
        return new.secret, new.key.id


def client_key(rt: Runtime, role: Role = Role.CLIENT) -> str:
    return new_key(rt, role)[0]


@contextmanager
def serve(rt: Runtime) -> Iterator[str]:
    """Run the app on a free loopback port until the generator is closed; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(runtime=rt), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def kefu(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Kefu]:
    rt = build_runtime(tmp_path_factory.mktemp("openai"), sqlite_template)
    try:
        with serve(rt) as base_url:
            secret, key_id = new_key(rt)
            yield Kefu(base_url=base_url, api_key=secret, key_id=key_id, runtime=rt)
    finally:
        rt.close()


def watch_hang_up(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the server stops sending a `/v1` stream (the client hung up, or it ended)."""
    from app.openai_compat import streaming

    abandoned = threading.Event()
    chunks = streaming._chunks

    async def watched(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
        try:
            async for piece in chunks(*args, **kwargs):
                yield piece
        finally:
            abandoned.set()

    monkeypatch.setattr(streaming, "_chunks", watched)
    return abandoned
