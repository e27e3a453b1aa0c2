"""Recording feedback: single-entity queries, session passed in.

Whoever calls decides ownership (a widget visitor's conversation, an API key's namespace):
``owns`` is asked about the answer's conversation before anything is read back or written,
and a message the caller does not own is reported exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.conversation.models import Conversation, Message, MessageRole
from app.core.errors import NotFound, Unprocessable
from app.feedback.models import MessageFeedback, Rating
from app.feedback.schemas import FeedbackIn, FeedbackOut

log = logging.getLogger(__name__)

# Called as (rating, source) when a rating is new or changed (not when a retry repeats it).
# The metrics package registers its counter here; kefu works the same with none registered.
Observer = Callable[[str, str], None]
observers: list[Observer] = []


def on_feedback(observer: Observer) -> None:
    if observer not in observers:
        observers.append(observer)


def _notify(rating: Rating, source: str) -> None:
    for observer in observers:
        try:
            observer(rating.value, source)
        except Exception:  # counting must never fail the customer's click
            log.warning("feedback observer failed", exc_info=True)


def rated_answer(
    *, db_session: Session, message_id: int, owns: Callable[[Conversation], bool]
) -> Message:
    """The bot answer a caller may rate; ``NotFound`` for a missing or someone else's one."""
    msg = db_session.get(Message, message_id)
    if msg is None or not owns(msg.conversation):
        raise NotFound(f"message {message_id} not found", details={"param": "message_id"})
    if msg.role != MessageRole.ASSISTANT:
        raise Unprocessable(
            f"message {message_id} is not a bot answer: only answers take feedback",
            details={"param": "message_id"},
        )
    return msg


def record(
    *,
    db_session: Session,
    message: Message,
    rating: Rating,
    comment: str | None,
    source: str,
) -> MessageFeedback:
    """Store the rating of one answer; a second one replaces the first (idempotent)."""
    comment = comment or None
    existing = db_session.get(MessageFeedback, message.id, with_for_update=True)
    if existing is None:
        try:
            with db_session.begin_nested():
                existing = MessageFeedback(
                    message_id=message.id,
                    conversation_id=message.conversation_id,
                    rating=rating,
                    comment=comment,
                    source=source,
                )
                db_session.add(existing)
        except IntegrityError:
            # Two clicks raced: the other insert won, so this one becomes an update.
            existing = db_session.get(MessageFeedback, message.id, with_for_update=True)
            assert existing is not None
        else:
            _notify(rating, source)
            return existing
    changed = existing.rating != rating
    existing.rating, existing.comment, existing.source = rating, comment, source
    db_session.flush()
    if changed:
        _notify(rating, source)
    return existing


def rate(
    *,
    db_session: Session,
    message_id: int,
    owns: Callable[[Conversation], bool],
    body: FeedbackIn,
    source: str,
) -> FeedbackOut:
    """What every channel's feedback endpoint does: find the caller's answer, store the rating."""
    answer = rated_answer(db_session=db_session, message_id=message_id, owns=owns)
    stored = record(
        db_session=db_session,
        message=answer,
        rating=body.rating,
        comment=body.comment,
        source=source,
    )
    return FeedbackOut.model_validate(stored)


def for_messages(*, db_session: Session, message_ids: Sequence[int]) -> dict[int, MessageFeedback]:
    if not message_ids:
        return {}
    rows = db_session.scalars(
        select(MessageFeedback).where(MessageFeedback.message_id.in_(list(message_ids)))
    )
    return {f.message_id: f for f in rows}
