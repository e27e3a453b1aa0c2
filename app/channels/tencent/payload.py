"""Tencent's flat XML messages: parsed with defusedxml (no entities, no DTDs), size-capped,
and rendered with every string in CDATA."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from app.core.errors import AppError, PayloadTooLarge

MAX_XML_BYTES = 64 * 1024  # real callbacks are under 2 KiB; anything near this is abuse


class MalformedXml(AppError):
    status_code = 400
    code = "malformed_xml"


def parse(body: bytes, *, max_bytes: int = MAX_XML_BYTES) -> dict[str, str]:
    """The root's child elements as name → text (Tencent never nests what we read)."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"XML body exceeds {max_bytes} bytes", details={"limit": max_bytes})
    if not body.strip():
        raise MalformedXml("empty XML body")
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXml(f"malformed XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise MalformedXml("the root element must be <xml>")
    return {child.tag: (child.text or "").strip() for child in root if isinstance(child.tag, str)}


def require(fields: dict[str, str], *names: str) -> None:
    missing = [n for n in names if not fields.get(n)]
    if missing:
        raise MalformedXml(f"missing fields: {', '.join(missing)}", details={"missing": missing})


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and reopen it around the ">".
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render(fields: dict[str, str | int]) -> str:
    """``<xml>`` with one element per field: ints bare, strings in CDATA."""
    parts = []
    for name, value in fields.items():
        inner = str(value) if isinstance(value, int) else _cdata(value)
        parts.append(f"<{escape(name)}>{inner}</{escape(name)}>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_reply(*, to_user: str, from_user: str, content: str, create_time: int) -> str:
    return render(
        {
            "ToUserName": to_user,
            "FromUserName": from_user,
            "CreateTime": create_time,
            "MsgType": "text",
            "Content": content,
        }
    )


def encrypted_reply(*, encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    return render(
        {
            "Encrypt": encrypted,
            "MsgSignature": signature,
            "TimeStamp": int(timestamp),
            "Nonce": nonce,
        }
    )
