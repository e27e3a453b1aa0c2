"""State the channels must keep across restarts (the cache may lose it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow


class ChannelCursor(Base):
    """Where a pull-based channel stopped reading, e.g. 微信客服 ``sync_msg`` per account:
    without it a restart reads (and answers) the last three days again."""

    __tablename__ = "channel_cursors"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(512))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OwedAnswer(Base):
    """A message WeChat was told ``success`` for, whose answer is to go out through
    custom/send (``delivered_at`` once it has). The cache marks it owed too; this row
    outlives a cache that loses its data (a Redis restarted without persistence), so a worker
    dying with the answer still owed never loses it: the sweep (app.channels.wechat.outbox)
    sends it."""

    __tablename__ = "owed_answers"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # the message's dedup key
    channel: Mapped[str] = mapped_column(String(32))
    client_message_id: Mapped[str] = mapped_column(String(128))
    external_user_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
