"""Keep-alive comments on the widget's real streams, over a real socket, with the interval
shortened: proxies close a stream that stays silent, so silence must not last."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from app.conversation.schemas import Done, ReplyEvent, TextDelta, TurnRequest
from app.runtime import Runtime
from app.widget import router, sse
from tests.widget.conftest import HostSite, Keys
from tests.widget.test_api import body, headers, parse_sse, visitor_headers

PING = b": keep-alive\n\n"


def _read_until(stream: Iterator[bytes], done: bytes, *, timeout: float = 10) -> bytes:
    """The stream's next bytes, up to and including ``done`` (each read is bounded by the
    client's timeout, the whole by ``timeout``)."""
    got = b""
    deadline = time.monotonic() + timeout
    for data in stream:
        got += data
        if done in got:
            return got
        assert time.monotonic() < deadline, f"no {done!r} within {timeout}s: {got!r}"
    raise AssertionError(f"the stream ended before {done!r}: {got!r}")


def test_an_idle_live_events_stream_sends_keep_alives(
    kefu_url: str, api: TestClient, keys: Keys, host_site: HostSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router, "KEEPALIVE_SECONDS", 0.05)
    h = visitor_headers(api, keys.client, host_site.url)
    started = api.post("/widget/api/messages", json=body("hello"), headers=h)
    cid = parse_sse(started.text)[-1][1]["conversation_id"]
    url = f"{kefu_url}/widget/api/conversations/{cid}/events"
    with httpx.stream("GET", url, headers=h, timeout=5) as res:
        assert res.status_code == 200
        got = _read_until(res.iter_bytes(), PING + PING)
    assert parse_sse(got.decode()) == [("ready", {"conversation_id": cid})]
    assert got.endswith(PING + PING)  # nothing else was sent: the stream was idle


def test_a_slow_answer_is_kept_alive_until_it_is_done(
    kefu_url: str, keys: Keys, host_site: HostSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn goes quiet after its first piece and resumes only once the visitor's side has
    seen a keep-alive arrive."""
    monkeypatch.setattr(router, "KEEPALIVE_SECONDS", 0.05)
    resume = threading.Event()

    async def slow_turn(runtime: Runtime, req: TurnRequest) -> AsyncIterator[ReplyEvent]:
        yield TextDelta("Let me check")
        await asyncio.to_thread(resume.wait, 10)
        yield TextDelta(", done.")
        yield Done("c" * 32, 1, "faq")

    monkeypatch.setattr(sse, "handle_turn", slow_turn)
    url = f"{kefu_url}/widget/api/messages"
    h = headers(keys.client, host_site.url)
    try:
        with httpx.stream("POST", url, json=body("hello"), headers=h, timeout=5) as res:
            assert res.status_code == 200
            stream = res.iter_bytes()
            got = _read_until(stream, PING)
            resume.set()
            got += _read_until(stream, b"event: done")
    finally:
        resume.set()
    assert got.index(b"Let me check") < got.index(PING) < got.index(b", done.")
    events = parse_sse(got.decode())
    assert [n for n, _ in events] == ["delta", "delta", "done"]
