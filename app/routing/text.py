"""Language-neutral text features the router reads from a message, before and besides embeddings."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection

import jieba

from app.core.lang import detect_lang

__all__ = ["detect_lang"]

jieba.setLogLevel(logging.WARNING)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SPACES = re.compile(r"\s+")
# Sentence-final question marks and clause separators of both scripts.
_QUESTION_MARK = re.compile(r"[?？]+")
_CLAUSE_BREAK = re.compile(r"[?？!！。.;；,，、\n]+|\s{2,}")
# Zero-width joiners, variation selectors and skin-tone modifiers glue emoji sequences together.
_EMOJI_GLUE = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), collapsed whitespace."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def is_emoji_only(text: str) -> bool:
    """True for messages made of pictographs and punctuation only ("👍", "🙏🙏🙏", "👋 !")."""
    seen_symbol = False
    for char in text:
        if char.isspace() or char in _EMOJI_GLUE:
            continue
        category = unicodedata.category(char)
        if category in ("So", "Sk", "Cs"):
            seen_symbol = True
        elif category.startswith("P") or category == "Mn" or 0x1F3FB <= ord(char) <= 0x1F3FF:
            continue
        else:
            return False
    return seen_symbol


def strip_symbols(text: str) -> str:
    """The message without emoji and other pictographs, which embed as noise."""
    kept = [c for c in text if unicodedata.category(c) not in ("So", "Sk", "Cs")]
    return "".join(c for c in kept if c not in _EMOJI_GLUE).strip()


def tokens(text: str, stopwords: Collection[str] = ()) -> list[str]:
    """Content words: jieba for Chinese, lower-cased words for Latin script, no punctuation."""
    out: list[str] = []
    for raw in jieba.lcut(text.lower()):
        word = raw.strip()
        if not word or word in stopwords:
            continue
        if not any(c.isalnum() for c in word):
            continue
        out.append(word)
    return out


def numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


# A number that names something rather than counts it: part of an identifier that starts
# with a letter (YF2026…, B12), a long run of digits (phone, order or card numbers), or a
# year-month date (2026-10). Days and months written out (6月11号) stay: pro-rating by day
# is a calculation. Units after a number (30GB, 5元) keep it a quantity.
_IDENTIFIER = re.compile(
    r"[A-Za-z][A-Za-z0-9-]*\d[A-Za-z0-9-]*|\d{7,}|\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?"
)


# A quantity with the magnitude customers write after it: 10k, 2w, 1.5万, 3千.
_QUANTITY = re.compile(r"(\d+(?:[.,]\d+)*)\s*([kKwW万千]?)")
_MAGNITUDE = {"k": 1e3, "K": 1e3, "千": 1e3, "w": 1e4, "W": 1e4, "万": 1e4}


def distinct_quantities(text: str) -> int:
    """How many different amounts, durations or counts a message names (what a calculation
    would use; identifiers left out): "¥10,000 … the whole 10k" restates one amount, and
    only two different ones are a sum to work out."""
    values: set[float] = set()
    for digits, unit in _QUANTITY.findall(_IDENTIFIER.sub(" ", normalise(text))):
        # A comma before exactly three digits groups thousands; otherwise it is a decimal mark.
        plain = re.sub(r",(?=\d{3}(?!\d))", "", digits).replace(",", ".")
        try:
            value = float(plain) * _MAGNITUDE.get(unit, 1.0)
        except ValueError:  # "1.2.3": not one number
            value = float(len(values) + 1e9)
        values.add(round(value, 6))
    return len(values)


def question_count(text: str) -> int:
    """How many questions a message asks: question marks, or at least one if it ends without."""
    return max(1, len(_QUESTION_MARK.findall(text)))


def clause_count(text: str) -> int:
    return len([c for c in _CLAUSE_BREAK.split(text) if c.strip()])


def visible_length(text: str) -> int:
    """A length comparable across scripts: Chinese characters plus Latin words."""
    return len(_CJK.findall(text)) + len(_LATIN_WORD.findall(text)) + len(numbers(text))
