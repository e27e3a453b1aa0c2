"""Helpers for the attack-and-fault findings of issue #13: a real server on loopback, raw
sockets for requests no polite client sends, and keys of each role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.main import create_app
from app.runtime import Runtime


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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
