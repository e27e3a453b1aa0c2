"""Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT, and with it spans reach an OTLP/HTTP
collector (here a loopback HTTP server that records what it receives)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace import TracerProvider

from app.core.observability_config import ObservabilitySettings
from app.observability import tracing
from tests.support import wait_until


class Collector(ThreadingHTTPServer):
    received: list[tuple[str, str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.received.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_tracer() -> Iterator[None]:
    tracing.use(None)
    yield
    tracing.use(None)


def test_without_an_endpoint_tracing_stays_off(
    monkeypatch: pytest.MonkeyPatch, no_tracer: None
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing.configure(ObservabilitySettings(_env_file=None)) is False
    with tracing.span("kefu.turn"):
        assert tracing.current_trace_id() is None


def test_with_an_endpoint_spans_are_exported_over_otlp_http(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, no_tracer: None
) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    assert tracing.configure(ObservabilitySettings(_env_file=None)) is True
    provider = tracing._provider
    assert isinstance(provider, TracerProvider)
    try:
        with tracing.span("kefu.turn"):
            trace_id = tracing.current_trace_id()
        assert trace_id is not None
        provider.force_flush()
        wait_until(lambda: bool(collector.received), timeout=10, what="an OTLP export")
    finally:
        provider.shutdown()
    path, content_type, body = collector.received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert bytes.fromhex(trace_id) in body  # the span's trace id, in the protobuf payload
