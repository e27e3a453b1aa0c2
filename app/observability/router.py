"""``GET /metrics``: Prometheus text format, for a scraper beside kefu or one with the key."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from app.core.errors import AppError, NotFound
from app.core.observability_config import ObservabilitySettings
from app.observability import exposition, gauges, metrics

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    runtime = request.app.state.runtime
    settings: ObservabilitySettings = runtime.settings.observability
    if not settings.enabled:
        raise NotFound("metrics are switched off (KEFU_METRICS_ENABLED=false)")
    _authorise(request, settings)
    if runtime.llm is not None:
        # The breaker moves from open to half-open with time alone, not with a call.
        metrics.breaker_state(runtime.llm.breaker_state)
    body = await run_in_threadpool(exposition.latest)
    body += await run_in_threadpool(gauges.latest, runtime.session_factory)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _authorise(request: Request, settings: ObservabilitySettings) -> None:
    if settings.token is not None:
        header = request.headers.get("authorization", "")
        if exposition.bearer_matches(header, settings.token.get_secret_value()):
            return
        raise _unauthorised("/metrics needs 'Authorization: Bearer <KEFU_METRICS_TOKEN>'")
    if not _private(request.client.host if request.client else None):
        raise _unauthorised(
            "/metrics answers only private addresses unless KEFU_METRICS_TOKEN is set"
        )


def _private(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_private


def _unauthorised(message: str) -> AppError:
    return AppError(
        message, code="unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )
