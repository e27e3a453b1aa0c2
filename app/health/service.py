"""Readiness checks: each component reported; required ones decide the status code."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kombu import Connection  # type: ignore[attr-defined]
from sqlalchemy import text

from app.attachments.vision import VisionClient
from app.llm import LLMClient
from app.runtime import Runtime
from knowledge.embeddings.openai_protocol import OpenAIEmbedder

State = Literal["ready", "down", "degraded", "not_configured", "starting"]


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    required: bool
    backend: str
    detail: str = ""
    ms: float = 0.0


@dataclass
class Warmup:
    """The lifespan's warm-up (models and indexes loaded before the first message)."""

    state: State = "starting"
    detail: str = ""
    ms: float = 0.0
    finished: threading.Event = field(default_factory=threading.Event)

    def check(self) -> Check:
        return Check("warmup", self.state, True, "lifespan", self.detail, self.ms)


def _timed(fn: Callable[[], str]) -> tuple[State, str, float]:
    start = time.perf_counter()
    try:
        detail = fn()
        state: State = "ready"
    except Exception as exc:  # a readiness probe reports every failure, it never raises
        detail, state = f"{type(exc).__name__}: {exc}"[:300], "down"
    return state, detail, round((time.perf_counter() - start) * 1000, 1)


def _disk(runtime: Runtime) -> Check:
    def free() -> str:
        left = shutil.disk_usage(runtime.settings.data_dir).free // (1024 * 1024)
        if left < runtime.settings.min_free_disk_mb:
            raise OSError(
                f"{left} MB free in the data directory, below {runtime.settings.min_free_disk_mb}"
            )
        return f"{left} MB free"

    state, detail, ms = _timed(free)
    return Check("disk", state, True, "local", detail, ms)


def _database(runtime: Runtime) -> Check:
    def ping() -> str:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return ""

    state, detail, ms = _timed(ping)
    return Check("database", state, True, runtime.engine.dialect.name, detail, ms)


def _vector_store(runtime: Runtime) -> Check:
    backend = "milvus" if runtime.settings.milvus.uri else "milvus-lite"
    state, detail, ms = _timed(runtime.index.ping)
    return Check("vector_store", state, True, backend, detail, ms)


def _broker(runtime: Runtime) -> Check:
    url = runtime.settings.celery.broker_url
    if not url:
        return Check("broker", "ready", False, "eager", "ingestion runs in-process")

    def ping() -> str:
        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=2)
        return ""

    state, detail, ms = _timed(ping)
    return Check("broker", state, True, url.split("://", 1)[0], detail, ms)


def _redis(runtime: Runtime) -> Check:
    if not runtime.settings.redis.url:
        return Check("redis", "ready", False, "in-process", "single-process cache")

    def ping() -> str:
        runtime.cache.ping()
        return ""

    state, detail, ms = _timed(ping)
    if state == "down":
        # Cache, limits and live events fall back to this process: serving, but degraded.
        return Check("redis", "degraded", False, "redis", "falling back to in-process", ms)
    return Check("redis", state, False, "redis", detail, ms)


async def _llm(runtime: Runtime) -> Check:
    # The service still answers without its LLM (from passages), so a dead one degrades.
    return await _endpoint("llm", runtime.llm, "answers from rules, FAQ and passages only")


async def _vision(runtime: Runtime) -> Check:
    # Images still reach people without it: the customer is asked to describe theirs.
    return await _endpoint("vision", runtime.vision, "images kept for human agents")


async def _endpoint(name: str, client: LLMClient | VisionClient | None, unset: str) -> Check:
    """An optional OpenAI-protocol model: ready, degraded (never down: kefu answers without
    it) or not configured."""
    if client is None:
        return Check(name, "not_configured", False, "none", unset)
    if client.breaker_state == "open":
        # Recent calls failed: nothing is sent until the breaker lets one through.
        return Check(name, "degraded", False, "openai", "circuit breaker open")
    start = time.perf_counter()
    ok = await client.health()
    ms = round((time.perf_counter() - start) * 1000, 1)
    if ok:
        return Check(name, "ready", False, "openai", "", ms)
    detail = f"{client.model} not listed by the endpoint's /models (or it is unreachable)"
    return Check(name, "degraded", False, "openai", detail, ms)


def _embedding(runtime: Runtime) -> Check:
    emb = runtime.settings.embedding
    if emb.backend != "openai":
        # In-process: loaded by the warm-up, which reports it.
        return Check("embedding", "ready", True, emb.backend, "in-process")
    embedder = runtime.index.embedder
    assert isinstance(embedder, OpenAIEmbedder)
    # Required: every turn is routed by embedding the message.
    state, detail, ms = _timed(embedder.ping)
    return Check("embedding", state, True, "openai", detail, ms)


def _reranker(runtime: Runtime) -> Check:
    stage = runtime.reranker
    if stage is None:
        return Check("reranker", "not_configured", False, "none", "fused order")
    backend = runtime.settings.reranking.backend
    if backend != "http":
        return Check("reranker", "ready", False, backend, stage.reranker.model_name)
    state, detail, ms = _timed(lambda: f"{len(stage.reranker.score('ping', ['ping']))} score")
    # Optional: without it searches keep the fused order.
    return Check("reranker", "degraded" if state == "down" else state, False, "http", detail, ms)


async def readiness(runtime: Runtime, warmup: Warmup) -> list[Check]:
    blocking = (_database, _vector_store, _broker, _redis, _disk, _embedding, _reranker)
    checks = await asyncio.gather(
        *(asyncio.to_thread(c, runtime) for c in blocking), _llm(runtime), _vision(runtime)
    )
    return [warmup.check(), *checks]
