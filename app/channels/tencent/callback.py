"""What every Tencent callback checks before trusting a request: a fresh timestamp, a
bounded body; and how long answers are cut to fit one message."""

from __future__ import annotations

import time

from fastapi import Request

from app.channels.tencent.payload import MAX_XML_BYTES
from app.core.errors import AppError, Forbidden, PayloadTooLarge

# A captured callback replayed later is refused; the dedup keys outlive this window, so a
# replay inside it is caught there instead.
MAX_CLOCK_SKEW = 300
DEDUP_TTL = 2 * MAX_CLOCK_SKEW
# Tencent counts text limits in UTF-8 bytes (2048 for a text message); keep a margin.
MAX_TEXT_BYTES = 1800


class ChannelNotConfigured(AppError):
    status_code = 404
    code = "channel_not_configured"


def check_fresh(timestamp: str, *, now: float | None = None) -> None:
    if not timestamp.isdigit():
        raise AppError("timestamp must be a Unix time in seconds", code="invalid_timestamp")
    skew = abs((now if now is not None else time.time()) - int(timestamp))
    if skew > MAX_CLOCK_SKEW:
        raise Forbidden(
            "timestamp is outside the accepted window (replayed or clock skew)",
            code="stale_request",
            details={"max_skew_seconds": MAX_CLOCK_SKEW},
        )


async def read_body(request: Request, *, limit: int = MAX_XML_BYTES) -> bytes:
    """The body, refused as soon as it passes ``limit`` (not after buffering all of it)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"XML body exceeds {limit} bytes", details={"limit": limit})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"XML body exceeds {limit} bytes", details={"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def split_text(text: str, *, max_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces of at most ``max_bytes`` UTF-8 bytes, cut at line ends when possible."""
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > max_bytes:  # one line longer than a message: hard cut
            cut = len(line.encode()[:max_bytes].decode(errors="ignore"))
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode()) > max_bytes:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def fits_one_message(text: str) -> bool:
    return len(text.encode()) <= MAX_TEXT_BYTES
