"""What WeChat and WeCom send to kefu: signed query strings, message XML, safe-mode
envelopes; and how to read kefu's passive replies."""

from __future__ import annotations

import secrets
import time

from app.channels.tencent import payload
from app.channels.tencent.crypto import MsgCrypt, sha1_signature


def now() -> str:
    return str(int(time.time()))


def nonce() -> str:
    return str(secrets.randbelow(10**9))


def plain_query(token: str, *, timestamp: str | None = None) -> dict[str, str]:
    ts, n = timestamp or now(), nonce()
    return {"signature": sha1_signature(token, ts, n), "timestamp": ts, "nonce": n}


def message(
    msg_type: str,
    *,
    user: str,
    msg_id: str,
    to: str = "gh_kefu",
    created: int | None = None,
    **extra: str,
) -> str:
    """A user's message of any type (voice, location...), its type's fields in ``extra``."""
    fields: dict[str, str | int] = {
        "ToUserName": to,
        "FromUserName": user,
        "CreateTime": created or int(time.time()),
        "MsgType": msg_type,
        **extra,
        "MsgId": msg_id,
    }
    return payload.render(fields)


def text_message(
    content: str,
    *,
    user: str,
    msg_id: str,
    to: str = "gh_kefu",
    msg_type: str = "text",
    created: int | None = None,
) -> str:
    extra = {"Content": content} if msg_type == "text" else {}
    return message(msg_type, user=user, msg_id=msg_id, to=to, created=created, **extra)


def event_message(
    event: str, *, user: str, to: str = "gh_kefu", created: int | None = None, **extra: str
) -> str:
    fields: dict[str, str | int] = {
        "ToUserName": to,
        "FromUserName": user,
        "CreateTime": created or int(time.time()),
        "MsgType": "event",
        "Event": event,
        **extra,
    }
    return payload.render(fields)


def kf_event(*, token: str, open_kfid: str, to: str, created: int | None = None) -> str:
    """微信客服's documented callback (接收消息和事件): no user, only the account and a Token
    to call sync_msg with."""
    fields: dict[str, str | int] = {
        "ToUserName": to,
        "CreateTime": created or int(time.time()),
        "MsgType": "event",
        "Event": "kf_msg_or_event",
        "Token": token,
        "OpenKfId": open_kfid,
    }
    return payload.render(fields)


def sealed(crypt: MsgCrypt, xml: str, *, to: str) -> tuple[str, dict[str, str]]:
    """A safe-mode (always-encrypted for WeCom) body and its query string."""
    ts, n = now(), nonce()
    encrypted, sig = crypt.seal(xml, timestamp=ts, nonce=n)
    body = payload.render({"ToUserName": to, "Encrypt": encrypted})
    return body, {"msg_signature": sig, "timestamp": ts, "nonce": n}


def open_reply(crypt: MsgCrypt, body: bytes) -> dict[str, str]:
    """A safe-mode passive reply: its signature checked, then decrypted and parsed."""
    outer = payload.parse(body)
    plain = crypt.open(outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
    return payload.parse(plain.encode())
