"""A fast token estimate for multilingual-e5 / XLM-R sentencepiece, without loading a tokenizer.

Roughly: one token per CJK character, 1.3 per Latin-script word, one per group of up to three
digits, one per punctuation mark. It runs on every sentence the splitter sees, so it uses a
few C-level regex scans rather than a Python loop over characters.
"""

from __future__ import annotations

import math
import re

# Han (with radicals, extensions and compatibility forms), kana, bopomofo and Hangul: scripts
# written without spaces, where one character is roughly one sentencepiece token.
CJK_RANGES = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_CJK = re.compile(f"[{CJK_RANGES}]")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+")
_DIGITS = re.compile(r"\d{1,3}")
# Anything left that is neither a letter, a digit, CJK nor space; \w would swallow CJK.
_PUNCT = re.compile(r"[^\w\s]|_")
_WORD_TOKENS = 1.3


def count_tokens(text: str) -> int:
    if not text:
        return 0
    words = len(_WORD.findall(text))
    cjk = 0 if text.isascii() else len(_CJK.findall(text))
    return (
        cjk
        + math.ceil(words * _WORD_TOKENS)
        + len(_DIGITS.findall(text))
        + len(_PUNCT.findall(text))
    )
