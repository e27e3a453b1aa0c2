"""A conversation as an agent or an admin reads it: messages with their ratings and images,
and traces."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.attachments import service as attachment_service
from app.feedback import service as feedback_service
from app.feedback.models import MessageFeedback
from app.feedback.schemas import FeedbackOut
from app.handoff import service
from app.handoff.schemas import ConversationDetail, ConversationOut, MessageOut, TraceOut


def _feedback(stored: MessageFeedback | None) -> FeedbackOut | None:
    return FeedbackOut.model_validate(stored) if stored is not None else None


def transcript(*, db_session: Session, conversation_id: str) -> ConversationDetail:
    conv, messages, traces = service.detail(db_session=db_session, conversation_id=conversation_id)
    ids = [m.id for m in messages]
    ratings = feedback_service.for_messages(db_session=db_session, message_ids=ids)
    images = attachment_service.ids_by_message(db_session=db_session, message_ids=ids)
    return ConversationDetail(
        conversation=ConversationOut.model_validate(conv),
        messages=[
            MessageOut.model_validate(m).model_copy(
                update={
                    "feedback": _feedback(ratings.get(m.id)),
                    "attachments": images.get(m.id, []),
                }
            )
            for m in messages
        ],
        traces=[TraceOut.model_validate(t) for t in traces],
    )
