"""The durable channel cursors on PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.channels import cursors
from app.channels.models import ChannelCursor


def test_cursor_is_saved_moved_and_kept_per_channel_and_key(db_session: Session) -> None:
    assert cursors.load(db_session=db_session, channel="wecom_kf", key="wk1") is None
    cursors.save(db_session=db_session, channel="wecom_kf", key="wk1", cursor="c1")
    db_session.expire_all()  # as stored (SQLite gives naive datetimes back)
    first = db_session.get(ChannelCursor, ("wecom_kf", "wk1"))
    assert first is not None
    stamp = first.updated_at
    cursors.save(db_session=db_session, channel="wecom_kf", key="wk1", cursor="c2")
    cursors.save(db_session=db_session, channel="wecom_kf", key="wk2", cursor="x1")
    cursors.save(db_session=db_session, channel="other", key="wk1", cursor="y1")
    db_session.expire_all()
    assert cursors.load(db_session=db_session, channel="wecom_kf", key="wk1") == "c2"
    assert cursors.load(db_session=db_session, channel="wecom_kf", key="wk2") == "x1"
    assert cursors.load(db_session=db_session, channel="other", key="wk1") == "y1"
    moved = db_session.get(ChannelCursor, ("wecom_kf", "wk1"))
    assert moved is not None and moved.updated_at >= stamp
