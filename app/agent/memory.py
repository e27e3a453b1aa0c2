"""What of the conversation the model sees: the latest turns that fit a token budget, the
running summary of older ones, and whether a follow-up needs rewriting before retrieval."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.text import estimate_tokens

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def window(
    history: Sequence[tuple[str, str]], *, max_turns: int, max_tokens: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split history (oldest first) into (dropped, kept): kept is the newest messages that fit
    both budgets, starting at a user message so the model never sees half an exchange."""
    kept: list[tuple[str, str]] = []
    used = 0
    users = 0
    for role, content in reversed(history):
        cost = estimate_tokens(content) + 4
        if used + cost > max_tokens:
            break
        if role == "user":
            if users >= max_turns:
                break
            users += 1
        kept.append((role, content))
        used += cost
    kept.reverse()
    while kept and kept[0][0] != "user":
        kept.pop(0)
    dropped = list(history[: len(history) - len(kept)])
    return dropped, kept


# Words that point back at earlier turns: "那运费呢", "what about that one", "它多少钱".
_REFERS_BACK = re.compile(
    r"(那|这|它|他们|她|上面|刚才|前面|呢[？?]?$|还有|另外|"
    r"\b(it|its|that|this|those|these|they|them|there|one|same|also|what about|how about)\b)",
    re.IGNORECASE,
)


def looks_elliptical(question: str) -> bool:
    """True when a follow-up probably can't be searched on its own."""
    text = question.strip()
    cjk = len(_CJK.findall(text))
    short = cjk < 10 if cjk else len(text.split()) < 6
    return short or bool(_REFERS_BACK.search(text))
