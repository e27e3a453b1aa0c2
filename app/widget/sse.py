"""Server-Sent Events for the widget: one turn's reply, and a conversation's live events.

A turn runs in its own task: a visitor closing the tab mid-answer must not cancel the turn
half-persisted, or the retry of that message would have nothing to replay.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.conversation.schemas import (
    Citations,
    Done,
    Error,
    Handoff,
    ReplyEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnRequest,
)
from app.conversation.turns import handle_turn
from app.core.bus import conversation_topic
from app.core.errors import AppError
from app.core.streams import detached
from app.runtime import Runtime

log = logging.getLogger(__name__)

KEEPALIVE = b": keep-alive\n\n"
DISCONNECT_POLL_SECONDS = 1.0
_LIVE_TYPES = {
    "agent_message": ("message_id", "content", "agent", "created_at"),
    "status": ("status",),
}


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def encode(event: ReplyEvent) -> bytes:
    match event:
        case TextDelta(text=text):
            return sse("delta", {"text": text})
        case Citations(items=items):
            return sse("citations", {"items": [c.as_dict() for c in items]})
        case Handoff(reason=reason, message=message):
            return sse("handoff", {"reason": reason, "message": message})
        case ToolCallStarted(name=name):
            # Arguments stay server-side: they may echo account numbers back into the page.
            return sse("tool", {"name": name, "phase": "started"})
        case ToolCallFinished(name=name):
            return sse("tool", {"name": name, "phase": "finished"})
        case Done():
            return sse(
                "done",
                {
                    "conversation_id": event.conversation_id,
                    "message_id": event.message_id,
                    "route": event.route,
                    "replayed": event.replayed,
                    "cached": event.cached,
                },
            )
        case Error(code=code, message=message):
            return sse("error", {"code": code, "message": message})
    raise TypeError(f"unknown reply event {event!r}")


async def with_keepalive(chunks: AsyncIterator[bytes], interval: float) -> AsyncIterator[bytes]:
    """Pass chunks through, inserting a comment whenever ``interval`` seconds pass without one
    (proxies close idle streams; the browser learns the connection is alive). The chunks are
    produced by a task of their own: a visitor closing the tab does not cut the turn short."""
    try:
        async for chunk in detached(chunks, idle=interval):
            yield KEEPALIVE if chunk is None else chunk
    except AppError as exc:
        # Checked before streaming; this is a race (say, the conversation was deleted).
        log.warning("widget turn refused mid-stream", extra={"code": exc.code})
        yield sse("error", {"code": exc.code, "message": exc.message})
    except Exception:
        log.exception("widget stream failed")
        yield sse("error", {"code": "internal_error", "message": "the answer failed"})


async def _turn_chunks(runtime: Runtime, req: TurnRequest) -> AsyncIterator[bytes]:
    # Retries need nothing here: the turn replays a stored answer, waits for a first attempt
    # still running, or answers a message whose first attempt died.
    async for event in handle_turn(runtime, req):
        yield encode(event)


def turn_stream(runtime: Runtime, req: TurnRequest, *, keepalive: float) -> AsyncIterator[bytes]:
    return with_keepalive(_turn_chunks(runtime, req), keepalive)


async def live_events(
    runtime: Runtime,
    conversation_id: str,
    *,
    keepalive: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """A human agent's messages and status changes, as they happen.

    ``ready`` is sent once subscribed: the frame reloads history then, so nothing published
    between its last load and the subscription is lost.
    """
    async with runtime.bus.subscribe(conversation_topic(conversation_id)) as sub:
        yield sse("ready", {"conversation_id": conversation_id})
        last_sent = time.monotonic()
        while True:
            # Short waits: a visitor who left is noticed within a second, not at the next
            # keep-alive, so subscriptions do not pile up.
            event = await sub.get(timeout=min(DISCONNECT_POLL_SECONDS, keepalive))
            if event is None:
                if await is_disconnected():
                    return
                if time.monotonic() - last_sent >= keepalive:
                    last_sent = time.monotonic()
                    yield KEEPALIVE
                continue
            fields = _LIVE_TYPES.get(str(event.get("type")))
            if fields is not None:
                last_sent = time.monotonic()
                yield sse(str(event["type"]), {f: event.get(f) for f in fields})
