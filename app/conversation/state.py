"""What one turn carries between its stages (prepare, route, answer, persist)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.conversation.models import ConversationStatus
from app.conversation.schemas import Citation, TurnOutcome

if TYPE_CHECKING:
    from app.conversation.images import TurnImage
    from knowledge.models import KnowledgeBase


@dataclass
class Prepared:
    conversation_id: str
    user_message_id: int
    status: ConversationStatus
    history: list[tuple[str, str]]
    customer_id: str | None = None
    summary: str = ""
    summary_marker: int | None = None
    # Id of the oldest message in ``history`` (what the summary must reach up to).
    history_start_id: int | None = None
    channel: str = ""
    # A retry of a stored message that has no answer yet (first attempt running or died).
    pending: bool = False
    reply_id: int | None = None  # the stored answer a replay repeats
    replay: TurnOutcome | None = None
    images: list[TurnImage] = field(default_factory=list)  # stored with this message
    lang_hint: str | None = None  # TurnRequest.lang_hint
    # The knowledge bases this turn answers from, listed once when it is prepared (routing,
    # the answer cache's scope and retrieval all need them).
    kbs: list[KnowledgeBase] | None = None


@dataclass
class Answer:
    text: str
    route: str
    intent: str | None
    confidence: float | None
    lang: str = "zh"
    needs_reasoning: bool = False
    citations: list[Citation] = field(default_factory=list)
    handoff: bool = False
    handoff_reason: str | None = None
    search_query: str | None = None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # The router's scores (FAQ probability, calibrated score and margin, tie-breaker verdict).
    signals: dict[str, float] = field(default_factory=dict)
    prompt_version: str = "rules-v1"
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Why the LLM (or retrieval) could not do its part, for the trace.
    error: str | None = None
    # The condensing call found the LLM unreachable: the answer does not wait for it again.
    llm_down: bool = False
    # Answered from the answer cache; or, on a miss, where the answer may be kept.
    cached: bool = False
    cache_scope: str | None = None
    cache_vector: Any = None
