"""Streams that outlive their reader: a producer in a task of its own, with idle ticks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")

# Detached producers, referenced until they end (the event loop holds tasks only weakly).
_running: set[asyncio.Task[None]] = set()


async def detached(items: AsyncIterator[T], *, idle: float) -> AsyncGenerator[T | None, None]:
    """``items``, produced by a task of their own, with None after every ``idle`` seconds
    without one. Closing or cancelling this iterator leaves the task running to the end.

    Channels stream turns this way (the widget, ``/v1``): a client that hangs up mid-answer
    must not cancel the turn half-way, so its answer is still stored and a retry of the
    message replays it.
    """
    # (item, None) for each item, (None, exc) if the producer failed, None at the end.
    queue: asyncio.Queue[tuple[T | None, Exception | None] | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in items:
                queue.put_nowait((item, None))
        except Exception as exc:
            queue.put_nowait((None, exc))
        except asyncio.CancelledError:
            # Shutting down: a reader must not take the cut-off answer for a finished one.
            queue.put_nowait((None, RuntimeError("the turn was cancelled")))
            raise
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(pump())
    _running.add(task)
    task.add_done_callback(_running.discard)
    while True:
        try:
            got = await asyncio.wait_for(queue.get(), idle)
        except TimeoutError:
            yield None
            continue
        if got is None:
            return
        item, exc = got
        if exc is not None:
            raise exc
        yield item
