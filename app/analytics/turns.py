"""The turns an analysis looks at, read once from messages, traces and feedback.

A turn is one bot answer with the customer message it answers. Every figure is computed
from the same list, so the summary, the knowledge gaps and their CSVs always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.conversation.models import Conversation, Message, MessageRole, TurnTrace
from app.feedback.models import MessageFeedback
from knowledge.models import Document, KnowledgeBase

# The agent's handoff tool: calling it always queues the conversation for a person.
HANDOFF_TOOL = "request_human"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    channel: str | None = None
    kb: KnowledgeBase | None = None


@dataclass
class Turn:
    message_id: int
    conversation_id: str
    channel: str
    created_at: datetime
    route: str
    question: str
    answer: str
    intent: str | None = None
    answer_ms: float | None = None
    # The best cosine similarity of a retrieved passage (None: nothing retrieved).
    top_score: float | None = None
    cited: bool = False
    used_tools: bool = False
    handoff_reason: str | None = None
    rating: str | None = None
    comment: str | None = None
    document_ids: set[int] = field(default_factory=set)

    @property
    def handoff(self) -> bool:
        return self.handoff_reason is not None


def handoff_reason(
    route: str, intent: str | None, tool_calls: Iterable[dict[str, Any]]
) -> str | None:
    """Why the turn handed the customer to a person (None: it did not): the router's intent,
    or the reason the agent gave its handoff tool."""
    if route == "handoff":
        return intent or "handoff"
    for call in tool_calls:
        if call.get("name") == HANDOFF_TOOL:
            args = call.get("arguments") or {}
            return str(args.get("reason") or HANDOFF_TOOL)
    return None


def _top_score(retrieved: list[dict[str, Any]]) -> float | None:
    scores = [float(r["dense_score"]) for r in retrieved if r.get("dense_score") is not None]
    return max(scores) if scores else None


def _answer_ms(msg: Message, trace: TurnTrace | None) -> float | None:
    total = (trace.timings or {}).get("total_ms") if trace is not None else None
    if total is not None:
        return float(total)
    return float(msg.latency_ms) if msg.latency_ms is not None else None


def load(*, db_session: Session, window: Window) -> list[Turn]:
    """The bot answers given in the window, oldest first (of one knowledge base: those whose
    retrieval or citations touched one of its documents)."""
    question = aliased(Message)
    stmt = (
        select(Message, Conversation.channel, question.content, TurnTrace, MessageFeedback)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(question, question.id == Message.reply_to_id)
        .outerjoin(TurnTrace, TurnTrace.message_id == Message.id)
        .outerjoin(MessageFeedback, MessageFeedback.message_id == Message.id)
        .where(
            Message.role == MessageRole.ASSISTANT,
            Message.created_at >= window.start,
            Message.created_at < window.end,
        )
        .order_by(Message.created_at, Message.id)
    )
    if window.channel:
        stmt = stmt.where(Conversation.channel == window.channel)
    turns = []
    for msg, channel, asked, trace, feedback in db_session.execute(stmt):
        retrieved = list(trace.retrieved or []) if trace is not None else []
        citations = list(trace.citations or []) if trace is not None else list(msg.citations)
        tool_calls = list(trace.tool_calls or []) if trace is not None else []
        route = trace.route if trace is not None else (msg.route or "")
        intent = trace.intent if trace is not None else None
        docs = {int(r["document_id"]) for r in [*retrieved, *citations] if "document_id" in r}
        turns.append(
            Turn(
                message_id=msg.id,
                conversation_id=msg.conversation_id,
                channel=channel,
                created_at=msg.created_at,
                route=route,
                question=asked or "",
                answer=msg.content,
                intent=intent,
                answer_ms=_answer_ms(msg, trace),
                top_score=_top_score(retrieved),
                cited=bool(citations),
                used_tools=any(c.get("name") != HANDOFF_TOOL for c in tool_calls),
                handoff_reason=handoff_reason(route, intent, tool_calls),
                rating=feedback.rating.value if feedback is not None else None,
                comment=feedback.comment if feedback is not None else None,
                document_ids=docs,
            )
        )
    if window.kb is not None:
        kb_docs = set(db_session.scalars(select(Document.id).where(Document.kb_id == window.kb.id)))
        turns = [t for t in turns if t.document_ids & kb_docs]
    return turns


def message_counts(
    *, db_session: Session, window: Window, conversation_ids: set[str]
) -> dict[str, int]:
    """Messages of these conversations in the window, by role."""
    stmt = (
        select(Message.conversation_id, Message.role)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.created_at >= window.start, Message.created_at < window.end)
    )
    if window.channel:
        stmt = stmt.where(Conversation.channel == window.channel)
    counts: dict[str, int] = {}
    for conversation_id, role in db_session.execute(stmt):
        if conversation_id in conversation_ids:
            counts[role.value] = counts.get(role.value, 0) + 1
    return counts


def knowledge_base_names(*, db_session: Session) -> dict[int, str]:
    """Each document's knowledge base, by document id."""
    rows = db_session.execute(
        select(Document.id, KnowledgeBase.name).join(
            KnowledgeBase, KnowledgeBase.id == Document.kb_id
        )
    )
    return {doc_id: name for doc_id, name in rows}
