from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigId, utcnow


class Attachment(Base):
    """One customer image. A widget upload waits unlinked (no conversation, no message) until
    the message it belongs to is sent; the sweep deletes those never sent."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True, nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True, nullable=True
    )
    # The channel's end user who sent it: only they may attach an unlinked upload.
    owner: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Relative to the attachments directory, so the data directory can move.
    path: Mapped[str] = mapped_column(String(255))
    # What the vision model read in it (text, what it shows, numbers); None: not read.
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Why it could not be read (no endpoint, endpoint down), for the trace and the console.
    vision_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
