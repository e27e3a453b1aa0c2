"""Count and time every HTTP request by route template, and open its server span.

Pure ASGI (a BaseHTTPMiddleware would buffer streamed answers). Outermost, so the span is
current for everything below, the access log line included.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics, tracing

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PROPAGATED = (b"traceparent", b"tracestate")


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Anything else a caller invents would be a new series each time.
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in _PROPAGATED
        }
        parent = tracing.extract(carrier)
        span = tracing.tracer().start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method}
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            route = route_template(scope)
            elapsed = time.perf_counter() - start
            labels = {"method": method, "route": route, "status": str(status)}
            metrics.HTTP_REQUESTS.labels(**labels).inc()
            metrics.HTTP_DURATION.labels(**labels).observe(elapsed)
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(token)


def route_template(scope: Scope) -> str:
    """``/admin/knowledge-bases/{kb}``, never the raw path; "unmatched" for a 404."""
    path = getattr(scope.get("route"), "path_format", None)
    if isinstance(path, str):
        return path
    # Refused before routing (the auth gate, a body too large): find the route it was for.
    app = scope.get("app")
    if app is None:
        return "unmatched"
    templates: list[tuple[re.Pattern[str], str]] | None = getattr(app.state, _CACHE, None)
    if templates is None:
        templates = []
        _collect(getattr(app, "routes", ()), templates)
        setattr(app.state, _CACHE, templates)
    for regex, template in templates:
        if regex.match(scope.get("path", "")):
            return template
    return "unmatched"


_CACHE = "observability_route_templates"


def _collect(routes: Iterable[Any], out: list[tuple[re.Pattern[str], str]]) -> None:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router wrapper
        if included is not None:
            _collect(included.routes, out)
            continue
        regex, template = getattr(route, "path_regex", None), getattr(route, "path_format", None)
        if isinstance(regex, re.Pattern) and isinstance(template, str):
            out.append((regex, template))
