"""The widget's images: a visitor uploads one (multipart, with progress in the frame), then
sends the message that carries it by id; the frame shows the conversation's images to the
visitor who may see the conversation, and to nobody else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from app.attachments import intake
from app.attachments import service as attachment_service
from app.attachments.router import image_response
from app.attachments.schemas import UploadOut
from app.core.db import session_scope
from app.deps import RuntimeDep, SessionDep, SettingsDep
from app.runtime import Runtime
from app.widget import service
from app.widget.router import VISITOR_TOKEN, VisibleConversation, VisitorDep, WidgetKey

router = APIRouter(tags=["widget"])


def _store(runtime: Runtime, data: bytes, owner: str) -> UploadOut:
    settings = runtime.settings
    image = intake.clean(data, settings.vision)  # refused (4xx) before anything is stored
    with session_scope(runtime.session_factory) as db_session:
        row = attachment_service.store(
            db_session=db_session,
            settings=settings,
            image=image,
            owner=owner,
            channel=service.CHANNEL,
        )
        return UploadOut(
            attachment_id=row.id,
            content_type=row.content_type,
            width=row.width,
            height=row.height,
            size_bytes=row.size_bytes,
        )


@router.post(
    "/widget/api/uploads",
    response_model=UploadOut,
    status_code=201,
    summary="Upload an image for the visitor's next message (JPEG, PNG, GIF, WebP or BMP)",
)
async def upload_image(
    image: Annotated[UploadFile, File(description="The image file.")],
    key: WidgetKey,
    visitor: VisitorDep,
    runtime: RuntimeDep,
    response: Response,
) -> UploadOut:
    if visitor is None:
        visitor, token = service.new_visitor_token(runtime.settings, key)
        response.headers[VISITOR_TOKEN] = token
    limit = runtime.settings.vision.max_image_bytes
    data = await image.read(limit + 1)
    if len(data) > limit:
        raise intake.too_large(len(data), runtime.settings.vision)
    owner = service.external_user_id(key.id, visitor)
    return await run_in_threadpool(_store, runtime, data, owner)


@router.get(
    "/widget/api/conversations/{conversation_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    summary="One image of the visitor's conversation",
)
def conversation_image(
    attachment_id: int, conv: VisibleConversation, db_session: SessionDep, settings: SettingsDep
) -> Response:
    opened = attachment_service.open_attachment(
        db_session, conv.id, attachment_id, settings=settings
    )
    return image_response(opened)
