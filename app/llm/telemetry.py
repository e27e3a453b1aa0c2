"""Metrics and a span for each LLM call: outcome, time to first token, tokens, breaker."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from opentelemetry.trace import Status, StatusCode

from app.llm.errors import LLMBadRequest, LLMError, LLMStreamBroken, LLMTimeout, LLMUnavailable
from app.llm.events import Done, LLMEvent, ToolCall, Usage
from app.observability import metrics, tracing


class CallTelemetry:
    """One call: ``with`` it around the stream, ``saw`` each event."""

    def __init__(
        self, model: str, *, tools: int, thinking: bool, breaker: Callable[[], str]
    ) -> None:
        self.span, self.context = tracing.start(
            "llm.chat",
            **{
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "kefu.llm.tools": tools,
                "kefu.llm.thinking": thinking,
            },
        )
        self._events = 0
        self._breaker = breaker

    def saw(self, event: LLMEvent) -> None:
        self._events += 1
        if isinstance(event, Usage):
            metrics.LLM_TOKENS.labels(kind="prompt").inc(event.prompt_tokens)
            metrics.LLM_TOKENS.labels(kind="completion").inc(event.completion_tokens)
            self.span.set_attribute("gen_ai.usage.input_tokens", event.prompt_tokens)
            self.span.set_attribute("gen_ai.usage.output_tokens", event.completion_tokens)
        elif isinstance(event, ToolCall):
            self.span.add_event("tool_call", {"name": event.name})
        elif isinstance(event, Done):
            if event.first_token_s is not None:
                metrics.LLM_TTFT.observe(event.first_token_s)
                self.span.set_attribute("kefu.llm.first_token_s", round(event.first_token_s, 4))
            self.span.set_attribute("kefu.llm.attempts", event.attempts)
            if event.finish_reason:
                self.span.set_attribute("gen_ai.response.finish_reasons", [event.finish_reason])

    def __enter__(self) -> CallTelemetry:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = self.outcome(exc)
        metrics.LLM_REQUESTS.labels(outcome=outcome).inc()
        metrics.breaker_state(self._breaker())
        self.span.set_attribute("kefu.llm.outcome", outcome)
        if isinstance(exc, LLMError):
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self.span.end()

    def outcome(self, exc: BaseException | None) -> str:
        if exc is None:
            return "success"
        if isinstance(exc, LLMUnavailable):
            return "breaker_open" if exc.breaker_open else "unavailable"
        if isinstance(exc, LLMTimeout):
            return "timeout"
        if isinstance(exc, LLMBadRequest):
            return "bad_request"
        if isinstance(exc, LLMStreamBroken):
            return "broken"
        if isinstance(exc, LLMError):
            return "error"
        return "cancelled"  # the caller stopped reading (a client hung up)
