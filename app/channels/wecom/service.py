"""WeCom: a self-built app's callback (always encrypted, corp id checked) answered through
``message/send``, and 微信客服 (``kf_msg_or_event`` → ``sync_msg`` from a stored cursor →
``send_msg``). The callback itself always answers at once: the reply goes out by API."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.channels import cursors
from app.channels.tencent import images, payload
from app.channels.tencent.callback import DEDUP_TTL, ChannelNotConfigured
from app.channels.tencent.crypto import MsgCrypt
from app.channels.tencent.state import TencentChannels
from app.channels.wechat.service import UNSUPPORTED, welcome
from app.conversation.schemas import TurnRequest
from app.core.db import session_scope
from app.core.logging import mask_pii

log = logging.getLogger(__name__)

CHANNEL = "wecom"
KF_CHANNEL = "wecom_kf"
KF_CUSTOMER = 3  # sync_msg origin: a message the WeChat customer sent


@dataclass(frozen=True)
class WeComConfig:
    crypt: MsgCrypt


def config(channels: TencentChannels) -> WeComConfig:
    cfg = channels.runtime.settings.channels
    if not (cfg.wecom_token and cfg.wecom_encoding_aes_key and cfg.wecom_corp_id):
        raise ChannelNotConfigured(
            "the WeCom channel is not configured "
            "(KEFU_WECOM_TOKEN, KEFU_WECOM_ENCODING_AES_KEY, KEFU_WECOM_CORP_ID)"
        )
    crypt = MsgCrypt(
        token=cfg.wecom_token.get_secret_value(),
        encoding_aes_key=cfg.wecom_encoding_aes_key.get_secret_value(),
        receive_id=cfg.wecom_corp_id,
    )
    return WeComConfig(crypt=crypt)


def dedup_key(fields: dict[str, str]) -> str:
    if fields.get("MsgId"):
        return f"wecom:msg:{fields['MsgId']}"
    # 微信客服 events name no user and can share a second; their Token is unique.
    return (
        f"wecom:event:{fields.get('FromUserName', '')}:{fields.get('CreateTime')}:"
        f"{fields.get('Event', '')}:{fields.get('Token', '')}"
    )


def is_kf_event(fields: dict[str, str]) -> bool:
    return fields.get("MsgType") == "event" and fields.get("Event") == "kf_msg_or_event"


async def handle(channels: TencentChannels, fields: dict[str, str]) -> None:
    """Start whatever the message needs; nothing is answered passively."""
    if is_kf_event(fields):
        # 微信客服's documented callback names no user (no FromUserName): it only says that
        # the account (OpenKfId) has news, to be fetched with sync_msg and its Token.
        payload.require(fields, "Token", "OpenKfId")
    else:
        payload.require(fields, "FromUserName")
    if not await channels.claim(dedup_key(fields)):
        log.info("wecom retry or replay ignored", extra={"msg_type": fields.get("MsgType")})
        return
    if is_kf_event(fields):
        channels.spawn(sync_kf(channels, fields["OpenKfId"], fields["Token"]))
        return
    api = channels.wecom
    userid = fields["FromUserName"]

    async def send(content: str) -> None:
        assert api is not None
        await api.send_text(userid, content)

    sender = send if api else None
    kind = fields.get("MsgType")
    if kind == "event":
        if fields.get("Event") == "subscribe" and sender is not None:
            channels.spawn(channels.send(sender, welcome(channels.runtime.settings)))
        return
    load = None
    if kind == "image":
        load = images.loader(
            api,
            channels.runtime.settings.vision,
            media_id=fields.get("MediaId", ""),
            pic_url=fields.get("PicUrl", ""),
        )
    elif kind != "text" or not fields.get("Content"):
        if sender is not None:
            channels.spawn(channels.send(sender, UNSUPPORTED))
        return
    text = fields.get("Content", "") if load is None else ""
    log.info("wecom message", extra={"chars": len(text), "preview": mask_pii(text[:40])})
    req = TurnRequest(
        channel=CHANNEL, text=text, external_user_id=userid, client_message_id=fields.get("MsgId")
    )
    channels.answer_later(req, send=sender, load=load)


def kf_user(open_kfid: str, external_userid: str) -> str:
    """One conversation per customer and 客服 account; both are needed to reply."""
    return f"{open_kfid}/{external_userid}"


def load_kf_cursor(channels: TencentChannels, open_kfid: str) -> str | None:
    with session_scope(channels.runtime.session_factory) as s:
        return cursors.load(db_session=s, channel=KF_CHANNEL, key=open_kfid)


def save_kf_cursor(channels: TencentChannels, open_kfid: str, cursor: str) -> None:
    with session_scope(channels.runtime.session_factory) as s:
        cursors.save(db_session=s, channel=KF_CHANNEL, key=open_kfid, cursor=cursor)


async def sync_kf(channels: TencentChannels, open_kfid: str, token: str) -> None:
    """Pull the new 微信客服 messages from the stored cursor and answer the customers'.

    The cursor lives in the database: without one, sync_msg starts from the oldest message
    of the last three days, and after a restart every customer would be answered again."""
    api = channels.wecom
    if api is None or not open_kfid:
        log.error("kf event ignored: KEFU_WECOM_CORP_ID/KEFU_WECOM_SECRET not set or no OpenKfId")
        return
    # One sync at a time per account in this process; msgid dedup covers the others.
    async with channels.lock(f"kf:{open_kfid}"):
        try:
            cursor = await run_in_threadpool(load_kf_cursor, channels, open_kfid)
        except Exception:
            # Never sync without the cursor: that would answer three days of messages.
            log.exception("kf cursor not readable; sync skipped")
            return
        for _ in range(100):  # has_more pages, bounded
            try:
                data = await api.kf_sync(open_kfid=open_kfid, token=token, cursor=cursor)
            except Exception as exc:
                log.warning("kf sync_msg failed: %s", mask_pii(str(exc)))
                return
            oldest = time.time() - DEDUP_TTL
            for msg in data.get("msg_list") or []:
                await _kf_message(channels, msg, oldest=oldest)
            next_cursor = data.get("next_cursor") or cursor
            if next_cursor and next_cursor != cursor:
                try:
                    await run_in_threadpool(save_kf_cursor, channels, open_kfid, next_cursor)
                except Exception:
                    log.exception("kf cursor not saved; the next event re-reads this page")
                    return
            cursor = next_cursor
            if not data.get("has_more"):
                return


async def _kf_message(channels: TencentChannels, msg: dict[str, Any], *, oldest: float) -> None:
    if msg.get("origin") != KF_CUSTOMER or not msg.get("msgid"):
        return
    # Older than the dedup keys: it may have been answered already (a cursor lost or saved
    # before a crash), and answering it again is worse than a late silence.
    send_time = msg.get("send_time")
    if not isinstance(send_time, int | float) or send_time < oldest:
        log.info("kf message skipped: older than the dedup window or without send_time")
        return
    if not await channels.claim(f"wecom:kf:msg:{msg['msgid']}"):
        return
    api = channels.wecom
    assert api is not None
    open_kfid, external = str(msg.get("open_kfid", "")), str(msg.get("external_userid", ""))

    async def send(content: str) -> None:
        await api.kf_send_text(open_kfid=open_kfid, external_userid=external, content=content)

    kind = msg.get("msgtype")
    text = (msg.get("text") or {}).get("content") if kind == "text" else None
    media_id = str((msg.get("image") or {}).get("media_id") or "") if kind == "image" else ""
    if not text and not media_id:
        channels.spawn(channels.send(send, UNSUPPORTED))
        return
    load = None
    if media_id:
        load = images.loader(api, channels.runtime.settings.vision, media_id=media_id, pic_url="")
    req = TurnRequest(
        channel=KF_CHANNEL,
        text=str(text or ""),
        external_user_id=kf_user(open_kfid, external),
        client_message_id=str(msg["msgid"]),
    )
    channels.answer_later(req, send=send, load=load)


async def deliver_agent_message(channels: TencentChannels, event: dict[str, Any]) -> None:
    """A human agent's reply (bus topic ``channel:wecom``) through ``message/send``."""
    api = channels.wecom
    if api is None:
        log.error("agent message not delivered: KEFU_WECOM_CORP_ID/KEFU_WECOM_SECRET not set")
        return
    await channels.deliver_agent_message(event, api.send_text)


async def deliver_kf_agent_message(channels: TencentChannels, event: dict[str, Any]) -> None:
    """The same for 微信客服 conversations (topic ``channel:wecom_kf``)."""
    api = channels.wecom
    if api is None:
        return

    async def send(user: str, content: str) -> None:
        assert api is not None
        open_kfid, _, external = user.partition("/")
        await api.kf_send_text(open_kfid=open_kfid, external_userid=external, content=content)

    await channels.deliver_agent_message(event, send)
