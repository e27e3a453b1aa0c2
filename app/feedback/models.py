from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigId, TimestampMixin, str_enum


class Rating(enum.StrEnum):
    UP = "up"
    DOWN = "down"


class MessageFeedback(TimestampMixin, Base):
    """Keyed by the message: a second rating of the same answer replaces the first."""

    __tablename__ = "message_feedback"

    message_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    # Denormalised from the message so analytics filter feedback without a join per row.
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[Rating] = mapped_column(str_enum(Rating, "feedback_rating", length=8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where it was given (widget, openai, dify): may differ from the conversation's channel.
    source: Mapped[str] = mapped_column(String(32))
