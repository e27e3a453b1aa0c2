"""Retries, timeouts, the circuit breaker and the concurrency limit, against a scripted
endpoint that fails on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest

from app.core.config import LLMSettings
from app.llm import (
    LLMBadRequest,
    LLMClient,
    LLMStreamBroken,
    LLMTimeout,
    LLMUnavailable,
    TextDelta,
)
from tests.llm.scripted_server import (
    Disconnect,
    ScriptedServer,
    Status,
    Stream,
    chunk,
    text_reply,
)

Settings = Callable[..., LLMSettings]
USER = [{"role": "user", "content": "hi"}]
FAST = 0.01  # backoff base for tests: the retry logic is the same, the waits are short


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def state_of(client: LLMClient) -> str:
    # A function, so mypy does not carry a narrowed breaker_state across awaits.
    return client.breaker_state


async def test_500_then_success_is_retried(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(Status(500), text_reply("ok"))
    async with LLMClient(llm_settings(), backoff_base=FAST) as client:
        result = await client.complete(USER)
    assert result.text == "ok"
    assert result.attempts == 2
    assert len(scripted_llm.chat_requests) == 2
    assert scripted_llm.chat_requests[0].body == scripted_llm.chat_requests[1].body
    assert client.breaker_state == "closed"


@pytest.mark.parametrize(
    "failure",
    [
        Status(503, headers={"retry-after": "0"}),
        Disconnect(),
        # 200, then the connection dies before any token (only the role chunk came).
        Stream([chunk({"role": "assistant", "content": ""})], drop_after=1),
        # 200, then vLLM's in-stream error object before any token.
        Stream([{"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}]),
    ],
    ids=["503", "disconnect", "drop-before-token", "error-event-before-token"],
)
async def test_failures_before_the_first_token_are_retried(
    scripted_llm: ScriptedServer, llm_settings: Settings, failure: Status | Stream | Disconnect
) -> None:
    scripted_llm.script(failure, text_reply("ok"))
    async with LLMClient(llm_settings(), backoff_base=FAST) as client:
        result = await client.complete(USER)
    assert (result.text, result.attempts) == ("ok", 2)


async def test_429_is_not_retried_and_counts_against_the_endpoint(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    # Retries go only to connection errors and 5xx: a 429 is load shedding.
    scripted_llm.script(Status(429, headers={"retry-after": "0"}), text_reply("unused"))
    async with LLMClient(llm_settings(breaker_failures=1), backoff_base=FAST) as client:
        with pytest.raises(LLMUnavailable) as caught:
            await client.complete(USER)
        assert client.breaker_state == "open"
    assert caught.value.status_code == 429
    assert len(scripted_llm.chat_requests) == 1


async def test_retries_are_bounded(scripted_llm: ScriptedServer, llm_settings: Settings) -> None:
    scripted_llm.script(Status(503), Status(503), Status(503), text_reply("too late"))
    async with LLMClient(llm_settings(max_retries=2), backoff_base=FAST) as client:
        with pytest.raises(LLMUnavailable) as caught:
            await client.complete(USER)
    assert caught.value.status_code == 503
    assert len(scripted_llm.chat_requests) == 3
    assert scripted_llm.unused_replies == 1


async def test_client_errors_are_not_retried_nor_held_against_the_endpoint(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    body = {"error": {"message": "maximum context length is 32768", "code": 400}}
    scripted_llm.script(Status(400, body), text_reply("unused"))
    async with LLMClient(llm_settings(breaker_failures=1), backoff_base=FAST) as client:
        with pytest.raises(LLMBadRequest, match="maximum context length") as caught:
            await client.complete(USER)
        assert client.breaker_state == "closed"
    assert caught.value.status_code == 400
    assert len(scripted_llm.chat_requests) == 1


async def test_error_after_the_first_token_is_not_retried(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(
        Stream(
            [
                chunk({"content": "您好，"}),
                {"error": {"message": "engine died", "type": "InternalServerError", "code": 500}},
            ]
        ),
        text_reply("must not be asked for"),
    )
    received: list[str] = []
    async with LLMClient(llm_settings(max_retries=3), backoff_base=FAST) as client:
        with pytest.raises(LLMStreamBroken) as caught:
            async for event in client.stream(USER):
                if isinstance(event, TextDelta):
                    received.append(event.text)
    assert received == ["您好，"]
    assert caught.value.tokens_emitted is True
    assert len(scripted_llm.chat_requests) == 1


async def test_connection_dropped_mid_stream(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply("one", "two", "three", drop_after=3), text_reply("unused"))
    received: list[str] = []
    async with LLMClient(llm_settings(), backoff_base=FAST) as client:
        with pytest.raises(LLMStreamBroken):
            async for event in client.stream(USER):
                if isinstance(event, TextDelta):
                    received.append(event.text)
    assert received == ["one", "two"]
    assert len(scripted_llm.chat_requests) == 1


async def test_stream_that_ends_without_finishing_is_broken(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    # A clean end of the HTTP body, but no finish_reason and no [DONE]: truncated.
    scripted_llm.script(Stream([chunk({"content": "half an ans"})], done=False))
    async with LLMClient(llm_settings()) as client:
        with pytest.raises(LLMStreamBroken):
            await client.complete(USER)


@pytest.mark.parametrize(
    "slow",
    [
        text_reply("late", first_delay=30),  # headers at once, no token
        text_reply("late", headers_delay=30),  # not even headers
    ],
    ids=["no-token", "no-headers"],
)
async def test_slow_first_token_times_out_within_budget(
    scripted_llm: ScriptedServer, llm_settings: Settings, slow: Stream
) -> None:
    scripted_llm.script(slow, text_reply("unused"))
    settings = llm_settings(first_token_timeout=0.3, total_timeout=30)
    async with LLMClient(settings, backoff_base=FAST) as client:
        started = time.monotonic()
        with pytest.raises(LLMTimeout) as caught:
            await client.complete(USER)
        elapsed = time.monotonic() - started
    assert caught.value.phase == "first_token"
    # Well before the 30 s the server stalls (a loaded CI box may be slow to switch threads).
    assert 0.3 <= elapsed < 5
    # The server may read the request only after the client gave up on it.
    await wait_until(lambda: len(scripted_llm.chat_requests) >= 1)
    assert len(scripted_llm.chat_requests) == 1  # an overloaded server is not asked twice


async def test_total_timeout_after_tokens(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply(*"abcdefghij", delay=0.5))  # 5 s in all
    settings = llm_settings(first_token_timeout=5, total_timeout=0.7)
    received: list[str] = []
    async with LLMClient(settings) as client:
        started = time.monotonic()
        with pytest.raises(LLMTimeout) as caught:
            async for event in client.stream(USER):
                if isinstance(event, TextDelta):
                    received.append(event.text)
        elapsed = time.monotonic() - started
    assert caught.value.phase == "total" and caught.value.tokens_emitted
    assert 1 <= len(received) < 10
    assert elapsed < 4


async def test_connection_refused_after_retries(unused_port: int) -> None:
    settings = LLMSettings(
        _env_file=None,
        base_url=f"http://127.0.0.1:{unused_port}/v1",
        max_retries=2,
        breaker_failures=1,
    )
    async with LLMClient(settings, backoff_base=FAST) as client:
        with pytest.raises(LLMUnavailable, match="cannot reach"):
            await client.complete(USER)
        assert client.breaker_state == "open"


async def test_breaker_opens_after_n_failures_and_half_opens(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    settings = llm_settings(breaker_failures=3, breaker_reset=0.3, max_retries=0)
    scripted_llm.script(Status(500), Status(500), Status(500))
    async with LLMClient(settings) as client:
        for _ in range(3):
            assert client.breaker_state == "closed"
            with pytest.raises(LLMUnavailable) as caught:
                await client.complete(USER)
            assert caught.value.breaker_open is False
        assert client.breaker_state == "open"

        # Open: refused at once, the endpoint is not even asked.
        started = time.monotonic()
        with pytest.raises(LLMUnavailable) as caught:
            await client.complete(USER)
        assert caught.value.breaker_open is True
        assert time.monotonic() - started < 0.1
        assert len(scripted_llm.chat_requests) == 3

        await wait_until(lambda: client.breaker_state == "half_open")
        scripted_llm.script(text_reply("back"))
        assert (await client.complete(USER)).text == "back"
        assert state_of(client) == "closed"
    assert len(scripted_llm.chat_requests) == 4


async def test_half_open_lets_one_probe_through_and_a_failed_probe_reopens(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    settings = llm_settings(breaker_failures=1, breaker_reset=0.2, max_retries=0)
    scripted_llm.script(Status(500))
    async with LLMClient(settings) as client:
        with pytest.raises(LLMUnavailable):
            await client.complete(USER)
        await wait_until(lambda: client.breaker_state == "half_open")

        # The probe stalls, then fails; meanwhile a second call is refused, not queued.
        scripted_llm.script(Stream([], headers_delay=0.3, done=False, drop_after=0))
        probe = asyncio.create_task(client.complete(USER))
        await wait_until(lambda: len(scripted_llm.chat_requests) == 2)
        with pytest.raises(LLMUnavailable) as caught:
            await client.complete(USER)
        assert caught.value.breaker_open is True
        with pytest.raises(LLMUnavailable):
            await probe
        assert client.breaker_state == "open"
    assert len(scripted_llm.chat_requests) == 2


async def test_concurrency_limit_is_respected(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(*[text_reply("a", "b", "c", delay=0.05) for _ in range(6)])
    async with LLMClient(llm_settings(max_concurrency=2)) as client:
        results = await asyncio.gather(*[client.complete(USER) for _ in range(6)])
    assert [r.text for r in results] == ["abc"] * 6
    assert len(scripted_llm.chat_requests) == 6
    assert scripted_llm.max_in_flight == 2


async def test_waiting_for_a_slot_counts_against_the_first_token_deadline(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    # The running answer starts at once but takes ~1 s; the queued call's budget for its
    # first token (0.5 s) runs out while it waits for the only slot.
    scripted_llm.script(text_reply("ab", "cd", usage=None, delay=0.25))
    settings = llm_settings(max_concurrency=1, first_token_timeout=0.5, breaker_failures=1)
    async with LLMClient(settings) as client:
        running = asyncio.create_task(client.complete(USER))
        await wait_until(lambda: len(scripted_llm.chat_requests) == 1)
        with pytest.raises(LLMTimeout) as caught:
            await client.complete(USER)
        assert caught.value.phase == "queue"
        assert (await running).text == "abcd"
        # A queue of our own is no verdict on the endpoint.
        assert client.breaker_state == "closed"
    assert len(scripted_llm.chat_requests) == 1


async def test_closing_a_stream_early_frees_its_slot(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply(*"abcdef", delay=0.05), text_reply("next"))
    async with LLMClient(llm_settings(max_concurrency=1)) as client:
        stream = client.stream(USER)
        async with contextlib.aclosing(stream):
            first = await anext(stream)
        assert first == TextDelta("a")
        async with asyncio.timeout(5):
            assert (await client.complete(USER)).text == "next"
        assert client.breaker_state == "closed"
