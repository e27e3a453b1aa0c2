"""Reading one HTTP response of a chat-completion call: the status, then the server-sent
events, each read bounded by the call's deadlines, turned into ``LLMEvent``s.

Failures are classified here, because only here is it known whether a token had arrived:
before the first token a dropped stream, a 5xx or an in-stream 5xx error is ``Retryable``
(the client may try again); after it, the same failure is ``LLMStreamBroken``. A 429 is
not retried: the endpoint (or the gateway before it) is shedding load, and the turn's
no-LLM answer now beats queueing more work on it; it counts against the breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from app.llm.assembly import ContentSplitter, ToolCallAssembler
from app.llm.errors import (
    LLMBadRequest,
    LLMError,
    LLMProtocolError,
    LLMStreamBroken,
    LLMTimeout,
    LLMUnavailable,
)
from app.llm.events import Done, LLMEvent, ReasoningDelta, Usage

log = logging.getLogger(__name__)


@dataclass
class Call:
    """Clock and progress of one call, shared by its attempts (times are loop.time())."""

    start: float
    first_deadline: float
    total_deadline: float
    first_token_timeout: float
    total_timeout: float
    attempts: int = 0
    first_token_at: float | None = None

    @property
    def started(self) -> bool:
        """Has any token (text, reasoning or a tool-call fragment) arrived?"""
        return self.first_token_at is not None


class Retryable(Exception):
    """This attempt failed before any token, in a way worth another try."""

    def __init__(self, error: LLMError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


async def raise_for_status(response: httpx.Response, call: Call) -> NoReturn:
    status = response.status_code
    try:
        async with asyncio.timeout_at(call.first_deadline):
            detail = _error_message((await response.aread()).decode("utf-8", "replace"))
    except (TimeoutError, httpx.HTTPError):
        detail = ""
    message = f"LLM endpoint answered {status}" + (f": {detail}" if detail else "")
    if status >= 500:
        retry_after = _seconds(response.headers.get("retry-after"))
        raise Retryable(LLMUnavailable(message, status_code=status), retry_after)
    if status == 429:
        raise LLMUnavailable(message, status_code=status)
    raise LLMBadRequest(message, status_code=status)


async def read_events(response: httpx.Response, call: Call) -> AsyncGenerator[LLMEvent, None]:
    """Text and reasoning as they arrive; then whole tool calls, usage and ``Done``."""
    loop = asyncio.get_running_loop()
    splitter = ContentSplitter()
    calls = ToolCallAssembler()
    usage: Usage | None = None
    finish_reason: str | None = None
    finished = False
    payloads = _sse_payloads(response, call)
    async with contextlib.aclosing(payloads):
        async for data in payloads:
            if data.strip() == "[DONE]":
                finished = True
                break
            chunk = _json_object(data, call)
            if "error" in chunk:
                _raise_stream_error(chunk["error"], call)
            if isinstance(chunk.get("usage"), dict):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                # vLLM >= 0.10 says "reasoning"; older vLLM and others "reasoning_content".
                reasoning = delta.get("reasoning") or delta.get("reasoning_content")
                content = delta.get("content")
                fragments = delta.get("tool_calls")
                if (reasoning or content or fragments) and not call.started:
                    call.first_token_at = loop.time()
                if reasoning:
                    yield ReasoningDelta(str(reasoning))
                if content:
                    for event in splitter.feed(str(content)):
                        yield event
                if fragments:
                    calls.feed(fragments)
                if choice.get("finish_reason"):
                    finish_reason = str(choice["finish_reason"])
    if not finished and finish_reason is None:
        raise_dropped(call, "the stream ended before the answer did")
    for event in splitter.flush():
        yield event
    if splitter.dropped_calls:
        log.warning(
            "tool-call markup in the answer text was dropped",
            extra={"llm_dropped_calls": splitter.dropped_calls},
        )
    for tool_call in calls.finish():
        yield tool_call
    if usage is not None:
        yield usage
    yield Done(
        finish_reason,
        first_token_s=None if call.first_token_at is None else call.first_token_at - call.start,
        elapsed_s=loop.time() - call.start,
        attempts=call.attempts,
    )


async def _sse_payloads(response: httpx.Response, call: Call) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event, each read bounded by the deadline."""
    lines = response.aiter_lines()
    data: list[str] = []
    while True:
        started = call.started
        try:
            async with asyncio.timeout_at(call.total_deadline if started else call.first_deadline):
                line = await anext(lines)
        except StopAsyncIteration:
            break
        except TimeoutError as exc:
            if started:
                raise LLMTimeout(
                    f"the answer took longer than {call.total_timeout}s",
                    phase="total",
                    tokens_emitted=True,
                ) from exc
            raise LLMTimeout(
                f"no token within {call.first_token_timeout}s", phase="first_token"
            ) from exc
        except httpx.TransportError as exc:
            raise_dropped(call, f"the stream broke: {exc!r}", exc)
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
        # Comments (":") and other fields (event:, id:, retry:) carry nothing for us.
    if data:
        yield "\n".join(data)


def raise_dropped(call: Call, message: str, cause: BaseException | None = None) -> NoReturn:
    if call.started:
        raise LLMStreamBroken(message) from cause
    raise Retryable(LLMUnavailable(message)) from cause


def _raise_stream_error(error: Any, call: Call) -> NoReturn:
    # vLLM reports failures after the 200 status as an error object inside the stream.
    message = str(error.get("message") or error) if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) else None
    if call.started:
        raise LLMStreamBroken(f"the LLM endpoint failed mid-answer: {message}")
    if status is None or status >= 500:
        raise Retryable(LLMUnavailable(message, status_code=status))
    if status == 429:
        raise LLMUnavailable(message, status_code=status)
    raise LLMBadRequest(message, status_code=status)


def _json_object(data: str, call: Call) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        chunk = None
    if not isinstance(chunk, dict):
        raise LLMProtocolError(
            f"not an OpenAI stream chunk: {data[:200]!r}", tokens_emitted=call.started
        )
    return chunk


def _usage(raw: Mapping[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )


def _error_message(body: str) -> str:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return body.strip()[:300]
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(parsed.get("message"), str):  # vLLM < 0.6 put it at the top level
            return str(parsed["message"])[:300]
    return body.strip()[:300]


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from an inference server; use our backoff
