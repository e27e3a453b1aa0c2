from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.attachments.models import Attachment


class AttachmentOut(BaseModel):
    id: int
    conversation_id: str | None
    message_id: int | None
    content_type: str
    width: int
    height: int
    size_bytes: int
    description: str | None = Field(description="What the vision model read in the image.")
    vision_error: str | None = Field(description="Why it could not be read, if it was not.")
    created_at: datetime
    url: str = Field(description="Where the image itself is served (same authorisation).")

    @classmethod
    def of(cls, row: Attachment, *, url: str) -> AttachmentOut:
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            message_id=row.message_id,
            content_type=row.content_type,
            width=row.width,
            height=row.height,
            size_bytes=row.size_bytes,
            description=row.description,
            vision_error=row.vision_error,
            created_at=row.created_at,
            url=url,
        )


class UploadOut(BaseModel):
    """A widget upload, stored and waiting for the message that carries it."""

    attachment_id: int
    content_type: str
    width: int
    height: int
    size_bytes: int
