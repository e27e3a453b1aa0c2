"""How reply events the conversation core may produce (tool calls, errors mid-answer) reach an
OpenAI client: the turn is scripted, the server and the SDK are real."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest
from openai import OpenAI

from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
    Error,
    ReplyEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnRequest,
)
from app.openai_compat import service, streaming
from app.runtime import Runtime
from tests.openai_compat.conftest import Kefu, watch_hang_up
from tests.support import wait_until

ORDER_TURN: list[ReplyEvent] = [
    ToolCallStarted("get_order", {"order_id": "A100"}),
    ToolCallFinished("get_order", {"status": "shipped"}),
    TextDelta("Your order "),
    TextDelta("has shipped [1]."),
    Citations((Citation(n=1, source="orders", document_id=0, chunk_id="A100", kind="tool"),)),
    Done("c" * 32, 7, "llm", "order.status"),
]


class Script:
    """Stands in for the conversation core: replays events, or raises after them; with
    ``hold``, waits after them until released, then yields ``rest``."""

    def __init__(
        self,
        events: list[ReplyEvent],
        fail: Exception | None = None,
        *,
        hold: bool = False,
        rest: list[ReplyEvent] | None = None,
    ) -> None:
        self.events, self.fail, self.hold, self.rest = events, fail, hold, rest or []
        self.requests: list[TurnRequest] = []
        self.closed = 0
        self.finished = 0  # turns that ran to their end (not closed or cancelled half-way)
        self.release = threading.Event()

    async def __call__(self, runtime: Runtime, req: TurnRequest) -> AsyncIterator[ReplyEvent]:
        self.requests.append(req)
        try:
            for event in self.events:
                yield event
            deadline = time.monotonic() + 10
            # A slow answer: waits (polling) until the test releases it.
            while self.hold and not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            for event in self.rest:
                yield event
            if self.fail is not None:
                raise self.fail
            self.finished += 1
        finally:
            self.closed += 1


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Script]:
    def install(
        events: list[ReplyEvent],
        fail: Exception | None = None,
        *,
        hold: bool = False,
        rest: list[ReplyEvent] | None = None,
    ) -> Script:
        turn = Script(events, fail, hold=hold, rest=rest)
        monkeypatch.setattr(service, "handle_turn", turn)
        monkeypatch.setattr(streaming, "handle_turn", turn)
        return turn

    return install


@pytest.fixture
def sdk(kefu: Kefu) -> OpenAI:
    # Retries left on: the server must tell the SDK not to resend a stored customer message.
    return OpenAI(base_url=kefu.base_url, api_key=kefu.api_key, max_retries=2)


def ask(sdk: OpenAI, **kwargs: Any) -> Any:
    return sdk.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "where is my order A100?"}], **kwargs
    )


def test_tool_calls_are_reported_not_replayed(sdk: OpenAI, script: Callable[..., Script]) -> None:
    script(ORDER_TURN)
    expected = [
        {"name": "get_order", "arguments": {"order_id": "A100"}, "result": {"status": "shipped"}}
    ]

    completion = ask(sdk)
    assert completion.choices[0].message.content == "Your order has shipped [1]."
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    assert extra["kefu"]["tool_calls"] == expected
    assert extra["kefu"]["conversation_id"] == "c" * 32 and extra["kefu"]["message_id"] == 7
    assert extra["citations"][0]["kind"] == "tool"

    chunks = list(ask(sdk, stream=True))
    assert all(c.choices[0].delta.tool_calls is None for c in chunks)
    assert [c.choices[0].delta.content for c in chunks][1:3] == ["Your order ", "has shipped [1]."]
    assert (chunks[-1].model_extra or {})["kefu"]["tool_calls"] == expected
    assert chunks[-1].usage is None  # usage only when stream_options asks for it


def test_error_event_mid_stream(sdk: OpenAI, script: Callable[..., Script]) -> None:
    turn = script([TextDelta("Let me check"), Error("llm_unavailable", "The assistant is down")])
    received: list[str] = []
    with pytest.raises(openai.APIError) as err:
        for chunk in ask(sdk, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Let me check"
    assert err.value.message == "The assistant is down" and err.value.code == "llm_unavailable"
    assert turn.closed == 1

    with pytest.raises(openai.InternalServerError) as failed:
        ask(sdk)
    assert failed.value.code == "llm_unavailable" and "down" in failed.value.message
    assert len(turn.requests) == 2  # not retried: the customer's message was already stored


def test_crash_mid_stream(sdk: OpenAI, script: Callable[..., Script]) -> None:
    turn = script([TextDelta("Let me check")], fail=RuntimeError("boom"))
    with pytest.raises(openai.APIError) as err:
        list(ask(sdk, stream=True))
    assert err.value.code == "internal_error" and "boom" not in err.value.message
    with pytest.raises(openai.InternalServerError):
        ask(sdk)
    assert len(turn.requests) == 2 and turn.closed == 2


def test_refused_before_the_first_event_is_an_http_error(
    sdk: OpenAI, script: Callable[..., Script]
) -> None:
    from app.core.errors import NotFound

    script([], fail=NotFound("conversation gone"))
    with pytest.raises(openai.NotFoundError) as err:
        ask(sdk, stream=True)
    assert err.value.message.endswith("conversation gone") and err.value.status_code == 404


def test_a_client_hanging_up_does_not_end_the_turn(
    sdk: OpenAI, script: Callable[..., Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn runs on to its end (where a real one stores its answer), as the widget's do."""
    abandoned = watch_hang_up(monkeypatch)
    turn = script([TextDelta("Let me check")], hold=True, rest=ORDER_TURN)
    stream = ask(sdk, stream=True)
    pieces = iter(stream)
    assert next(pieces).choices[0].delta.role == "assistant"
    assert next(pieces).choices[0].delta.content == "Let me check"
    try:
        stream.close()
        assert abandoned.wait(5), "the server did not notice the hang-up"
        assert turn.closed == 0  # still held: the hang-up used to cancel it here
    finally:
        turn.release.set()
    wait_until(lambda: turn.closed == 1, timeout=5, what="the turn to end")
    assert turn.finished == 1


