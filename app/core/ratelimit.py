"""Rate limits per client IP, per API key and per widget visitor, with the ``limits`` library:
sliding windows on Redis when configured (all processes share them), in-process otherwise.

Redis going away degrades the limits to this process's own counters, with a warning; it
never fails the request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import error_body

log = logging.getLogger(__name__)

WARN_EVERY = 30.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if redis_url:
            storage: Storage = RedisStorage(
                redis_url,
                socket_connect_timeout=1,
                socket_timeout=1,
                key_prefix="kefu-limits",
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._warned_at = -math.inf
        self._lock = threading.Lock()
        self._memory_lock = threading.Lock()

    def hit(self, namespace: str, identity: str, per_minute: int) -> Verdict:
        """Count one request; blocking (call it from a thread when on the event loop)."""
        item = RateLimitItemPerMinute(per_minute)
        if self._shared is not None:
            try:
                allowed = self._shared.hit(item, namespace, identity)
            except Exception as exc:  # Redis down or slow: this process's own counters instead
                self._warn(exc)
            else:
                if allowed:
                    return Verdict(True)
                try:
                    reset = self._shared.get_window_stats(item, namespace, identity).reset_time
                except Exception:
                    reset = time.time() + 60
                return Verdict(False, max(1, math.ceil(reset - time.time())))
        # One thread at a time: the memory storage restarts its expiry timer unlocked, and
        # two threads at once can start the same timer twice (a RuntimeError).
        with self._memory_lock:
            if self._memory.hit(item, namespace, identity):
                return Verdict(True)
            reset = self._memory.get_window_stats(item, namespace, identity).reset_time
        return Verdict(False, max(1, math.ceil(reset - time.time())))

    def _warn(self, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._warned_at < WARN_EVERY:
                return
            self._warned_at = now
        log.warning("Redis unavailable for rate limits, counting in-process: %s", exc)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The caller's address: the peer, unless it is a trusted proxy; then the nearest address
    in ``X-Forwarded-For`` that is not one (addresses further left are the caller's to write)."""
    if not peer:
        return "unknown"
    nets = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in nets)

    if not is_trusted(peer) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


class ClientIpLimit:
    """Pure ASGI: 429 for a client IP over its per-minute limit on public paths, before
    authentication or any body is read (keys and visitor ids are the caller's to rotate)."""

    def __init__(
        self, app: ASGIApp, *, prefixes: tuple[str, ...], per_minute: int, trusted: list[str]
    ) -> None:
        self.app, self.prefixes, self.per_minute, self.trusted = app, prefixes, per_minute, trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = scope["app"].state.runtime.limiter
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = dict(scope["headers"]).get(b"x-forwarded-for", b"").decode("latin-1")
        ip = client_ip(peer, forwarded or None, self.trusted)
        scope.setdefault("state", {})["client_ip"] = ip
        verdict = await run_in_threadpool(limiter.hit, "ip", ip, self.per_minute)
        if verdict.allowed:
            await self.app(scope, receive, send)
            return
        await rate_limited(
            send,
            f"rate limit of {self.per_minute} requests per minute per client exceeded",
            verdict.retry_after,
        )


async def rate_limited(send: Send, message: str, retry_after: int) -> None:
    body = json.dumps(error_body("rate_limited", message, {"retry_after": retry_after})).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
