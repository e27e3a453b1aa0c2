from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigId, TimestampMixin


class CannedReply(TimestampMixin, Base):
    """A ready-made answer agents insert into a reply (one set per deployment)."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # What the agent picks it by; unique so a list of titles is unambiguous.
    title: Mapped[str] = mapped_column(String(80), unique=True)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
