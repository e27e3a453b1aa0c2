"""Async client for an OpenAI-protocol chat endpoint: vLLM serving Qwen3, in production.

One ``LLMClient`` per process, built from ``settings.llm`` and closed at shutdown. Every
call streams (``complete`` collects the same stream), so one code path handles timeouts,
retries and the breaker:

- Deadlines run from the call: ``first_token_timeout`` until the first token (waiting for
  a free slot, connecting, retries and the model's prefill all count), ``total_timeout``
  for the whole answer; ``connect_timeout`` per connection attempt. Any of them: ``LLMTimeout``.
- Connection errors and 5xx (and a stream that dies before its first token) are retried
  with full jitter, at most ``max_retries`` times and only while no token has arrived; a
  failure after a token raises ``LLMStreamBroken`` instead, because the caller may already
  have shown that text. 429 is not retried: the endpoint is shedding load, and a retry would
  add to it; it counts against the breaker. Other 4xx are the request's fault:
  ``LLMBadRequest``.
- At most ``max_concurrency`` requests are in flight; a circuit breaker (see
  ``breaker.py``) refuses calls at once with ``LLMUnavailable`` while the endpoint is down.

Qwen3 specifics: thinking is off unless asked for, switched by the chat template through
``chat_template_kwargs.enable_thinking`` (vLLM ignores a top-level ``enable_thinking``);
sampling follows the model card per mode; ``top_k`` is a vLLM extension of the body.
Reasoning arrives as ``delta.reasoning`` (vLLM >= 0.10), ``delta.reasoning_content`` (older
vLLM and others), or inline ``<think>`` tags when the server runs no reasoning parser; all
three become ``ReasoningDelta``.

Consume ``stream`` to its end or close it (``async with contextlib.aclosing(...)``): an
abandoned generator keeps its slot and connection until it is garbage collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

import httpx

from app.core.config import LLMSettings
from app.llm.breaker import BreakerState, CircuitBreaker
from app.llm.errors import LLMBadRequest, LLMError, LLMTimeout, LLMUnavailable
from app.llm.events import (
    Done,
    LLMEvent,
    LLMResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from app.llm.response import Call, Retryable, raise_for_status, read_events
from app.llm.telemetry import CallTelemetry
from app.observability import tracing

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 2.0  # /readyz must answer fast even when the endpoint hangs
ToolChoice = Literal["auto", "none", "required"] | Mapping[str, Any]


class LLMClient:
    def __init__(
        self,
        settings: LLMSettings,
        *,
        backoff_base: float = 0.25,
        backoff_cap: float = 2.0,
    ) -> None:
        if not settings.base_url:
            raise ValueError("KEFU_LLM_BASE_URL is not set: there is no LLM endpoint to call")
        self._settings = settings
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            # Our own deadlines bound each read; httpx's read timeout is only a backstop.
            timeout=httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency + 2,  # + health probes
                max_keepalive_connections=settings.max_concurrency,
            ),
            # The endpoint is internal: an HTTP(S)_PROXY meant for the internet must not
            # capture it (nor loopback in tests).
            trust_env=False,
            event_hooks={"request": [tracing.inject_traceparent]},
        )
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._breaker = CircuitBreaker(
            failures=settings.breaker_failures, reset=settings.breaker_reset
        )

    @property
    def model(self) -> str:
        return self._settings.model

    @property
    def breaker_state(self) -> BreakerState:
        """closed, open or half_open; ``/readyz`` reports "degraded" while open."""
        return self._breaker.state

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def health(self) -> bool:
        """Does the endpoint answer ``GET /models`` and serve our model? Never raises."""
        timeout = httpx.Timeout(
            HEALTH_TIMEOUT, connect=min(self._settings.connect_timeout, HEALTH_TIMEOUT)
        )
        try:
            response = await self._http.get("models", timeout=timeout)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            served = {str(m.get("id")) for m in response.json().get("data", [])}
        except (ValueError, AttributeError, TypeError):
            return True  # up, but lists its models in some other shape
        return not served or self._settings.model in served

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
        thinking: bool = False,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        first_token_timeout: float | None = None,
    ) -> LLMResult:
        """The whole answer at once (same request, timeouts and retries as ``stream``)."""
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        usage: Usage | None = None
        done = Done(None)
        events = self.stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            thinking=thinking,
            max_tokens=max_tokens,
            extra_body=extra_body,
            first_token_timeout=first_token_timeout,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                match event:
                    case TextDelta():
                        text.append(event.text)
                    case ReasoningDelta():
                        reasoning.append(event.text)
                    case ToolCall():
                        calls.append(event)
                    case Usage():
                        usage = event
                    case Done():
                        done = event
        return LLMResult(
            text="".join(text),
            reasoning="".join(reasoning),
            tool_calls=calls,
            usage=usage,
            finish_reason=done.finish_reason,
            first_token_s=done.first_token_s,
            elapsed_s=done.elapsed_s,
            attempts=done.attempts,
        )

    async def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
        thinking: bool = False,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        first_token_timeout: float | None = None,
    ) -> AsyncGenerator[LLMEvent, None]:
        """Stream one chat completion as events.

        Text and reasoning arrive as they are generated; tool calls once complete, then
        ``Usage`` (when the server reports it) and ``Done`` last. ``tools`` are OpenAI
        function tools (give them ``"strict": true`` so vLLM constrains their arguments);
        ``tool_choice`` is "auto" (the server's default with tools), "none", "required" or
        ``{"type": "function", "function": {"name": ...}}``. ``extra_body`` is merged into
        the request last, for server extensions (``seed``, ``stop``, ``logit_bias``...).
        ``first_token_timeout`` overrides the setting for this call (a side job such as
        condensing a query is worth less waiting than the answer).
        """
        telemetry = CallTelemetry(
            self.model,
            tools=len(tools or ()),
            thinking=thinking,
            breaker=lambda: self.breaker_state,
        )
        events = self._stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            thinking=thinking,
            max_tokens=max_tokens,
            extra_body=extra_body,
            first_token_timeout=first_token_timeout,
        )
        with telemetry:
            # The call's span is current while the request is made: its traceparent goes out.
            async with contextlib.aclosing(tracing.within(telemetry.context, events)) as traced:
                async for event in traced:
                    telemetry.saw(event)
                    yield event

    async def _stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: ToolChoice | None,
        thinking: bool,
        max_tokens: int | None,
        extra_body: Mapping[str, Any] | None,
        first_token_timeout: float | None,
    ) -> AsyncGenerator[LLMEvent, None]:
        body = self._body(messages, tools, tool_choice, thinking, max_tokens, extra_body)
        now = asyncio.get_running_loop().time()
        s = self._settings
        first_wait = first_token_timeout or s.first_token_timeout
        call = Call(
            start=now,
            first_deadline=now + min(first_wait, s.total_timeout),
            total_deadline=now + s.total_timeout,
            first_token_timeout=first_wait,
            total_timeout=s.total_timeout,
        )
        if not self._breaker.acquire():
            raise LLMUnavailable(
                f"LLM circuit breaker is open after {self._breaker.consecutive_failures} "
                "failures in a row",
                breaker_open=True,
            )
        verdict: Literal["success", "failure"] | None = None
        try:
            await self._take_slot(call)
            try:
                attempts = self._attempts(body, call)
                async with contextlib.aclosing(attempts):
                    async for event in attempts:
                        yield event
            finally:
                self._slots.release()
            verdict = "success"
        except LLMBadRequest:
            verdict = "success"  # the endpoint is up; it refused this request
            raise
        except LLMTimeout as exc:
            verdict = None if exc.phase == "queue" else "failure"
            raise
        except LLMError:
            verdict = "failure"
            raise
        except BaseException:
            # Closed or cancelled by the caller: a stream that had started proves the
            # endpoint works; one that had not says nothing about it.
            verdict = "success" if call.started else None
            raise
        finally:
            if verdict == "success":
                self._breaker.record_success()
            elif verdict == "failure":
                self._breaker.record_failure()
            else:
                self._breaker.release()

    def _body(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: ToolChoice | None,
        thinking: bool,
        max_tokens: int | None,
        extra_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        s = self._settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens or (s.thinking_max_tokens if thinking else s.max_tokens),
            "temperature": s.thinking_temperature if thinking else s.temperature,
            "top_p": s.thinking_top_p if thinking else s.top_p,
            "top_k": s.thinking_top_k if thinking else s.top_k,
            "presence_penalty": s.thinking_presence_penalty if thinking else s.presence_penalty,
            "chat_template_kwargs": {"enable_thinking": thinking},
        }
        if tools:
            body["tools"] = [dict(t) for t in tools]
        if tool_choice is not None:
            body["tool_choice"] = tool_choice if isinstance(tool_choice, str) else dict(tool_choice)
        if extra_body:
            body.update(extra_body)
        return body

    async def _take_slot(self, call: Call) -> None:
        try:
            async with asyncio.timeout_at(call.first_deadline):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise LLMTimeout(
                f"all {self._settings.max_concurrency} LLM slots stayed busy until the "
                "first-token deadline",
                phase="queue",
            ) from exc

    async def _attempts(self, body: dict[str, Any], call: Call) -> AsyncGenerator[LLMEvent, None]:
        loop = asyncio.get_running_loop()
        while True:
            call.attempts += 1
            try:
                attempt = self._attempt(body, call)
                async with contextlib.aclosing(attempt):
                    async for event in attempt:
                        yield event
                return
            except Retryable as retry:
                delay = self._backoff(call.attempts, retry.retry_after)
                if (
                    call.attempts > self._settings.max_retries
                    or loop.time() + delay >= call.first_deadline
                ):
                    raise retry.error from retry.__cause__
                log.warning(
                    "LLM request failed before its first token; retrying",
                    extra={
                        "llm_attempt": call.attempts,
                        "llm_error": str(retry.error),
                        "llm_retry_in_s": round(delay, 3),
                    },
                )
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter: replicas retrying after the same outage spread out instead of
        # arriving together.
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        delay = random.uniform(0, ceiling)
        return max(delay, retry_after) if retry_after else delay

    async def _attempt(self, body: dict[str, Any], call: Call) -> AsyncGenerator[LLMEvent, None]:
        s = self._settings
        request = self._http.build_request(
            "POST", "chat/completions", json=body, headers={"Accept": "text/event-stream"}
        )
        try:
            async with asyncio.timeout_at(call.first_deadline):
                response = await self._http.send(request, stream=True)
        except TimeoutError as exc:
            raise LLMTimeout(
                f"no response within {call.first_token_timeout}s", phase="first_token"
            ) from exc
        except httpx.ConnectTimeout as exc:
            raise Retryable(
                LLMTimeout(f"could not connect within {s.connect_timeout}s", phase="connect")
            ) from exc
        except httpx.TransportError as exc:
            raise Retryable(LLMUnavailable(f"cannot reach the LLM endpoint: {exc!r}")) from exc
        try:
            if response.status_code != 200:
                await raise_for_status(response, call)
            events = read_events(response, call)
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event
        finally:
            await response.aclose()
