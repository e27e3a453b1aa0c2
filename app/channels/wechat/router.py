"""``/channels/wechat``: the Official Account's server URL (HTTP only; see service.py)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from app.channels.tencent import payload
from app.channels.tencent.callback import check_fresh, read_body
from app.channels.tencent.crypto import check_signature, sha1_signature
from app.channels.tencent.state import TencentChannels, get_channels
from app.channels.wechat import service
from app.core.errors import Forbidden
from app.deps import SettingsDep

router = APIRouter(prefix="/channels/wechat", tags=["channels: wechat"])


def _channels(request: Request) -> TencentChannels:
    return get_channels(request.app.state)


ChannelsDep = Annotated[TencentChannels, Depends(_channels)]
Param = Annotated[str, Query()]
XML = "application/xml"


@router.get("", summary="Server URL verification", response_class=PlainTextResponse)
async def verify(
    settings: SettingsDep,
    signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
    echostr: Param = "",
) -> PlainTextResponse:
    cfg = service.config(settings)
    check_signature(sha1_signature(cfg.token, timestamp, nonce), signature)
    check_fresh(timestamp)
    return PlainTextResponse(echostr)


@router.post("", summary="Messages and events (plain or safe mode)")
async def receive(
    request: Request,
    settings: SettingsDep,
    channels: ChannelsDep,
    signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
    encrypt_type: Param = "",
    msg_signature: Param = "",
) -> Response:
    started = time.monotonic()
    cfg = service.config(settings)
    safe = encrypt_type.lower() == "aes"
    if cfg.safe_only and not safe:
        # Checked first: in safe mode WeChat also puts the plain `signature` in the URL, so
        # anyone who saw one callback could otherwise downgrade it to plain mode.
        raise Forbidden(
            "plain mode is refused: KEFU_WECHAT_ENCODING_AES_KEY is set, so only "
            "encrypt_type=aes (safe or compatible mode) is accepted",
            code="encryption_required",
        )
    if safe:
        crypt = cfg.require_crypt()
        outer = payload.parse(await read_body(request))
        payload.require(outer, "Encrypt")
        # Signature before decryption; freshness after it, so a forger learns nothing.
        crypt.verify(msg_signature, timestamp, nonce, outer["Encrypt"])
        check_fresh(timestamp)
        fields = payload.parse(crypt.decrypt(outer["Encrypt"]).encode())
    else:
        # The plain signature covers only token, timestamp and nonce: the query is bound to
        # the message once it is parsed (service.claim_plain_request).
        check_signature(sha1_signature(cfg.token, timestamp, nonce), signature)
        check_fresh(timestamp)
        fields = payload.parse(await read_body(request))
    payload.require(fields, "ToUserName", "FromUserName", "CreateTime", "MsgType")
    if not safe:
        await service.claim_plain_request(
            channels, fields, timestamp=timestamp, nonce=nonce, signature=signature
        )

    text = await service.handle(channels, fields, started=started)
    if not text:
        return PlainTextResponse("success")
    reply = payload.text_reply(
        to_user=fields["FromUserName"],
        from_user=fields["ToUserName"],
        content=text,
        create_time=int(time.time()),
    )
    if safe:
        ts, reply_nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        encrypted, sig = cfg.require_crypt().seal(reply, timestamp=ts, nonce=reply_nonce)
        reply = payload.encrypted_reply(
            encrypted=encrypted, signature=sig, timestamp=ts, nonce=reply_nonce
        )
    return Response(reply, media_type=XML)
