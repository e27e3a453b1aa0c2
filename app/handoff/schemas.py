from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.conversation.models import ConversationStatus, MessageRole
from app.feedback.schemas import FeedbackOut

AgentName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    Field(description="The human agent (a login name); also sent with events to the customer."),
]
QueueStatus = Literal["awaiting_human", "human"]


class AgentBody(BaseModel):
    agent: AgentName


class CloseBody(BaseModel):
    agent: AgentName | None = Field(
        None, description="When given, only the holding agent (or nobody) may close it."
    )


class AgentMessageIn(BaseModel):
    agent: AgentName
    display_name: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="The name the customer sees on the reply (default: agent)."),
    ] = None
    # The length limit comes from settings and is checked by the service.
    text: str = Field(description="The reply, delivered on the customer's channel.")
    client_message_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Set it and a retried send is stored and delivered once.",
    )


class QueueItem(BaseModel):
    id: str
    channel: str
    status: ConversationStatus
    assigned_agent: str | None
    customer_id: str | None
    external_user_id: str | None
    waiting_since: datetime = Field(
        description="When the bot last spoke: the handoff reply (it is silent after that)."
    )
    last_message_at: datetime
    last_customer_message: str | None = Field(description="Its first 200 characters.")
    message_count: int


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    channel: str
    external_user_id: str | None
    customer_id: str | None
    status: ConversationStatus
    assigned_agent: str | None
    summary: str
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: MessageRole
    content: str
    client_message_id: str | None
    reply_to_id: int | None
    route: str | None
    citations: list[dict[str, Any]]
    author: str | None = Field(description="An agent message: the agent who wrote it.")
    latency_ms: int | None
    created_at: datetime
    feedback: FeedbackOut | None = Field(
        None, description="A bot answer: the customer's rating of it, if any."
    )
    attachments: list[int] = Field(
        default_factory=list,
        description="A customer message: its images' ids "
        "(GET /admin/conversations/{id}/attachments/{n}).",
    )


class TraceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: int
    route: str
    intent: str | None
    confidence: float | None
    search_query: str | None
    retrieved: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    citations: list[dict[str, Any]] = []
    route_signals: dict[str, float] = {}
    prompt_version: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, float]
    error: str | None
    created_at: datetime


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]
    traces: list[TraceOut]


class AgentMessageOut(BaseModel):
    conversation: ConversationOut
    message: MessageOut
    replayed: bool = Field(False, description="True when a retry found the message stored.")


class CannedReplyIn(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class CannedReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    text: str
    updated_by: str | None
    updated_at: datetime
