"""A WeChat Official Account message in, a passive reply (or ``success`` and a later
customer-service message) out. WeChat waits 5 seconds, retries three times, then shows the
customer "该公众号暂时无法提供服务"; so the answer is awaited for a budget below that and
anything slower is sent through ``custom/send``, exactly once, however often WeChat retries."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from app.channels.tencent import images
from app.channels.tencent.callback import ChannelNotConfigured
from app.channels.tencent.crypto import MsgCrypt
from app.channels.tencent.lease import acquire
from app.channels.tencent.state import TencentChannels
from app.conversation.schemas import TurnRequest
from app.core.config import Settings
from app.core.errors import AppError, Forbidden
from app.core.logging import mask_pii

log = logging.getLogger(__name__)

CHANNEL = "wechat"
UNSUPPORTED = "抱歉，我暂时只能看懂文字消息，请用文字描述您的问题。"


@dataclass(frozen=True)
class WeChatConfig:
    token: str
    crypt: MsgCrypt | None  # safe mode needs the EncodingAESKey and the app id
    # With an EncodingAESKey, plain mode is refused: its signature does not cover the body.
    safe_only: bool = False

    def require_crypt(self) -> MsgCrypt:
        if self.crypt is None:
            raise AppError(
                "safe mode needs KEFU_WECHAT_ENCODING_AES_KEY and KEFU_WECHAT_APP_ID",
                code="channel_not_configured",
                status_code=503,
            )
        return self.crypt


def config(settings: Settings) -> WeChatConfig:
    cfg = settings.channels
    if cfg.wechat_token is None or not cfg.wechat_token.get_secret_value():
        raise ChannelNotConfigured("the WeChat channel is not configured (KEFU_WECHAT_TOKEN)")
    token = cfg.wechat_token.get_secret_value()
    crypt = None
    aes_key = cfg.wechat_encoding_aes_key
    safe_only = aes_key is not None and bool(aes_key.get_secret_value())
    if aes_key is not None and cfg.wechat_app_id:
        crypt = MsgCrypt(
            token=token,
            encoding_aes_key=aes_key.get_secret_value(),
            receive_id=cfg.wechat_app_id,
        )
    return WeChatConfig(token=token, crypt=crypt, safe_only=safe_only)


def welcome(settings: Settings) -> str:
    return (
        f"您好，欢迎关注{settings.company_name}！我是智能客服{settings.bot_name}，"
        "有任何问题直接发消息给我就好；需要人工服务请回复“转人工”"
        f"（人工服务时间 {settings.service_hours}）。"
    )


def dedup_key(fields: dict[str, str]) -> str:
    # Messages carry MsgId; events do not, and WeChat's own advice is sender + CreateTime.
    if fields.get("MsgId"):
        return f"wechat:msg:{fields['MsgId']}"
    return (
        f"wechat:event:{fields.get('FromUserName')}:{fields.get('CreateTime')}:"
        f"{fields.get('Event', '')}"
    )


def customer_text(fields: dict[str, str]) -> str | None:
    """What the customer said, for the message types the bot understands (an image says
    nothing in words: "")."""
    kind = fields.get("MsgType", "")
    if kind == "image":
        return ""
    if kind == "text":
        return fields.get("Content") or None
    if kind == "voice":  # WeChat's speech recognition, when the account has it switched on
        return fields.get("Recognition") or None
    return None


async def claim_plain_request(
    channels: TencentChannels,
    fields: dict[str, str],
    *,
    timestamp: str,
    nonce: str,
    signature: str,
) -> None:
    """A plain-mode signature covers token, timestamp and nonce, not the body: whoever sees
    one callback URL could post any XML with it while the timestamp is fresh. So a signed
    query is bound to the first message it came with (its dedup key and sender). The same
    query with the same message is a retry, and the dedup key answers it once, whether or not
    WeChat's retries carry a new nonce (its documentation does not say); with another message
    it is refused."""
    key = f"wechat:plain:{timestamp}:{nonce}:{signature.lower()}"
    message = f"{dedup_key(fields)}|{fields.get('FromUserName', '')}"
    if await channels.bind(key, message) != message:
        raise Forbidden("this signed request was already received", code="replayed")


async def handle(
    channels: TencentChannels, fields: dict[str, str], *, started: float
) -> str | None:
    """The passive reply's text, or None to answer ``success`` (nothing now)."""
    settings = channels.runtime.settings
    budget = settings.channels.wechat_reply_budget - (time.monotonic() - started)
    text = customer_text(fields)
    lease = None
    if text is not None and fields.get("MsgId"):
        # A message the bot answers: claimed by a lease, so WeChat's retry after a worker
        # died mid-turn answers it (waiting, within its budget, for the lease to lapse).
        lease = await acquire(channels.runtime, dedup_key(fields), wait=budget)
        if lease is None:
            log.info("wechat retry or replay ignored", extra={"msg_type": fields.get("MsgType")})
            return None
    elif not await channels.claim(dedup_key(fields)):
        log.info("wechat retry or replay ignored", extra={"msg_type": fields.get("MsgType")})
        return None
    openid = fields["FromUserName"]
    if fields.get("MsgType") == "event":
        event = fields.get("Event", "").lower()
        return welcome(settings) if event == "subscribe" else None
    if text is None:
        return UNSUPPORTED
    log.info("wechat message", extra={"chars": len(text), "preview": mask_pii(text[:40])})
    api = channels.wechat
    load = None
    if fields.get("MsgType") == "image":
        load = images.loader(
            api,
            settings.vision,
            media_id=fields.get("MediaId", ""),
            pic_url=fields.get("PicUrl", ""),
        )

    async def send(content: str) -> None:
        assert api is not None
        await api.send_text(openid, content)

    req = TurnRequest(
        channel=CHANNEL,
        text=text,
        external_user_id=openid,
        client_message_id=fields.get("MsgId") or None,
    )
    budget = settings.channels.wechat_reply_budget - (time.monotonic() - started)
    return await channels.answer_within(
        req, budget=budget, send=send if api else None, lease=lease, load=load
    )


async def deliver_agent_message(channels: TencentChannels, event: dict[str, object]) -> None:
    """A human agent's reply (bus topic ``channel:wechat``) through ``custom/send``."""
    api = channels.wechat
    if api is None:
        log.error("agent message not delivered: KEFU_WECHAT_APP_ID/APP_SECRET not set")
        return
    await channels.deliver_agent_message(event, api.send_text)
