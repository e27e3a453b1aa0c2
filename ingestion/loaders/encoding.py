"""Bytes to text for formats that do not declare their encoding (plain text, CSV, some HTML)."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from ingestion.loaders.models import ParseError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936"}
# Short GBK texts are valid in several double-byte encodings and charset-normalizer often
# ranks Big5 or CP949 first; for a Chinese knowledge base GB18030 is the likely truth.
_CJK_MULTIBYTE = _GB_FAMILY | {
    "big5",
    "big5hkscs",
    "cp949",
    "euc_kr",
    "johab",
    "cp932",
    "shift_jis",
    "shift_jis_2004",
    "euc_jp",
    "euc_jis_2004",
    "iso2022_jp",
}


def normalize_encoding(name: str) -> str | None:
    """A codec name Python knows, with GB2312/GBK widened to their superset GB18030."""
    try:
        canonical = codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None
    return "gb18030" if canonical in _GB_FAMILY else canonical


def decode_text(data: bytes, *, declared: str | None = None) -> str:
    """Decode with, in order: a BOM, a declared charset that fits, UTF-8, then detection."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data, encoding)
    if declared is not None:
        declared_codec = normalize_encoding(declared)
        if declared_codec is not None:
            try:
                return data.decode(declared_codec)
            except UnicodeDecodeError:
                pass  # a wrong meta charset is common; fall through to detection
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    gb_text = _try_decode(data, "gb18030")
    guesses = [normalize_encoding(match.encoding) for match in from_bytes(data)]
    if gb_text is not None and (not guesses or set(guesses) & _CJK_MULTIBYTE):
        return gb_text
    for guess in guesses:
        if guess is not None:
            text = _try_decode(data, guess)
            if text is not None:
                return text
    raise ParseError("could not detect the text encoding (tried UTF-8, GB18030 and detection)")


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ParseError(f"text is not valid {encoding} despite its byte-order mark") from exc
