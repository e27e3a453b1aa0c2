"""How chunk text is cut into keyword terms for BM25, shared by Milvus and the in-memory store.

Milvus runs the analyzer server-side from ``ANALYZER_PARAMS``; ``tokenize`` reproduces it
(jieba, lowercased, stop words dropped) for the in-memory store.

jieba segments Chinese into words and keeps ASCII runs (``5g``, ``iphone15``, ``wifi``) whole,
so it is also the right tokenizer for English and mixed text; the ``standard`` tokenizer would
index a whole Chinese clause as one term. jieba keeps punctuation as tokens; the stop list
below drops them, because Milvus Lite 2.5 has no ``removepunct`` filter (it refuses to build
the analyzer) and Milvus must analyze the same way.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import jieba

# Punctuation and symbols of ASCII, Latin-1, general punctuation, CJK and full-width forms.
_SYMBOL_BLOCKS = (
    (0x21, 0x7F), (0xA1, 0xC0), (0x2010, 0x2060), (0x3000, 0x3040), (0xFE30, 0xFE50),
    (0xFF01, 0xFF66),
)  # fmt: skip
_PUNCTUATION = {
    ch
    for low, high in _SYMBOL_BLOCKS
    for ch in map(chr, range(low, high))
    if unicodedata.category(ch)[0] in "PS"
} | {"...", "......", "\u2014\u2014", "\u2026\u2026"}  # runs jieba keeps as one token
# Function words only: negations and other words that change a question's meaning stay.
_ZH_STOP = {
    "的", "了", "吗", "呢", "吧", "啊", "呀", "哦", "嘛", "么", "着", "和", "与", "及", "或",
    "是", "在", "我", "我们", "你", "您", "你们", "请", "请问", "一下", "怎么", "怎样", "如何",
    "什么", "哪些", "为什么", "可以", "能否", "是否", "这个", "那个",
}  # fmt: skip
_EN_STOP = {
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "is", "are", "was",
    "were", "be", "been", "do", "does", "did", "i", "me", "my", "we", "our", "you", "your",
    "it", "its", "this", "that", "these", "those", "how", "what", "when", "where", "which",
    "who", "why", "can", "could", "would", "should", "will", "with", "from", "by", "as",
    "about", "please", "hi", "hello",
}  # fmt: skip
# jieba also keeps runs of whitespace as tokens; Milvus Lite 2.5 would match every English
# text on the space between two query words.
_SPACE = {" ", "  ", "   ", "\t", "\n", "\r\n", "\u3000", "\xa0"}
STOP_WORDS: frozenset[str] = frozenset(_PUNCTUATION | _ZH_STOP | _EN_STOP | _SPACE)

ANALYZER_PARAMS: dict[str, Any] = {
    "tokenizer": "jieba",
    "filter": [
        "lowercase",
        {"type": "stop", "stop_words": sorted(STOP_WORDS)},
    ],
}


def tokenize(text: str) -> list[str]:
    """Keyword terms of ``text``, in order, repeats kept (BM25 counts them)."""
    terms = (t.strip().lower() for t in jieba.cut_for_search(text))
    return [t for t in terms if t and t not in STOP_WORDS]
