"""Answers owed through a customer-service API, kept in the database (``owed_answers``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.channels.models import OwedAnswer
from app.core.db import utcnow


def record(
    *, db_session: Session, key: str, channel: str, client_message_id: str, user: str, text: str
) -> None:
    """Owed, and committed; a second record of the same message (a retry owing it) is one."""
    db_session.add(
        OwedAnswer(
            key=key,
            channel=channel,
            client_message_id=client_message_id,
            external_user_id=user,
            text=text,
        )
    )
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()


def settle(*, db_session: Session, key: str) -> None:
    db_session.execute(delete(OwedAnswer).where(OwedAnswer.key == key))
    db_session.commit()


def due(*, db_session: Session, channel: str, older_than: float, within: float) -> list[OwedAnswer]:
    """Owed answers of ``channel`` old enough for their owner to have renewed its lease, and
    young enough to send; older ones are given up (deleted), as their dedup keys lapse."""
    now = utcnow()
    db_session.execute(
        delete(OwedAnswer).where(OwedAnswer.created_at < now - timedelta(seconds=within))
    )
    db_session.commit()
    return list(
        db_session.scalars(
            select(OwedAnswer).where(
                OwedAnswer.channel == channel,
                OwedAnswer.created_at <= now - timedelta(seconds=older_than),
            )
        )
    )
