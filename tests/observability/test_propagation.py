"""The HTTP business-data backend gets the W3C traceparent of the tool call that asked it."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from app.core.config import BusinessDataSettings
from app.customers.http import HttpBusinessData
from app.observability import tracing
from tests.customers.company_api import API_KEY, serve_company_api


def _source(base_url: str) -> HttpBusinessData:
    return HttpBusinessData(
        BusinessDataSettings(
            backend="http",
            base_url=base_url,
            api_key=SecretStr(API_KEY),
            timeout=5.0,
        )
    )


async def test_business_api_requests_carry_the_current_span(
    exporter: InMemorySpanExporter,
) -> None:
    with serve_company_api() as api:
        source = _source(api.base_url)
        try:
            with tracing.span("kefu.tool") as span:
                assert await source.get_membership(customer_id="C10001") is not None
            tracing.use(None)  # tracing off: nothing is sent
            await source.get_membership(customer_id="C10001")
        finally:
            await source.aclose()
    traced, untraced = api.requests
    ctx = span.get_span_context()
    version, trace, parent, _ = traced["traceparent"].split("-")
    assert (version, trace, parent) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert untraced["traceparent"] is None
