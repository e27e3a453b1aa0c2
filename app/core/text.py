"""The one check every customer or agent message passes before anything is stored for it, and
the one token estimate for text no tokenizer has counted."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from app.core.errors import Unprocessable

# Characters that draw nothing: a message made only of these (and spaces) is empty.
_INVISIBLE_CATEGORIES = {"Cf", "Zs", "Zl", "Zp"}
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def require_text(text: str, *, param: str | None = None) -> None:
    """422 unless ``text`` is storable text: no lone surrogates, no control characters."""
    details: dict[str, Any] = {"param": param} if param else {}
    for position, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            raise Unprocessable(
                "message is not valid Unicode text (a lone surrogate)",
                code="invalid_text",
                details={**details, "position": position},
            )
        if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS:
            raise Unprocessable(
                f"message contains a control character U+{ord(ch):04X}",
                code="invalid_text",
                details={**details, "position": position},
            )


def message_text(text: str, *, limit: int, param: str | None = None) -> str:
    """The message, stripped; 422 when it is not text (lone surrogates, control characters),
    shows nothing (spaces, zero-width characters) or is over ``limit`` characters."""
    details: dict[str, Any] = {"param": param} if param else {}
    require_text(text, param=param)
    text = text.strip()
    if all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text):
        raise Unprocessable("message is empty", code="empty_message", details=details or None)
    if len(text) > limit:
        raise Unprocessable(
            f"message is longer than {limit} characters",
            code="message_too_long",
            details={**details, "limit": limit},
        )
    return text


def estimate_tokens(text: str) -> int:
    """Qwen's token count estimated from characters (no tokenizer is loaded): one token per
    CJK or Hangul character, one per ~4 other characters. Enough for budgets and usage
    figures, and free per turn."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4
