"""``/channels/wecom``: a WeCom self-built app's callback URL (HTTP only; see service.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from app.channels.tencent import payload
from app.channels.tencent.callback import check_fresh, read_body
from app.channels.tencent.state import TencentChannels, get_channels
from app.channels.wecom import service

router = APIRouter(prefix="/channels/wecom", tags=["channels: wecom"])


def _channels(request: Request) -> TencentChannels:
    return get_channels(request.app.state)


ChannelsDep = Annotated[TencentChannels, Depends(_channels)]
Param = Annotated[str, Query()]


@router.get("", summary="Callback URL verification (encrypted echostr)")
async def verify(
    channels: ChannelsDep,
    msg_signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
    echostr: Param = "",
) -> PlainTextResponse:
    crypt = service.config(channels).crypt
    crypt.verify(msg_signature, timestamp, nonce, echostr)
    check_fresh(timestamp)
    return PlainTextResponse(crypt.decrypt(echostr))


@router.post("", summary="Messages and events (always encrypted)")
async def receive(
    request: Request,
    channels: ChannelsDep,
    msg_signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
) -> PlainTextResponse:
    crypt = service.config(channels).crypt
    outer = payload.parse(await read_body(request))
    payload.require(outer, "Encrypt")
    crypt.verify(msg_signature, timestamp, nonce, outer["Encrypt"])
    check_fresh(timestamp)
    fields = payload.parse(crypt.decrypt(outer["Encrypt"]).encode())
    payload.require(fields, "CreateTime", "MsgType")
    await service.handle(channels, fields)
    # WeCom takes an empty body as "received, nothing to reply"; the answer goes by API.
    return PlainTextResponse("")
