"""The application factory: the one place that wires every package together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from app import __version__
from app.analytics.router import router as analytics_router
from app.auth.gate import AuthGate, is_upload
from app.auth.router import router as auth_router
from app.auth.router import whoami_router
from app.channels.tencent.router import router as tencent_router
from app.console.router import install as install_console
from app.console.router import is_upload as is_console_upload
from app.conversation.warmup import warm
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from app.core.ratelimit import ClientIpLimit
from app.dify.router import router as dify_router
from app.feedback import service as feedback_service
from app.handoff.router import router as handoff_router
from app.health.router import router as health_router
from app.health.service import Warmup
from app.knowledge_bases.router import jobs_router
from app.knowledge_bases.router import router as knowledge_router
from app.observability import metrics, tracing
from app.observability.middleware import ObservabilityMiddleware
from app.observability.router import router as metrics_router
from app.openai_compat.router import router as openai_router
from app.retrieval.router import router as retrieval_router
from app.runtime import Runtime
from app.widget.router import router as widget_router

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, warm: bool | None = None
) -> FastAPI:
    """``warm``: load models and indexes before /readyz says ready; by default only when the
    app builds its own runtime (a runtime passed in is its owner's to warm)."""
    settings = settings or (runtime.settings if runtime else get_settings())
    configure_logging(level=settings.log_level, json_logs=settings.log_json)
    tracing.configure(settings.observability)
    feedback_service.on_feedback(metrics.feedback)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or Runtime.build(settings)
        if owned:
            # Jobs a crash or a stop left behind: queued, or running under a dead lease.
            await run_in_threadpool(app.state.runtime.ingestion.recover)
        app.state.warmup = Warmup()
        task = None
        if owned if warm is None else warm:
            # In a thread: /healthz and /readyz ("starting") answer while the models load.
            task = asyncio.create_task(_warm(app.state.runtime, app.state.warmup))
            if settings.warm_before_serving:
                # Several workers share one socket: a worker takes connections once its
                # start-up ends, so a replacement for a dead one ends it warm.
                await asyncio.shield(task)
        else:
            app.state.warmup.state = "ready"
            app.state.warmup.finished.set()
        log.info("kefu started", extra={"environment": settings.environment})
        try:
            yield
        finally:
            if task is not None:
                # A warm-up thread cannot be cancelled: let it finish before closing its stores.
                await task
            if owned:
                await app.state.runtime.aclose()

    app = FastAPI(
        title="kefu",
        version=__version__,
        description="Customer-service chatbot backend with retrieval-augmented generation.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(auth_router)
    app.include_router(whoami_router)
    app.include_router(knowledge_router)
    app.include_router(jobs_router)
    app.include_router(retrieval_router)
    app.include_router(openai_router)
    app.include_router(handoff_router)
    app.include_router(analytics_router)
    app.include_router(widget_router)
    app.include_router(dify_router)
    app.include_router(tencent_router)
    install_console(app)

    upload_limit = settings.ingestion.max_upload_bytes * 4  # several files per request
    json_limit = settings.limits.max_body_bytes

    def limit_for(scope: Scope) -> int:
        # By route, never by Content-Type: a caller chooses its Content-Type. The gate has
        # already refused the upload route to anyone but an admin; the console's upload
        # route reads its body only after its session check.
        return upload_limit if is_upload(scope) or is_console_upload(scope) else json_limit

    app.add_middleware(BodySizeLimitMiddleware, limit_for=limit_for)
    app.add_middleware(AuthGate)
    app.add_middleware(
        ClientIpLimit,
        prefixes=("/widget/",),
        per_minute=settings.limits.ip_rate_per_minute,
        trusted=settings.limits.trusted_proxies,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ObservabilityMiddleware)  # outermost: its span covers the access log
    return app


async def _warm(runtime: Runtime, warmup: Warmup) -> None:
    start = time.perf_counter()
    try:
        timings = await asyncio.to_thread(warm, runtime)
    except Exception as exc:  # reported on /readyz (503) rather than crashing the server
        log.exception("warm-up failed")
        warmup.state, warmup.detail = "down", f"{type(exc).__name__}: {exc}"[:300]
    else:
        warmup.state = "ready"
        warmup.detail = ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
    finally:
        warmup.ms = round((time.perf_counter() - start) * 1000, 1)
        warmup.finished.set()
