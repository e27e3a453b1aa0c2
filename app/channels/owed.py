"""Answers owed through a customer-service API, kept in the database (``owed_answers``).

A row is owed until ``delivered_at`` is set; it is kept, delivered, for the rest of the dedup
window, so an owed mark the cache still holds (its delete went to the in-process fallback
while Redis was down) is known to be settled and the answer is not sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.channels.models import OwedAnswer
from app.core.db import utcnow


@dataclass(frozen=True)
class Owed:
    key: str  # the message's dedup key
    channel: str
    client_message_id: str
    user: str
    text: str


def record(*, db_session: Session, owed: Owed, delivered: bool = False) -> None:
    """Owed (or settled), and committed; a message recorded again keeps its first row."""
    db_session.add(
        OwedAnswer(
            key=owed.key,
            channel=owed.channel,
            client_message_id=owed.client_message_id,
            external_user_id=owed.user,
            text=owed.text,
            delivered_at=utcnow() if delivered else None,
        )
    )
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()


def settle(*, db_session: Session, owed: Owed) -> None:
    """Delivered: recorded so even when the owing was not (the database was away then)."""
    done = db_session.execute(
        update(OwedAnswer).where(OwedAnswer.key == owed.key).values(delivered_at=utcnow())
    )
    db_session.commit()
    if not done.rowcount:  # type: ignore[attr-defined]
        record(db_session=db_session, owed=owed, delivered=True)


@dataclass(frozen=True)
class Due:
    owed: list[Owed]  # recorded, not delivered, past ``older_than``
    delivered: set[str]  # keys of messages delivered (whatever the cache says)


def due(*, db_session: Session, channel: str, older_than: float, within: float) -> Due:
    """Owed answers of ``channel`` old enough for their owner to have renewed its lease, and
    young enough to send; rows older than ``within`` are dropped (their dedup keys lapse)."""
    now = utcnow()
    db_session.execute(
        delete(OwedAnswer).where(OwedAnswer.created_at < now - timedelta(seconds=within))
    )
    db_session.commit()
    mine = OwedAnswer.channel == channel
    rows = db_session.scalars(
        select(OwedAnswer).where(
            mine,
            OwedAnswer.delivered_at.is_(None),
            OwedAnswer.created_at <= now - timedelta(seconds=older_than),
        )
    ).all()
    delivered = db_session.scalars(
        select(OwedAnswer.key).where(mine, OwedAnswer.delivered_at.is_not(None))
    ).all()
    return Due(
        owed=[
            Owed(r.key, r.channel, r.client_message_id, r.external_user_id, r.text) for r in rows
        ],
        delivered=set(delivered),
    )
