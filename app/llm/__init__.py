"""The LLM client: streaming chat completions over the OpenAI protocol (vLLM + Qwen3).

Imports nothing of the project but ``app.core``; the agent, health checks and the
OpenAI-compatible API use it through the names below.
"""

from app.llm.breaker import BreakerState
from app.llm.client import LLMClient, ToolChoice
from app.llm.errors import (
    LLMBadRequest,
    LLMError,
    LLMProtocolError,
    LLMStreamBroken,
    LLMTimeout,
    LLMUnavailable,
)
from app.llm.events import (
    Done,
    LLMEvent,
    LLMResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    tool_message,
)

__all__ = [
    "BreakerState",
    "Done",
    "LLMBadRequest",
    "LLMClient",
    "LLMError",
    "LLMEvent",
    "LLMProtocolError",
    "LLMResult",
    "LLMStreamBroken",
    "LLMTimeout",
    "LLMUnavailable",
    "ReasoningDelta",
    "TextDelta",
    "ToolCall",
    "ToolChoice",
    "Usage",
    "tool_message",
]
