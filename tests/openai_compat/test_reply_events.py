"""How reply events the conversation core may produce (tool calls, errors mid-answer) reach an
OpenAI client: the turn is scripted, the server and the SDK are real."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

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
from app.openai_compat import service
from app.runtime import Runtime
from tests.openai_compat.conftest import Kefu, wait_until

ORDER_TURN: list[ReplyEvent] = [
    ToolCallStarted("get_order", {"order_id": "A100"}),
    ToolCallFinished("get_order", {"status": "shipped"}),
    TextDelta("Your order "),
    TextDelta("has shipped [1]."),
    Citations((Citation(n=1, source="orders", document_id=0, chunk_id="A100", kind="tool"),)),
    Done("c" * 32, 7, "llm", "order.status"),
]


class Script:
    """Stands in for the conversation core: replays events, or raises after them."""

    def __init__(
        self, events: list[ReplyEvent], fail: Exception | None = None, *, hold: bool = False
    ) -> None:
        self.events, self.fail, self.hold = events, fail, hold
        self.requests: list[TurnRequest] = []
        self.closed = 0
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
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed += 1


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Script]:
    def install(
        events: list[ReplyEvent], fail: Exception | None = None, *, hold: bool = False
    ) -> Script:
        turn = Script(events, fail, hold=hold)
        monkeypatch.setattr(service, "handle_turn", turn)
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


def test_a_client_hanging_up_ends_the_turn(sdk: OpenAI, script: Callable[..., Script]) -> None:
    turn = script([TextDelta("Let me check")], hold=True)
    stream = ask(sdk, stream=True)
    pieces = iter(stream)
    assert next(pieces).choices[0].delta.role == "assistant"
    assert next(pieces).choices[0].delta.content == "Let me check"
    try:
        stream.close()
        # The answer is still being held: only the hang-up can have closed it.
        wait_until(lambda: turn.closed == 1, timeout=5, what="the turn to be closed")
    finally:
        turn.release.set()
