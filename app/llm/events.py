"""What the LLM client yields: small frozen dataclasses, one per kind of stream event.

Reasoning (Qwen3's thinking) is its own event and its own field of the result: it is never
shown to a customer and never sent back to the model as history. The caller decides what,
if anything, to do with it (a trace, a debug view); ``LLMResult.assistant_message()`` leaves
it out on purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer, safe to show the customer as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking: for traces only, never for the customer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete function call, emitted once all its streamed fragments arrived.

    ``arguments`` is the parsed JSON object. When the model produced arguments that are not
    JSON, or JSON that is not an object, ``arguments`` is ``{}`` and ``error`` says why: the
    call is still reported (with ``raw_arguments`` as the model wrote them) so the agent can
    tell the model its call was malformed instead of silently dropping it.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str
    error: str | None = None

    def as_message_part(self) -> dict[str, Any]:
        """This call as an element of an assistant message's ``tool_calls``."""
        # A malformed call is echoed as "{}": vLLM parses history tool-call arguments as
        # JSON (0.32 coerces bad ones to {} with a warning; other servers and older vLLM
        # reject the whole request), so every later turn of the conversation would fail.
        arguments = self.raw_arguments if self.error is None else "{}"
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": arguments or "{}"},
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the whole request (completion includes any reasoning tokens)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Done:
    """The last event of a stream that ended normally.

    ``finish_reason`` is the server's: "stop", "length" (max_tokens reached), "tool_calls",
    or None when the server sent none. Timings are seconds from the call, for traces.
    """

    finish_reason: str | None
    first_token_s: float | None = None
    elapsed_s: float = 0.0
    attempts: int = 1


LLMEvent = TextDelta | ReasoningDelta | ToolCall | Usage | Done


@dataclass(frozen=True, slots=True)
class LLMResult:
    """A whole answer, collected from the stream by ``LLMClient.complete``."""

    text: str
    reasoning: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    first_token_s: float | None = None
    elapsed_s: float = 0.0
    attempts: int = 1

    def assistant_message(self) -> dict[str, Any]:
        """The assistant turn to append to the history: text and tool calls, no reasoning."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.as_message_part() for call in self.tool_calls]
        return message


def tool_message(call: ToolCall, content: str | dict[str, Any] | list[Any]) -> dict[str, Any]:
    """The ``tool`` role message answering ``call``; structured results are sent as JSON."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": call.id, "content": text}
