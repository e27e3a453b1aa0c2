"""Which passages an answer cites: the [n] markers the model wrote, mapped to passages."""

from __future__ import annotations

import re

# [1], [1][2], [1, 2], [1,2,3], full-width 【1】 and ［1］: what Qwen writes when told "[n]".
_MARKER = re.compile(r"[\[【［]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】］]")


def cited_numbers(text: str, *, available: int) -> list[int]:
    """Passage numbers cited in ``text``, in order of first use, within 1..available."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,，、]", match.group(1)):
            n = int(part)
            if 1 <= n <= available and n not in seen:
                seen.append(n)
    return seen
