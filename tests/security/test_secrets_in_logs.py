"""Finding 9: no API key reaches a log line (the frame's ?key=, bearer tokens), and the
frame takes publishable keys only (a private /v1 key must never sit in a page)."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.core.logging import JsonFormatter, PlainFormatter
from tests.security.conftest import LiveServer, new_key

SITE = "https://shop.example"


def test_frame_urls_and_bearer_tokens_are_redacted_in_every_log_line(
    live: LiveServer, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    publishable = new_key(session_factory, Role.CLIENT, allowed_origins=[SITE]).secret
    root = logging.getLogger()
    root.addHandler(caplog.handler)  # the app configured logging when it was made
    # uvicorn's own access log, as a deployment without access_log=False writes it.
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    try:
        base = f"http://127.0.0.1:{live.port}"
        frame = httpx.get(f"{base}/widget/frame", params={"key": publishable, "origin": SITE})
        assert frame.status_code == 200
        logging.getLogger("kefu.test").info(
            "calling %s/widget/frame?origin=x&key=%s with Authorization: Bearer %s",
            base,
            publishable,
            publishable,
        )
    finally:
        root.removeHandler(caplog.handler)
    lines = [JsonFormatter().format(r) for r in caplog.records]
    lines += [PlainFormatter("%(message)s").format(r) for r in caplog.records]
    assert any("/widget/frame" in line for line in lines)
    body = publishable.removeprefix("kefu_")
    assert not [line for line in lines if body[:12] in line]


def test_the_frame_refuses_a_private_key(
    live: LiveServer, session_factory: sessionmaker[Session]
) -> None:
    private = new_key(session_factory, Role.CLIENT).secret
    base = f"http://127.0.0.1:{live.port}"
    response = httpx.get(f"{base}/widget/frame", params={"key": private, "origin": SITE})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "private_key"
    assert private not in response.text
