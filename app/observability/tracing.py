"""OpenTelemetry tracing: off (a no-op tracer) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

Spans are made current only between two awaits of the code they cover, never across a
``yield`` to a consumer: kefu's turn is an async generator that channels read from other
frames (a streaming response, a collecting loop), and a context attached in one frame and
detached in another is an error in OpenTelemetry. ``within`` does that for generators.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncGenerator, Iterator
from typing import Any, TypeVar

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer

from app.core.observability_config import ObservabilitySettings

log = logging.getLogger(__name__)
T = TypeVar("T")
_NAME = "kefu"
_provider: trace.TracerProvider | None = None


def configure(settings: ObservabilitySettings) -> bool:
    """Export spans over OTLP/HTTP when an endpoint is configured (once per process)."""
    if _provider is not None or not settings.otlp_endpoint:
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otlp_endpoint.rstrip("/")
    # The variable names the collector's base URL (the spec's rule); a value given to the
    # exporter itself is the full traces URL.
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", _NAME)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    use(provider)
    log.info("tracing on", extra={"otlp_endpoint": endpoint})
    return True


def use(provider: trace.TracerProvider | None) -> None:
    """Send kefu's spans to ``provider`` (None: back to the global, a no-op by default).
    Kept apart from OpenTelemetry's global provider, which can be set only once."""
    global _provider
    _provider = provider


def tracer() -> Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer(_NAME)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span current for the block (which must not yield to a consumer)."""
    with tracer().start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


def start(name: str, **attributes: Any) -> tuple[Span, Context]:
    """A span that is not made current, and the context that makes it the parent."""
    new = tracer().start_span(name, attributes=_clean(attributes))
    return new, trace.set_span_in_context(new)


async def within(ctx: Context, items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Run ``items`` with ``ctx`` current, detached again before each item is handed on."""
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            yield item
    finally:
        token = otel_context.attach(ctx)
        try:
            await items.aclose()
        finally:
            otel_context.detach(token)


async def inject_traceparent(request: httpx.Request) -> None:
    """An httpx request hook: the current span's W3C ``traceparent`` on outgoing calls."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(request.headers)


def outgoing_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for a request made in the current span."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


def extract(headers: dict[str, str]) -> Context:
    """The caller's trace context (a ``traceparent`` header), to continue its trace."""
    return propagate.extract(headers)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else None


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
