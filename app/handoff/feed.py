"""The agents' live feed as server-sent events: queue changes and customer messages.

One generator for every client of it (the admin API's key-authenticated stream and the
console's cookie-authenticated one), so both see the same events in the same format.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse

from app.core.bus import HANDOFF_TOPIC, EventBus

# Proxies and load balancers drop idle streams; a comment line keeps this one open.
KEEPALIVE_SECONDS = 15.0
Allowed = Callable[[], Awaitable[bool]]


async def queue_events(
    bus: EventBus, *, ready: bool = False, allowed: Allowed | None = None
) -> AsyncIterator[str]:
    """``ready``: also announce the subscription as a ``ready`` event, which a browser's
    EventSource reports (it hides comments), so a page knows when it is live. ``allowed``:
    asked again before events go out (a signed-out or disabled console user); when it says
    no, a ``signed_out`` event ends the stream."""
    async with bus.subscribe(HANDOFF_TOPIC) as sub:
        # Sent once subscribed: a console that sees it misses nothing published afterwards.
        yield "retry: 3000\n: connected\n\n" + ("event: ready\ndata: {}\n\n" if ready else "")
        while True:
            event = await sub.get(timeout=KEEPALIVE_SECONDS)
            # Asked before anything goes out (one primary-key read; queue events are a few a
            # minute), so nothing reaches a reader signed out since the last one.
            if allowed is not None and not await allowed():
                yield "event: signed_out\ndata: {}\n\n"
                return
            if event is None:
                yield ": keep-alive\n\n"
                continue
            kind = str(event.get("type", "message"))
            yield f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


def stream(
    bus: EventBus, *, ready: bool = False, allowed: Allowed | None = None
) -> StreamingResponse:
    return StreamingResponse(
        queue_events(bus, ready=ready, allowed=allowed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
