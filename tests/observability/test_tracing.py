"""A turn's spans (HTTP, turn, routing, retrieval, each LLM call, each tool call) in one
trace, its W3C traceparent on the requests to the LLM endpoint, and its trace id in the log
lines and on the stored turn trace. Exported to memory instead of an OTLP collector."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from app.conversation.models import TurnTrace
from app.core.logging import JsonFormatter
from tests.agent.conftest import tool_reply
from tests.llm.scripted_server import text_reply
from tests.observability.conftest import Ops
from tests.support import ingest, wait_until

QUESTION = "积分抵扣有没有上限？最多能抵订单金额的多少？"


class Lines(logging.Handler):
    """Log lines as kefu writes them (formatted where they are emitted, in the turn)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def finished(exporter: InMemorySpanExporter, last: str) -> tuple[ReadableSpan, ...]:
    """The spans once the request's own has ended (after its response reached the client)."""
    wait_until(
        lambda: any(s.name == last for s in exporter.get_finished_spans()),
        timeout=10,
        what=f"the {last} span",
    )
    return exporter.get_finished_spans()


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_a_turn_is_one_trace_from_the_http_request_to_the_llm(
    ops: Ops, exporter: InMemorySpanExporter, log_lines: Lines
) -> None:
    ops.llm.script(
        tool_reply("request_human", {"reason": "complaint", "summary": "wants a person"}),
        text_reply("已为您转接人工客服。"),
    )
    sent_before = len(ops.llm.chat_requests)
    resp = ops.chat(QUESTION)
    assert resp.status_code == 200, resp.text

    spans = finished(exporter, "POST /v1/chat/completions")
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    (http,) = by_name["POST /v1/chat/completions"]
    (turn,) = by_name["kefu.turn"]
    (route,) = by_name["kefu.route"]
    (retrieve,) = by_name["kefu.retrieve"]
    (tool,) = by_name["kefu.tool"]
    calls = sorted(by_name["llm.chat"], key=lambda s: s.start_time or 0)
    assert len(calls) == 2  # the tool call, then the answer

    assert turn.context is not None and http.context is not None
    trace_id = turn.context.trace_id
    assert turn.parent is not None and turn.parent.span_id == http.context.span_id
    for child in (route, retrieve, tool, *calls):
        assert child.context is not None and child.context.trace_id == trace_id
        assert child.parent is not None and child.parent.span_id == turn.context.span_id
    assert turn.attributes is not None and turn.attributes["kefu.channel"] == "openai"
    assert turn.attributes["kefu.route"] == "llm"
    assert route.attributes is not None and route.attributes["kefu.route"] == "llm"
    assert tool.attributes is not None and tool.attributes["kefu.tool.name"] == "request_human"
    assert calls[1].attributes is not None and calls[1].attributes["kefu.llm.outcome"] == "success"
    assert http.attributes is not None and http.attributes["http.route"] == "/v1/chat/completions"

    # W3C trace context on each request to the LLM endpoint, naming that call's span.
    sent = ops.llm.chat_requests[sent_before:]
    assert len(sent) == 2
    for request, call in zip(sent, calls, strict=True):
        assert call.context is not None
        version, trace, parent, flags = request.headers["traceparent"].split("-")
        assert (version, trace, parent) == (
            "00",
            f"{trace_id:032x}",
            f"{call.context.span_id:016x}",
        )
        assert int(flags, 16) & 1  # sampled

    # The trace id on the stored turn trace and in the log lines the request wrote.
    hex_id = f"{trace_id:032x}"
    with ops.runtime.session_factory() as s:
        stored = s.scalar(select(TurnTrace).order_by(TurnTrace.id.desc()))
        assert stored is not None and stored.trace_id == hex_id
    access = [
        line
        for line in log_lines.lines
        if line["logger"] == "kefu.access" and "POST /v1/chat/completions" in str(line["message"])
    ]
    assert access and all(line["trace_id"] == hex_id for line in access)


def test_a_caller_s_traceparent_is_continued(ops: Ops, exporter: InMemorySpanExporter) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = httpx.get(f"{ops.root}/healthz", headers={"traceparent": parent}, timeout=10)
    assert resp.status_code == 200
    (span,) = [s for s in finished(exporter, "GET /healthz") if s.name == "GET /healthz"]
    assert span.context is not None and f"{span.context.trace_id:032x}" == parent[3:35]
    assert span.parent is not None and f"{span.parent.span_id:016x}" == parent[36:52]


def test_without_a_tracer_no_trace_id_is_invented(ops: Ops, log_lines: Lines) -> None:
    ops.llm.script(text_reply("单笔最多可抵扣订单金额的30% [1]。"))
    resp = ops.chat(QUESTION)
    assert resp.status_code == 200
    rid = resp.headers["x-request-id"]

    def mine() -> list[dict[str, object]]:
        return [line for line in log_lines.lines if line.get("request_id") == rid]

    # The access line is written once the response has gone out.
    wait_until(lambda: any(x["logger"] == "kefu.access" for x in mine()), timeout=10, what="log")
    assert not any("trace_id" in line for line in mine())
    with ops.runtime.session_factory() as s:
        stored = s.scalar(select(TurnTrace).order_by(TurnTrace.id.desc()))
        assert stored is not None and stored.trace_id is None


def test_an_ingestion_job_and_its_stages_are_spans(
    ops: Ops, exporter: InMemorySpanExporter
) -> None:
    ingest(ops.runtime, {"hours.md": "# 营业时间\n\n门店每天9点到21点营业。\n"}, kb="traced")
    spans = finished(exporter, "ingestion.job")
    (job,) = [s for s in spans if s.name == "ingestion.job"]
    assert job.context is not None and job.attributes is not None
    assert job.attributes["kefu.ingestion.status"] == "succeeded"
    for stage in ("ingestion.parse", "ingestion.embed"):
        (span,) = [s for s in spans if s.name == stage]
        assert span.parent is not None and span.parent.span_id == job.context.span_id
