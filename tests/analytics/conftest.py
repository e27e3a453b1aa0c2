"""Seeded conversations with known outcomes, written through the conversation and feedback
services (the same calls the turn pipeline makes), on both databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.conversation import service as conversation_service
from app.conversation.models import MessageRole
from app.feedback import service as feedback_service
from app.feedback.models import Rating
from knowledge.models import Document, KnowledgeBase

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class T:
    """One turn to seed: the question, how it was answered, and what the customer said."""

    question: str
    route: str = "llm"
    total_ms: float = 100.0
    score: float | None = None  # the best retrieved passage's cosine
    cited: bool = False
    tools: tuple[dict[str, Any], ...] = ()
    intent: str | None = None
    rating: Rating | None = None
    comment: str | None = None
    document: bool = False  # retrieved from the seeded knowledge base's document
    at: datetime = NOW


@dataclass
class Seeded:
    conversations: dict[str, str] = field(default_factory=dict)  # name -> id
    answers: dict[str, int] = field(default_factory=dict)  # question -> answer id
    kb: str = "returns"


SeedFn = Callable[[dict[str, tuple[str, list[T]]]], Seeded]


@pytest.fixture
def seed(session_factory: sessionmaker[Session]) -> SeedFn:
    def run(spec: dict[str, tuple[str, list[T]]]) -> Seeded:
        out = Seeded()
        with session_factory.begin() as s:
            kb = KnowledgeBase(name=out.kb, embedding_model="e5", embedding_dim=384)
            s.add(kb)
            s.flush()
            doc = Document(
                kb_id=kb.id, name="returns.md", doc_type="md", content_hash="x", storage_path="x"
            )
            s.add(doc)
            s.flush()
            for name, (channel, turns) in spec.items():
                conv = conversation_service.create(
                    db_session=s, channel=channel, external_user_id=f"u-{name}", customer_id=None
                )
                out.conversations[name] = conv.id
                for t in turns:
                    _turn(s, conv, t, doc.id if t.document else 999_999, out)
        return out

    return run


def _turn(s: Session, conv: Any, t: T, document_id: int, out: Seeded) -> None:
    asked = conversation_service.add_message(
        db_session=s, conversation=conv, role=MessageRole.USER, content=t.question
    )
    source = {"chunk_id": "c", "document_id": document_id, "source": "returns.md"}
    citations = [{"n": 1, **source}] if t.cited else []
    answer = conversation_service.add_message(
        db_session=s,
        conversation=conv,
        role=MessageRole.ASSISTANT,
        content=f"answer to {t.question}",
        reply_to_id=asked.id,
        route=t.route,
        citations=citations,
        latency_ms=int(t.total_ms),
    )
    asked.created_at = answer.created_at = t.at
    retrieved = (
        [{**source, "score": 0.03, "dense_score": t.score, "keyword_score": None}]
        if t.score is not None
        else []
    )
    conversation_service.add_trace(
        db_session=s,
        conversation_id=conv.id,
        message_id=answer.id,
        route=t.route,
        intent=t.intent,
        retrieved=retrieved,
        tool_calls=list(t.tools),
        citations=citations,
        timings={"route_ms": 5.0, "total_ms": t.total_ms},
    )
    if t.rating is not None:
        feedback_service.record(
            db_session=s, message=answer, rating=t.rating, comment=t.comment, source="test"
        )
    out.answers[t.question] = answer.id
