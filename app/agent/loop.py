"""The agent loop: stream the model's answer, run the tools it calls, feed the results back,
at most ``max_rounds`` rounds of tools per turn, then make it answer.

The LLM client is kefu's own (docs/agent.md says why); the tools are LangChain tools, whose
definitions the runner derives and which it invokes with the conversation's customer injected.
The customer sees text as it is generated; reasoning (Qwen3 thinking) is counted for the
trace and dropped: it is neither shown nor sent back as history. LLM errors propagate to
the caller, which knows whether any text reached the customer and falls back accordingly.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.llm import (
    Done,
    LLMClient,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolChoice,
    Usage,
    tool_message,
)
from app.tools.service import ToolContext, ToolRunner, error

RESULT_CHARS = 4000  # a tool result larger than this is cut before it goes back to the model


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolFinished:
    call_id: str
    name: str
    result: dict[str, Any]
    ms: float


AgentEvent = TextDelta | ToolStarted | ToolFinished


@dataclass
class AgentResult:
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_chars: int = 0
    rounds: int = 0
    handoff: bool = False
    handoff_reason: str | None = None
    finish_reason: str | None = None
    # Seconds from the first request to the first token, and in the LLM overall.
    first_token_s: float | None = None
    llm_s: float = 0.0


class Agent:
    def __init__(self, llm: LLMClient, tools: ToolRunner, *, max_rounds: int = 4) -> None:
        self._llm = llm
        self._tools = tools
        self._max_rounds = max_rounds

    async def run(
        self,
        messages: list[dict[str, Any]],
        *,
        ctx: ToolContext,
        thinking: bool,
        result: AgentResult,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncGenerator[AgentEvent, None]:
        """Answer the conversation in ``messages`` (system first), filling ``result``.

        ``messages`` grows with the assistant's tool calls and their results.
        """
        definitions = list(tools) if tools is not None else self._tools.definitions
        for round_no in range(self._max_rounds + 1):
            # The last round may not call tools: the model must answer with what it has.
            choice: ToolChoice | None = "none" if round_no == self._max_rounds else None
            text, calls = "", []
            started = time.perf_counter()
            events = self._llm.stream(
                messages, tools=definitions, tool_choice=choice, thinking=thinking
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, TextDelta):
                        if result.first_token_s is None:
                            result.first_token_s = result.llm_s + time.perf_counter() - started
                        text += event.text
                        result.text += event.text
                        yield event
                    elif isinstance(event, ReasoningDelta):
                        if result.first_token_s is None:
                            result.first_token_s = result.llm_s + time.perf_counter() - started
                        result.reasoning_chars += len(event.text)
                    elif isinstance(event, ToolCall):
                        calls.append(event)
                    elif isinstance(event, Usage):
                        result.prompt_tokens += event.prompt_tokens
                        result.completion_tokens += event.completion_tokens
                    elif isinstance(event, Done):
                        result.finish_reason = event.finish_reason
            result.llm_s += time.perf_counter() - started
            if not calls or choice == "none":
                return
            result.rounds += 1
            messages.append(
                {
                    "role": "assistant",
                    "content": text,
                    "tool_calls": [call.as_message_part() for call in calls],
                }
            )
            for call in calls:
                yield ToolStarted(call.id, call.name, call.arguments)
                t0 = time.perf_counter()
                if call.error is not None:
                    outcome = error("invalid_arguments", call.error)
                else:
                    outcome = await self._tools.run(call.name, call.arguments, ctx)
                ms = round((time.perf_counter() - t0) * 1000, 1)
                if call.name == "request_human" and outcome.get("handoff"):
                    result.handoff = True
                    result.handoff_reason = str(call.arguments.get("reason") or "request_human")
                result.tool_calls.append(
                    {
                        "round": round_no + 1,
                        "name": call.name,
                        "arguments": call.arguments if call.error is None else call.raw_arguments,
                        "result": outcome,
                        "ms": ms,
                    }
                )
                yield ToolFinished(call.id, call.name, outcome, ms)
                messages.append(tool_message(call, _bounded(outcome)))
            if text and not text.endswith("\n"):
                # Text before a tool call ("let me check…") and the answer after it.
                result.text += "\n"
                yield TextDelta("\n")


def _bounded(outcome: dict[str, Any]) -> dict[str, Any] | str:
    encoded = json.dumps(outcome, ensure_ascii=False)
    if len(encoded) <= RESULT_CHARS:
        return outcome
    return encoded[:RESULT_CHARS] + "…(truncated)"
