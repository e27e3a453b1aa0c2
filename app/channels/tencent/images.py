"""Images customers send on WeChat and WeCom: downloaded by ``MediaId`` through the media API
(``cgi-bin/media/get``), or from ``PicUrl`` when there is no API access or the media API
fails; then checked and re-encoded like every other image. Runs inside the turn's task, so
it counts against the 5-second budget and a slow download ends in ``success`` + custom/send.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
from starlette.concurrency import run_in_threadpool

from app.attachments import intake, remote
from app.attachments.intake import CleanImage
from app.channels.tencent.api import MediaTooLarge, TencentApi, TencentApiError
from app.core.errors import AppError
from app.core.logging import mask_pii
from app.core.vision_settings import VisionSettings

log = logging.getLogger(__name__)

ImageLoader = Callable[[], Awaitable[CleanImage]]


class ImageUnavailable(AppError):
    status_code = 502
    code = "image_unavailable"


def loader(
    api: TencentApi | None, settings: VisionSettings, *, media_id: str, pic_url: str
) -> ImageLoader:
    async def load() -> CleanImage:
        data = await _download(api, settings, media_id=media_id, pic_url=pic_url)
        return await run_in_threadpool(intake.clean, data, settings)

    return load


async def _download(
    api: TencentApi | None, settings: VisionSettings, *, media_id: str, pic_url: str
) -> bytes:
    if api is not None and media_id:
        try:
            return await api.media(media_id, limit=settings.max_image_bytes)
        except MediaTooLarge as exc:
            raise intake.too_large(exc.size, settings) from exc
        except (TencentApiError, httpx.HTTPError) as exc:
            log.warning("media/get failed; trying PicUrl: %s", mask_pii(str(exc)))
    if pic_url:
        # Tencent's own CDN (mmbiz.qpic.cn), given as http: in the signed callback.
        return await remote.fetch(pic_url, settings, schemes=("https", "http"))
    raise ImageUnavailable("the image could not be downloaded (no media API access, no PicUrl)")