class Tee(httpx2.BaseTransport):
    """A real HTTP transport that also keeps every response byte the client reads."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.read = bytearray()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, self.read),
            extensions=response.extensions,
        )


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, read: bytearray) -> None:
        self.inner, self.read = inner, read

    def __iter__(self) -> Any:
        for part in self.inner:
            self.read.extend(part)
            yield part

    def close(self) -> None:
        self.inner.close()


def test_keep_alive_comments_are_skipped_by_the_sdk(
    kefu: Kefu, script: Callable[..., Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn silent for longer than the keep-alive interval: the SDK reads the comments
    (the transport saw them) and still parses the stream into the same chunks."""
    monkeypatch.setattr(streaming, "KEEPALIVE_SECONDS", 0.05)
    tee = Tee()
    sdk = OpenAI(
        base_url=kefu.base_url,
        api_key=kefu.api_key,
        max_retries=0,
        http_client=httpx2.Client(transport=tee),
    )
    turn = script([TextDelta("Let me check")], hold=True, rest=ORDER_TURN)

    def release_after_a_keep_alive() -> None:
        # The SDK is blocked reading the next chunk meanwhile, so it reads these comments.
        wait_until(lambda: streaming.KEEPALIVE.encode() in tee.read, timeout=10, what="a ping")
        turn.release.set()

    releaser = threading.Thread(target=release_after_a_keep_alive, daemon=True)
    releaser.start()
    try:
        chunks = list(ask(sdk, stream=True))
    finally:
        turn.release.set()
        releaser.join(10)
    text = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert text == ["Let me check", "Your order ", "has shipped [1]."]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["kefu"]["message_id"] == 7
    # The comments came between the first piece and the rest.
    raw = bytes(tee.read)
    assert raw.index(b"Let me check") < raw.index(b": keep-alive\n\n") < raw.index(b"has shipped")
