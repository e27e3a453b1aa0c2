"""Customers' images for the admin API: a conversation's images with what the vision model
read in them, and each image itself (admin key only; the gate refuses anyone else)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.attachments import service
from app.attachments.schemas import AttachmentOut
from app.attachments.service import OpenedAttachment
from app.core.errors import NotFound
from app.deps import AdminKey, SessionDep, SettingsDep

router = APIRouter(tags=["admin: conversations"])
BASE = "/admin/conversations/{conversation_id}/attachments"


def image_response(opened: OpenedAttachment) -> Response:
    """An image, served so a browser can only show it: never sniffed into HTML or script,
    never cached by anyone but the reader."""
    return Response(
        opened.data,
        media_type=opened.attachment.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": f'inline; filename="image-{opened.attachment.id}"',
        },
    )


@router.get(BASE, response_model=list[AttachmentOut], summary="A conversation's images")
def list_attachments(
    conversation_id: str, _: AdminKey, db_session: SessionDep
) -> list[AttachmentOut]:
    rows = service.for_conversation(db_session=db_session, conversation_id=conversation_id)
    if not rows and service.conversation_missing(
        db_session=db_session, conversation_id=conversation_id
    ):
        raise NotFound(f"conversation {conversation_id!r} not found")
    return [
        AttachmentOut.of(row, url=f"/admin/conversations/{conversation_id}/attachments/{row.id}")
        for row in rows
    ]


@router.get(
    BASE + "/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    summary="One image of a conversation",
)
def get_attachment(
    conversation_id: str,
    attachment_id: int,
    _: AdminKey,
    db_session: SessionDep,
    settings: SettingsDep,
) -> Response:
    opened = service.open_attachment(db_session, conversation_id, attachment_id, settings=settings)
    return image_response(opened)
