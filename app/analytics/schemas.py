from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.conversation.models import ConversationStatus

GapReason = Literal["low_confidence", "not_found", "thumbs_down"]


class TimeToAnswer(BaseModel):
    answers: int = Field(description="Answers with a recorded duration.")
    median_ms: float | None
    p95_ms: float | None


class FeedbackFigures(BaseModel):
    answers: int
    up: int
    down: int
    rated_share: float | None = Field(description="Rated answers / answers.")
    up_ratio: float | None = Field(description="Up / (up + down).")


class Figures(BaseModel):
    conversations: int = Field(description="Conversations with a bot answer in the range.")
    messages: dict[str, int] = Field(description="Messages in the range, by role.")
    answers: int
    routes: dict[str, int] = Field(description="Bot answers by route.")
    resolution_rate: float | None = Field(
        description="Conversations without a handoff or a thumbs-down / conversations."
    )
    handoff_rate: float | None = Field(description="Conversations with a handoff / conversations.")
    handoff_reasons: dict[str, int] = Field(description="Handoff answers by reason.")
    time_to_answer: TimeToAnswer
    feedback: FeedbackFigures


class Summary(Figures):
    start: datetime
    end: datetime
    channel: str | None
    knowledge_base: str | None
    by_channel: dict[str, Figures]
    by_knowledge_base: dict[str, Figures] = Field(
        description="Over the turns whose passages or citations came from each knowledge base "
        "(a turn may count under several)."
    )


class GapExample(BaseModel):
    message_id: int
    conversation_id: str
    channel: str
    question: str
    answer: str = Field(description="Its first 300 characters.")
    reasons: list[GapReason]
    top_score: float | None
    comment: str | None
    created_at: datetime


class GapGroup(BaseModel):
    question: str = Field(description="The group's first question (what it is about).")
    count: int = Field(description="Questions in the group.")
    conversations: int
    reasons: dict[GapReason, int]
    last_seen: datetime
    examples: list[GapExample]


class Gaps(BaseModel):
    start: datetime
    end: datetime
    questions: int = Field(description="Questions counted as gaps.")
    similarity: float
    groups: list[GapGroup]


class ConversationRow(BaseModel):
    id: str
    channel: str
    status: ConversationStatus
    created_at: datetime
    last_message_at: datetime
    messages: int
    first_question: str | None = Field(description="Its first 200 characters.")
    routes: list[str]
    handoff: bool
    feedback_up: int
    feedback_down: int


class ConversationPage(BaseModel):
    total: int
    items: list[ConversationRow]


class DayFigures(Figures):
    day: date = Field(description="A UTC calendar day; its messages are not counted by role.")


class Daily(BaseModel):
    start: datetime
    end: datetime
    channel: str | None
    days: list[DayFigures] = Field(description="Every day of the range, oldest first.")
