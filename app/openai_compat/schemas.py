"""The OpenAI chat-completions wire format, as much of it as kefu reads or writes.

Requests allow unknown fields (temperature, tools, response_format…): clients built for
OpenAI send them, and the support agent has its own settings for all of them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MODEL_ID = "kefu"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The text of the message; non-text parts (images, audio) are not understood."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(description=f"Must be '{MODEL_ID}'.")
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=1000,
        description="The last user message is the customer's turn; earlier ones only seed a "
        "new conversation.",
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="The end user: continues their open conversation.",
    )
    conversation_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="kefu extension (extra_body): continue this conversation.",
    )
    client_message_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="kefu extension (extra_body): a retried request with the same id is "
        "answered once, from the stored reply.",
    )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class KefuTurn(BaseModel):
    """What the support agent did, beyond the text: standard clients ignore it."""

    conversation_id: str
    message_id: int | None
    route: str
    intent: str | None
    handoff: dict[str, str] | None = Field(
        description="Set when the customer is being handed to a person: {reason, message}."
    )
    tool_calls: list[dict[str, Any]]
    replayed: bool
    cached: bool = Field(
        False, description="The answer was reused from the answer cache, not asked of the LLM."
    )


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_ID
    system_fingerprint: None = None
    choices: list[Choice]
    usage: Usage
    citations: list[dict[str, Any]] = Field(description="kefu extension: the sources cited.")
    kefu: KefuTurn


class ModelCard(BaseModel):
    id: str = MODEL_ID
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "kefu"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
