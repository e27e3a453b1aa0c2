"""The WeChat and WeCom routes under one router, whose lifespan builds the shared HTTP client
and starts the listeners that deliver human agents' replies (``channel:<name>`` topics)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from app.channels.tencent.state import Deliver, TencentChannels
from app.channels.wechat import outbox
from app.channels.wechat import service as wechat_service
from app.channels.wechat.router import router as wechat_router
from app.channels.wecom import service as wecom_service
from app.channels.wecom.router import router as wecom_router
from app.core.bus import Event
from app.runtime import Runtime

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime  # set by the app's own lifespan, entered first
    channels = TencentChannels(runtime)
    app.state.tencent_channels = channels
    start_listeners(channels)
    try:
        yield
    finally:
        await channels.aclose()
        del app.state.tencent_channels


def start_listeners(channels: TencentChannels) -> None:
    """Only for channels that can send: a listener without credentials would drop events."""

    def bind(fn: Callable[[TencentChannels, Event], Coroutine[Any, Any, None]]) -> Deliver:
        return functools.partial(fn, channels)

    if channels.wechat is not None:
        channels.listen(wechat_service.CHANNEL, bind(wechat_service.deliver_agent_message))
        channels.every(outbox.SWEEP_EVERY, functools.partial(outbox.sweep, channels))
    if channels.wecom is not None:
        channels.listen(wecom_service.CHANNEL, bind(wecom_service.deliver_agent_message))
        channels.listen(wecom_service.KF_CHANNEL, bind(wecom_service.deliver_kf_agent_message))


router = APIRouter(lifespan=lifespan)
router.include_router(wechat_router)
router.include_router(wecom_router)
