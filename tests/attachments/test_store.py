"""Stored images on both databases: a sweep removes those past the retention, widget uploads
never sent, and files no row names; it keeps the rest."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.attachments import intake
from app.attachments import service as attachment_service
from app.attachments.models import Attachment
from app.conversation import service as conversation_service
from app.conversation.models import MessageRole
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound
from tests.attachments.images import photo


def test_the_sweep_keeps_recent_images_and_removes_the_rest(
    db_session: Session, settings: Settings
) -> None:
    conv = conversation_service.create(
        db_session=db_session, channel="web", external_user_id="visitor-1", customer_id=None
    )
    msg = conversation_service.add_message(
        db_session=db_session, conversation=conv, role=MessageRole.USER, content="[图片]"
    )
    image = intake.clean(photo(), settings.vision)

    def stored(**where: object) -> Attachment:
        return attachment_service.store(
            db_session=db_session,
            settings=settings,
            image=image,
            owner="visitor-1",
            channel="web",
            **where,  # type: ignore[arg-type]
        )

    recent = stored(conversation_id=conv.id, message_id=msg.id)
    old = stored(conversation_id=conv.id, message_id=msg.id)
    old.created_at = utcnow() - timedelta(days=settings.vision.retention_days + 1)
    unsent = stored()
    unsent.created_at = utcnow() - timedelta(hours=2)
    fresh_upload = stored()
    db_session.flush()
    orphan = settings.attachments_dir / "20260101" / "orphan.jpg"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(image.data)
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))

    removed = attachment_service.sweep(db_session=db_session, settings=settings)

    assert removed == 3
    kept = set(db_session.scalars(select(Attachment.id)))
    assert kept == {recent.id, fresh_upload.id}
    assert not orphan.exists()
    opened = attachment_service.open_attachment(db_session, conv.id, recent.id, settings=settings)
    assert opened.data == image.data
    for missing in (old.id, unsent.id):
        with pytest.raises(NotFound):
            attachment_service.open_attachment(db_session, conv.id, missing, settings=settings)
