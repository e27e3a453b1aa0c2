"""Finding conversations: filters in SQL, one page at a time, newest activity first.

The handoff test matches ``turns.handoff_reason``: a turn routed to ``handoff``, or one whose
trace records the agent's handoff tool (its name inside the stored tool calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.analytics.schemas import ConversationPage, ConversationRow
from app.analytics.turns import HANDOFF_TOOL
from app.conversation.models import Conversation, Message, MessageRole, TurnTrace
from app.feedback.models import MessageFeedback, Rating

PREVIEW_CHARS = 200
FeedbackFilter = Literal["up", "down", "any", "none"]


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    route: str | None = None
    feedback: FeedbackFilter | None = None
    handoff: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    of_conv = Message.conversation_id == Conversation.id
    where: list[ColumnElement[bool]] = []
    if f.channel:
        where.append(Conversation.channel == f.channel)
    if f.start:
        where.append(Conversation.last_message_at >= f.start)
    if f.end:
        where.append(Conversation.created_at < f.end)
    if f.route:
        where.append(
            exists().where(of_conv, Message.role == MessageRole.ASSISTANT, Message.route == f.route)
        )
    if f.text:
        pattern = f"%{_like_escaped(f.text.lower())}%"
        where.append(
            exists().where(of_conv, func.lower(Message.content).like(pattern, escape="\\"))
        )
    if f.feedback:
        rated = MessageFeedback.conversation_id == Conversation.id
        if f.feedback == "none":
            where.append(~exists().where(rated))
        elif f.feedback == "any":
            where.append(exists().where(rated))
        else:
            where.append(exists().where(rated, MessageFeedback.rating == Rating(f.feedback)))
    if f.handoff is not None:
        handed = exists().where(
            TurnTrace.conversation_id == Conversation.id,
            or_(
                TurnTrace.route == "handoff",
                cast(TurnTrace.tool_calls, String).like(f'%"{HANDOFF_TOOL}"%'),
            ),
        )
        where.append(handed if f.handoff else ~handed)
    return where


def search(*, db_session: Session, filters: Filters, limit: int, offset: int) -> ConversationPage:
    where = _conditions(filters)
    total = db_session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    convs = list(
        db_session.scalars(
            select(Conversation)
            .where(*where)
            .order_by(Conversation.last_message_at.desc(), Conversation.id)
            .limit(limit)
            .offset(offset)
        )
    )
    ids = [c.id for c in convs]
    return ConversationPage(total=total, items=_rows(db_session, convs, ids))


def _rows(db_session: Session, convs: list[Conversation], ids: list[str]) -> list[ConversationRow]:
    if not ids:
        return []
    counts: dict[str, int] = {
        cid: n
        for cid, n in db_session.execute(
            select(Message.conversation_id, func.count(Message.id))
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        )
    }
    first: dict[str, str] = {}
    for cid, content in db_session.execute(
        select(Message.conversation_id, Message.content)
        .where(Message.conversation_id.in_(ids), Message.role == MessageRole.USER)
        .order_by(Message.id)
    ):
        first.setdefault(cid, content[:PREVIEW_CHARS])
    routes: dict[str, set[str]] = {}
    for cid, route in db_session.execute(
        select(Message.conversation_id, Message.route)
        .where(and_(Message.conversation_id.in_(ids), Message.route.is_not(None)))
        .distinct()
    ):
        routes.setdefault(cid, set()).add(route or "")
    handed = set(
        db_session.scalars(
            select(TurnTrace.conversation_id).where(
                TurnTrace.conversation_id.in_(ids),
                or_(
                    TurnTrace.route == "handoff",
                    cast(TurnTrace.tool_calls, String).like(f'%"{HANDOFF_TOOL}"%'),
                ),
            )
        )
    )
    ratings: dict[tuple[str, Rating], int] = {}
    for cid, rating, n in db_session.execute(
        select(MessageFeedback.conversation_id, MessageFeedback.rating, func.count())
        .where(MessageFeedback.conversation_id.in_(ids))
        .group_by(MessageFeedback.conversation_id, MessageFeedback.rating)
    ):
        ratings[(cid, rating)] = n
    return [
        ConversationRow(
            id=c.id,
            channel=c.channel,
            status=c.status,
            created_at=c.created_at,
            last_message_at=c.last_message_at,
            messages=counts.get(c.id, 0),
            first_question=first.get(c.id),
            routes=sorted(routes.get(c.id, set())),
            handoff=c.id in handed,
            feedback_up=ratings.get((c.id, Rating.UP), 0),
            feedback_down=ratings.get((c.id, Rating.DOWN), 0),
        )
        for c in convs
    ]


def channels(*, db_session: Session) -> list[str]:
    """The channels conversations came from, for a filter's choices."""
    return sorted(db_session.scalars(select(Conversation.channel).distinct()))
