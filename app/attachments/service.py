"""Stored images: single-entity queries, session passed in; files under the data
directory's ``attachments/``, one per image, named by id."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.attachments.intake import CleanImage
from app.attachments.models import Attachment
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound, Unprocessable

log = logging.getLogger(__name__)
# A widget upload not sent within this long is dropped by the sweep.
UNSENT_TTL = timedelta(hours=1)
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png"}


@dataclass(frozen=True)
class OpenedAttachment:
    attachment: Attachment
    data: bytes


def store(
    *,
    db_session: Session,
    settings: Settings,
    image: CleanImage,
    owner: str,
    channel: str,
    conversation_id: str | None = None,
    message_id: int | None = None,
) -> Attachment:
    """Write the file (0600) and its row. A row whose transaction rolls back leaves a file
    no row names: the sweep removes it."""
    root = settings.attachments_dir
    day = utcnow().strftime("%Y%m%d")
    name = f"{day}/{image.sha256[:16]}-{os.urandom(6).hex()}{_SUFFIX[image.content_type]}"
    target = root / name
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(image.data)
    row = Attachment(
        conversation_id=conversation_id,
        message_id=message_id,
        owner=owner,
        channel=channel,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        sha256=image.sha256,
        path=name,
    )
    db_session.add(row)
    db_session.flush()
    return row


def unsent_uploads(
    *, db_session: Session, attachment_ids: Sequence[int], owner: str
) -> list[Attachment]:
    """The sender's unsent uploads; 422 naming an id that is not an unsent upload of theirs
    (another visitor's, already sent, or swept)."""
    rows = list(
        db_session.scalars(
            select(Attachment).where(
                Attachment.id.in_(attachment_ids),
                Attachment.owner == owner,
                Attachment.message_id.is_(None),
            )
        )
    )
    missing = sorted(set(attachment_ids) - {r.id for r in rows})
    if missing:
        raise Unprocessable(
            f"attachment {missing[0]} is not an unsent upload of this visitor",
            code="unknown_attachment",
            details={"attachment_ids": missing},
        )
    return rows


def link_uploads(
    *,
    db_session: Session,
    attachment_ids: Sequence[int],
    owner: str,
    conversation_id: str,
    message_id: int,
) -> list[Attachment]:
    """Give the sender's unsent uploads to their message (``unsent_uploads`` refuses)."""
    rows = unsent_uploads(db_session=db_session, attachment_ids=attachment_ids, owner=owner)
    for row in rows:
        row.conversation_id, row.message_id = conversation_id, message_id
    return sorted(rows, key=lambda r: r.id)


def for_message(*, db_session: Session, message_id: int) -> list[Attachment]:
    return list(
        db_session.scalars(
            select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.id)
        )
    )


def ids_by_message(*, db_session: Session, message_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if not message_ids:
        return found
    rows = db_session.execute(
        select(Attachment.message_id, Attachment.id)
        .where(Attachment.message_id.in_(message_ids))
        .order_by(Attachment.id)
    )
    for message_id, attachment_id in rows:
        if message_id is not None:
            found.setdefault(message_id, []).append(attachment_id)
    return found


def readings_by_message(*, db_session: Session, message_ids: Sequence[int]) -> dict[int, list[str]]:
    """What the vision model read in each message's images (those it could read)."""
    found: dict[int, list[str]] = {}
    if not message_ids:
        return found
    rows = db_session.execute(
        select(Attachment.message_id, Attachment.description)
        .where(Attachment.message_id.in_(message_ids), Attachment.description.is_not(None))
        .order_by(Attachment.id)
    )
    for message_id, description in rows:
        if message_id is not None and description:
            found.setdefault(message_id, []).append(description)
    return found


def for_conversation(*, db_session: Session, conversation_id: str) -> list[Attachment]:
    return list(
        db_session.scalars(
            select(Attachment)
            .where(Attachment.conversation_id == conversation_id)
            .order_by(Attachment.id)
        )
    )


def conversation_missing(*, db_session: Session, conversation_id: str) -> bool:
    found = db_session.execute(
        text("SELECT 1 FROM conversations WHERE id = :id"), {"id": conversation_id}
    ).first()
    return found is None


def read_file(settings: Settings, attachment: Attachment) -> bytes:
    return (settings.attachments_dir / attachment.path).read_bytes()


def open_attachment(
    db_session: Session, conversation_id: str, attachment_id: int, *, settings: Settings
) -> OpenedAttachment:
    """An image of a conversation with its bytes; 404 when it is not that conversation's
    (or was swept). The caller has checked the reader may see the conversation."""
    row = db_session.get(Attachment, attachment_id)
    if row is None or row.conversation_id != conversation_id:
        raise NotFound(f"attachment {attachment_id} not found in this conversation")
    try:
        data = read_file(settings, row)
    except FileNotFoundError as exc:
        raise NotFound(f"attachment {attachment_id} is no longer stored") from exc
    return OpenedAttachment(row, data)


def record_reading(
    *, db_session: Session, attachment_id: int, description: str | None, error: str | None
) -> None:
    db_session.execute(
        update(Attachment)
        .where(Attachment.id == attachment_id)
        .values(description=description, vision_error=error)
    )


def sweep(*, db_session: Session, settings: Settings) -> int:
    """Delete images past the retention and uploads never sent, rows and files; then
    files no row names (left by a rolled-back store). Returns the files removed."""
    now = utcnow()
    old = now - timedelta(days=settings.vision.retention_days)
    expired = or_(
        Attachment.created_at < old,
        (Attachment.message_id.is_(None)) & (Attachment.created_at < now - UNSENT_TTL),
    )
    paths = set(db_session.scalars(select(Attachment.path).where(expired)))
    db_session.execute(delete(Attachment).where(expired))
    kept = set(db_session.scalars(select(Attachment.path)))
    root = settings.attachments_dir
    removed = 0
    for file in _files(root):
        name = file.relative_to(root).as_posix()
        if name in kept:
            continue
        orphan_age = now.timestamp() - file.stat().st_mtime
        if name in paths or orphan_age > UNSENT_TTL.total_seconds():
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def _files(root: Path) -> list[Path]:
    return [p for p in root.glob("*/*") if p.is_file()] if root.exists() else []


def sweep_all(session_factory: sessionmaker[Session], settings: Settings) -> int:
    """``sweep`` in its own transaction; never raises (a start-up must not fail on it)."""
    try:
        with session_factory.begin() as db_session:
            removed = sweep(db_session=db_session, settings=settings)
    except Exception:
        log.exception("attachment sweep failed")
        return 0
    if removed:
        log.info("attachment sweep removed %d images", removed)
    return removed
