"""The one language detector: routing, retrieval and the splitter all ask it, so a message,
the query made from it and the chunks in its language always agree."""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]

# Han, kana and Hangul all count as "Chinese" here: the bundled models treat them alike and
# the product answers in zh or en only.
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect_lang(text: str) -> Language:
    """``zh`` as soon as CJK characters carry a fair share of the text, else ``en``.

    Customers mix scripts ("我的iPhone 15 Pro Max怎么开eSIM"): a Chinese message with a few
    English product words is still Chinese, so a CJK character counts double against a Latin
    word; an English document that quotes one Chinese name stays English. Text with neither
    (digits, emoji) is ``zh``, the product's first language.
    """
    cjk = len(_CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if cjk == 0:
        return "en" if words else "zh"
    return "zh" if cjk * 2 >= words else "en"
