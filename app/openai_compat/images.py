"""``image_url`` content parts of the customer's message: a base64 ``data:`` URL, or an
https URL fetched within limits (``app.attachments.remote``). Each is checked and
re-encoded before the turn stores anything; a bad one refuses the whole request (4xx)."""

from __future__ import annotations

import base64
import binascii
import re

from starlette.concurrency import run_in_threadpool

from app.attachments import intake, remote
from app.attachments.intake import CleanImage
from app.core.errors import Unprocessable
from app.core.vision_settings import VisionSettings
from app.openai_compat.schemas import ChatMessage

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,", re.I)


def image_urls(message: ChatMessage) -> list[str]:
    """The URLs of the message's image parts, in order; 422 for a part without one."""
    if not isinstance(message.content, list):
        return []
    urls = []
    for part in message.content:
        if part.type != "image_url":
            continue
        value = (part.model_extra or {}).get("image_url")
        url = value.get("url") if isinstance(value, dict) else value
        if not isinstance(url, str) or not url:
            raise Unprocessable(
                "an image_url part needs image_url.url", details={"param": "messages"}
            )
        urls.append(url)
    return urls


def decode_data_url(url: str, settings: VisionSettings) -> bytes:
    match = _DATA_URL.match(url)
    if match is None:
        raise Unprocessable(
            "image_url data URLs must be base64 (data:image/...;base64,...)",
            code="invalid_image_url",
            details={"param": "messages"},
        )
    encoded = url[match.end() :]
    # 4 base64 characters carry 3 bytes: refuse before decoding an oversized one.
    if len(encoded) * 3 // 4 > settings.max_image_bytes + 3:
        raise intake.too_large(len(encoded) * 3 // 4, settings)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable(
            "image_url data URL is not valid base64",
            code="invalid_image_url",
            details={"param": "messages"},
        ) from exc


async def read(message: ChatMessage, settings: VisionSettings) -> tuple[CleanImage, ...]:
    urls = image_urls(message)
    if len(urls) > settings.max_images_per_turn:
        raise Unprocessable(
            f"{len(urls)} images in one message; at most {settings.max_images_per_turn} are "
            "accepted",
            code="too_many_images",
            details={"param": "messages", "limit": settings.max_images_per_turn},
        )
    cleaned = []
    for url in urls:
        if url.startswith("data:"):
            data = decode_data_url(url, settings)
        else:
            data = await remote.fetch(url, settings)
        cleaned.append(await run_in_threadpool(intake.clean, data, settings))
    return tuple(cleaned)
