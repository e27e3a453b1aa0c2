"""Live events between processes: a human agent's reply reaching the customer's open widget,
a customer's message reaching the agent's console. In-process by default, Redis pub/sub when
configured (several API processes must share it).

Events are small JSON objects; delivery is best effort (a subscriber that is not connected
misses them), so everything published is also stored first and clients reload history on
reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Event = dict[str, Any]


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def channel_topic(channel: str) -> str:
    """Agent replies and status changes for push channels (WeChat, WeCom) to deliver."""
    return f"channel:{channel}"


HANDOFF_TOPIC = "handoff"  # queue changes, for agents' consoles


class Subscription:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

    def _put(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:  # a stalled reader loses events rather than memory
            log.warning("subscriber queue full; event dropped")

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when ``timeout`` seconds pass without one."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class EventBus(ABC):
    @abstractmethod
    async def publish(self, topic: str, event: Event) -> None: ...

    @abstractmethod
    def subscribe(self, topic: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """``async with bus.subscribe(topic) as sub``: events published after entering."""

    async def aclose(self) -> None:
        return None


class InProcessBus(EventBus):
    """One process only. Publish from the event loop (``await``), not from worker threads."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    async def publish(self, topic: str, event: Event) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub._put(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self._subs.setdefault(topic, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[topic]


class RedisBus(EventBus):
    """Redis pub/sub; while Redis is unreachable, events reach this process's subscribers
    only (with a warning), rather than failing the turn that publishes them."""

    def __init__(self, url: str, *, prefix: str = "kefu:bus:") -> None:
        self._r = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=None
        )
        self._p = prefix
        self._local = InProcessBus()

    async def publish(self, topic: str, event: Event) -> None:
        try:
            await self._r.publish(self._p + topic, json.dumps(event, ensure_ascii=False))
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, event delivered in-process only: %s", exc)
            await self._local.publish(topic, event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        pubsub = self._r.pubsub()
        try:
            await pubsub.subscribe(self._p + topic)
            # Read the confirmation so events published after entering are never missed.
            await pubsub.get_message(timeout=5)
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, subscribing in-process only: %s", exc)
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            async with self._local.subscribe(topic) as local:
                yield local
            return
        sub = Subscription()

        async def pump() -> None:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    with contextlib.suppress(ValueError):
                        sub._put(json.loads(message["data"]))

        task = asyncio.create_task(pump())
        try:
            yield sub
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def aclose(self) -> None:
        await self._r.aclose()


def build_bus(redis_url: str | None) -> EventBus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
