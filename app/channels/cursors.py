"""Durable read positions for pull-based channels (``channel_cursors``)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.channels.models import ChannelCursor
from app.core.db import utcnow


def load(*, db_session: Session, channel: str, key: str) -> str | None:
    row = db_session.get(ChannelCursor, (channel, key))
    return row.cursor if row is not None else None


def save(*, db_session: Session, channel: str, key: str, cursor: str) -> None:
    """Insert or move the cursor, and commit (two processes may insert the first one)."""
    for _ in range(2):
        row = db_session.get(ChannelCursor, (channel, key))
        if row is None:
            db_session.add(ChannelCursor(channel=channel, key=key, cursor=cursor))
        else:
            row.cursor, row.updated_at = cursor, utcnow()
        try:
            db_session.commit()
            return
        except IntegrityError:
            db_session.rollback()  # the other insert won: update its row instead
    raise RuntimeError("channel cursor could not be saved")
