"""Cache, dedup and rate-limit counters: in-process by default, Redis when configured."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

import redis

log = logging.getLogger(__name__)


class Cache(ABC):
    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...

    @abstractmethod
    def add(self, key: str, value: str, *, ttl: float) -> bool:
        """Set only if absent; True when this call set it (the basis of dedup)."""

    @abstractmethod
    def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter that expires ``ttl`` seconds after its first increment."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def append(self, key: str, value: str, *, ttl: float, max_len: int) -> bool:
        """Add to the end of a list that expires ``ttl`` after it was started; False (and
        nothing added) when it already holds ``max_len`` items."""

    @abstractmethod
    def read_list(self, key: str, *, start: int) -> list[str] | None:
        """The list's items from ``start`` on; None when it is shorter than ``start`` (it
        expired and began again)."""

    @abstractmethod
    def ping(self) -> None: ...

    def close(self) -> None:
        return None


class InProcessCache(Cache):
    """Good for one process; several processes need Redis to agree on dedup and limits."""

    def __init__(self, *, max_items: int = 100_000) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lists: dict[str, tuple[list[str], float]] = {}
        self._lock = threading.Lock()
        self._max = max_items

    def _live(self, key: str, now: float) -> tuple[str, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= now:
            del self._data[key]
            return None
        return item

    def _evict(self, now: float) -> None:
        if len(self._data) < self._max:
            return
        for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[k]
        while len(self._data) >= self._max:
            self._data.pop(next(iter(self._data)))

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._live(key, time.monotonic())
            return item[0] if item else None

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._evict(now)
            self._data[key] = (value, now + ttl if ttl else None)

    def add(self, key: str, value: str, *, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._live(key, now) is not None:
                return False
            self._evict(now)
            self._data[key] = (value, now + ttl)
            return True

    def incr(self, key: str, *, ttl: float) -> int:
        now = time.monotonic()
        with self._lock:
            item = self._live(key, now)
            if item is None:
                self._evict(now)
                self._data[key] = ("1", now + ttl)
                return 1
            count = int(item[0]) + 1
            self._data[key] = (str(count), item[1])
            return count

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)
            self._lists.pop(key, None)

    def append(self, key: str, value: str, *, ttl: float, max_len: int) -> bool:
        now = time.monotonic()
        with self._lock:
            items, expires = self._lists.get(key, ([], now + ttl))
            if expires <= now:
                items, expires = [], now + ttl
            if len(items) >= max_len:
                return False
            items.append(value)
            self._lists[key] = (items, expires)
            return True

    def read_list(self, key: str, *, start: int) -> list[str] | None:
        now = time.monotonic()
        with self._lock:
            items, expires = self._lists.get(key, ([], now + 1))
            if expires <= now:
                del self._lists[key]
                items = []
            return None if len(items) < start else items[start:]

    def ping(self) -> None:
        return None


class RedisCache(Cache):
    def __init__(self, url: str, *, prefix: str = "kefu:") -> None:
        self._r = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2
        )
        self._p = prefix

    def get(self, key: str) -> str | None:
        value = self._r.get(self._p + key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self._r.set(self._p + key, value, px=int(ttl * 1000) if ttl else None)

    def add(self, key: str, value: str, *, ttl: float) -> bool:
        return bool(self._r.set(self._p + key, value, nx=True, px=int(ttl * 1000)))

    def incr(self, key: str, *, ttl: float) -> int:
        pipe = self._r.pipeline()
        pipe.incr(self._p + key)
        # NX: the window starts at the first hit and is not extended by later ones.
        pipe.pexpire(self._p + key, int(ttl * 1000), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def delete(self, key: str) -> None:
        self._r.delete(self._p + key)

    def append(self, key: str, value: str, *, ttl: float, max_len: int) -> bool:
        # Two writers may both see room for the last item: a list one over its bound is
        # harmless, a lock round trip per append is not worth it.
        if int(self._r.llen(self._p + key)) >= max_len:
            return False
        pipe = self._r.pipeline()
        pipe.rpush(self._p + key, value)
        pipe.pexpire(self._p + key, int(ttl * 1000), nx=True)
        pipe.execute()
        return True

    def read_list(self, key: str, *, start: int) -> list[str] | None:
        pipe = self._r.pipeline()
        pipe.llen(self._p + key)
        pipe.lrange(self._p + key, start, -1)
        length, items = pipe.execute()
        return None if int(length) < start else [str(item) for item in items]

    def ping(self) -> None:
        self._r.ping()

    def close(self) -> None:
        self._r.close()


class FallbackCache(Cache):
    """Redis, and this process's memory while Redis is unreachable (with a warning): dedup
    and counters are then per process until it is back, which beats failing every request."""

    def __init__(self, primary: Cache, *, warn_every: float = 30.0) -> None:
        self._primary = primary
        self._local = InProcessCache()
        self._warn_every = warn_every
        self._warned_at = float("-inf")
        self._lock = threading.Lock()

    def _fallback(self, exc: Exception) -> Cache:
        with self._lock:
            now = time.monotonic()
            warn = now - self._warned_at >= self._warn_every
            if warn:
                self._warned_at = now
        if warn:
            log.warning("Redis unavailable, caching in-process: %s", exc)
        return self._local

    def get(self, key: str) -> str | None:
        try:
            return self._primary.get(key)
        except redis.RedisError as exc:
            return self._fallback(exc).get(key)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        try:
            self._primary.set(key, value, ttl=ttl)
        except redis.RedisError as exc:
            self._fallback(exc).set(key, value, ttl=ttl)

    def add(self, key: str, value: str, *, ttl: float) -> bool:
        try:
            return self._primary.add(key, value, ttl=ttl)
        except redis.RedisError as exc:
            return self._fallback(exc).add(key, value, ttl=ttl)

    def incr(self, key: str, *, ttl: float) -> int:
        try:
            return self._primary.incr(key, ttl=ttl)
        except redis.RedisError as exc:
            return self._fallback(exc).incr(key, ttl=ttl)

    def delete(self, key: str) -> None:
        try:
            self._primary.delete(key)
        except redis.RedisError as exc:
            self._fallback(exc).delete(key)
        self._local.delete(key)

    def append(self, key: str, value: str, *, ttl: float, max_len: int) -> bool:
        try:
            return self._primary.append(key, value, ttl=ttl, max_len=max_len)
        except redis.RedisError as exc:
            return self._fallback(exc).append(key, value, ttl=ttl, max_len=max_len)

    def read_list(self, key: str, *, start: int) -> list[str] | None:
        try:
            return self._primary.read_list(key, start=start)
        except redis.RedisError as exc:
            return self._fallback(exc).read_list(key, start=start)

    def ping(self) -> None:
        self._primary.ping()

    def close(self) -> None:
        self._primary.close()


def build_cache(redis_url: str | None) -> Cache:
    return FallbackCache(RedisCache(redis_url)) if redis_url else InProcessCache()
