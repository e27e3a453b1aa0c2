"""Helpers for the attack-and-fault findings of issue #13: a real server on loopback, raw
sockets for requests no polite client sends, and keys of each role."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import DatabaseSettings, Settings
from app.main import create_app
from app.runtime import Runtime
from tests.conftest import fresh_pg_database
from tests.support import wait_until


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=30, what="uvicorn to start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live(runtime: Runtime) -> Iterator[LiveServer]:
    with LiveServer(create_app(runtime=runtime)) as server:
        yield server


def raw_request(port: int, head: str, body: bytes = b"", *, timeout: float = 10) -> bytes:
    """Send ``head`` (request line and headers) and ``body``, then read until the server
    answers and closes, or ``timeout`` passes. The body may be far shorter than announced."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def status_of(response: bytes) -> int:
    assert response, "the server did not answer"
    return int(response.split(b" ", 2)[1])


def new_key(
    session_factory: sessionmaker[Session], role: Role, **kwargs: object
) -> auth_service.NewKey:
    with session_factory() as s:
        new = auth_service.create(db_session=s, name=f"sec-{role.value}", role=role, **kwargs)  # type: ignore[arg-type]
        s.commit()
        s.expunge(new.key)
    return new


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL, the production store, for every finding (the root conftest adds SQLite)."""
    return str(request.param)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class KefuServe:
    """``kefu serve`` in its own process, as an operator runs it (embedded Milvus Lite)."""

    def __init__(self, env: dict[str, str], *, log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 120) -> KefuServe:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=timeout, what="kefu serve to answer")
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture
def pg_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own migrated PostgreSQL database, with real connections: for tests
    where the ingestion thread and the test both use the database."""
    with fresh_pg_database("kefu_sec") as url:
        settings = Settings(
            environment="test",
            data_dir=tmp_path / "data",
            secret_key="security-test-secret-0123456789",  # type: ignore[arg-type]
            db=DatabaseSettings(url=url, pool_size=4),
        )
        runtime = Runtime.build(settings, cache=InProcessCache())
        try:
            yield runtime
        finally:
            runtime.close()
