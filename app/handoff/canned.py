"""Canned replies: keyword-only queries, the session passed in, no commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.handoff.models import CannedReply


def list_replies(*, db_session: Session) -> list[CannedReply]:
    return list(db_session.scalars(select(CannedReply).order_by(CannedReply.title)))


def get(*, db_session: Session, reply_id: int) -> CannedReply:
    reply = db_session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound(f"canned reply {reply_id} not found")
    return reply


def _title_taken(db_session: Session, title: str, *, other_than: int | None) -> bool:
    stmt = select(CannedReply.id).where(func.lower(CannedReply.title) == title.lower())
    if other_than is not None:
        stmt = stmt.where(CannedReply.id != other_than)
    return db_session.scalar(stmt.limit(1)) is not None


def _refuse_duplicate(title: str) -> Conflict:
    return Conflict(
        f"a canned reply titled {title!r} exists already",
        code="duplicate_title",
        details={"field": "title"},
    )


def create(*, db_session: Session, title: str, text: str, author: str | None) -> CannedReply:
    if _title_taken(db_session, title, other_than=None):
        raise _refuse_duplicate(title)
    reply = CannedReply(title=title, text=text, updated_by=author)
    db_session.add(reply)
    db_session.flush()
    return reply


def update(
    *, db_session: Session, reply_id: int, title: str, text: str, author: str | None
) -> CannedReply:
    reply = get(db_session=db_session, reply_id=reply_id)
    if _title_taken(db_session, title, other_than=reply_id):
        raise _refuse_duplicate(title)
    reply.title, reply.text, reply.updated_by = title, text, author
    db_session.flush()
    return reply


def delete(*, db_session: Session, reply_id: int) -> None:
    db_session.delete(get(db_session=db_session, reply_id=reply_id))
    db_session.flush()
