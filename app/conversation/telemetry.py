"""A turn's metrics and its root span, observed from the events every channel receives."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

from opentelemetry.trace import Status, StatusCode

from app.conversation.schemas import Done, Error, Handoff, ReplyEvent, TextDelta
from app.observability import metrics, tracing


async def observed(
    channel: str, events: AsyncGenerator[ReplyEvent, None]
) -> AsyncGenerator[ReplyEvent, None]:
    """``events`` unchanged, run under the turn's span (routing, retrieval, LLM and tool
    spans are its children), and counted once the turn ends."""
    span, ctx = tracing.start("kefu.turn", **{"kefu.channel": channel})
    started = time.perf_counter()
    first_token: float | None = None
    route: str | None = None
    handoff = False
    try:
        async with contextlib.aclosing(tracing.within(ctx, events)) as traced:
            async for event in traced:
                if isinstance(event, TextDelta) and event.text and first_token is None:
                    first_token = time.perf_counter() - started
                elif isinstance(event, Handoff):
                    handoff = True
                elif isinstance(event, Done):
                    # A replayed answer was counted when it was first given.
                    route = None if event.replayed else event.route
                    span.set_attribute("kefu.route", event.route)
                    span.set_attribute("kefu.conversation_id", event.conversation_id)
                    if event.intent:
                        span.set_attribute("kefu.intent", event.intent)
                elif isinstance(event, Error):
                    route = "error"
                    span.set_status(Status(StatusCode.ERROR, event.code))
                yield event
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        span.end()
    if route is None:
        return
    labels = {"channel": channel, "route": route}
    metrics.TURNS.labels(**labels).inc()
    metrics.TURN_DURATION.labels(**labels, stage="end").observe(time.perf_counter() - started)
    if first_token is not None:
        metrics.TURN_DURATION.labels(**labels, stage="first_token").observe(first_token)
    if handoff:
        metrics.HANDOFFS.labels(channel=channel).inc()
