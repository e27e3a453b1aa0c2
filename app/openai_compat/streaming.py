"""`stream: true`: one turn as server-sent `chat.completion.chunk`s.

The turn runs in a task of its own, as the widget's do: a client that hangs up mid-answer
(an SDK timeout, a closed Dify tab) must not cancel the turn half-way, so its answer is
still stored and a retry of the message replays it. While the turn is silent (the LLM
thinking, a slow tool) a comment line keeps proxies from closing the idle stream; OpenAI's
SDKs and Dify skip comment lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, TypeVar

from app.conversation.schemas import Error, ReplyEvent, TextDelta, TurnRequest
from app.conversation.turns import handle_turn
from app.core.errors import AppError
from app.core.streams import detached
from app.openai_compat.schemas import MODEL_ID
from app.openai_compat.service import Turn, completion_id, internal_error
from app.runtime import Runtime

T = TypeVar("T")

KEEPALIVE_SECONDS = 15.0
KEEPALIVE = ": keep-alive\n\n"


async def stream(runtime: Runtime, req: TurnRequest, *, include_usage: bool) -> AsyncIterator[str]:
    """The turn's chunks, once its first reply event is in.

    That event is awaited before any byte is sent, so a turn refused at the start (unknown
    conversation, bad text) is an HTTP error and not a broken stream. Refusals come from
    the database in milliseconds; a first event slower than a keep-alive interval (the LLM
    thinking) starts the stream, and anything failing after that is a mid-stream error.
    """
    events = detached(handle_turn(runtime, req), idle=KEEPALIVE_SECONDS)
    first: list[ReplyEvent | None] = []
    try:
        first.append(await anext(events))
    except StopAsyncIteration:
        pass
    except AppError:
        raise
    except Exception as exc:
        raise internal_error(exc) from exc
    return _chunks(_chain(first, events), req, include_usage=include_usage)


async def _chain(first: list[T], rest: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    async with aclosing(rest):
        for item in first:
            yield item
        async for item in rest:
            yield item


def _sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


def _error_event(code: str, message: str) -> str:
    # OpenAI's own mid-stream error shape: its SDKs raise it as an APIError.
    return _sse({"error": {"code": code, "message": message, "type": "server_error"}})


async def _chunks(
    events: AsyncGenerator[ReplyEvent | None, None], req: TurnRequest, *, include_usage: bool
) -> AsyncIterator[str]:
    head = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time())}
    head |= {"model": MODEL_ID, "system_fingerprint": None}
    if include_usage:
        head["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**head, "choices": [choice], **extra})

    turn = Turn()
    yield chunk({"role": "assistant", "content": ""})
    async with aclosing(events):
        try:
            async for event in events:
                if event is None:
                    yield KEEPALIVE
                    continue
                turn.add(event)
                if isinstance(event, TextDelta) and event.text:
                    yield chunk({"content": event.text})
                elif isinstance(event, Error):
                    yield _error_event(event.code, event.message)
                    yield _sse("[DONE]")
                    return
        except AppError as exc:
            yield _error_event(exc.code, exc.message)
            yield _sse("[DONE]")
            return
        except Exception as exc:
            error = internal_error(exc)
            yield _error_event(error.code, error.message)
            yield _sse("[DONE]")
            return
    citations = [c.as_dict() for c in turn.citations]
    kefu = turn.kefu(req.conversation_id).model_dump()
    yield chunk({}, "stop", citations=citations, kefu=kefu)
    if include_usage:
        yield _sse({**head, "choices": [], "usage": turn.usage(req).model_dump()})
    yield _sse("[DONE]")
