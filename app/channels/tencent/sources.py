"""The sources of an answer, for channels that show nothing but text (WeChat, WeCom): the
[n] markers stay where the answer put them, and a footer says what each cited one is.

Only the citations the answer marks are listed: an FAQ answer or a quoted passage names its
source in the text already, and a footer for an unmarked citation would explain nothing."""

from __future__ import annotations

from collections.abc import Sequence

from app.agent.citations import cited_numbers
from app.conversation.schemas import Citation
from app.core.lang import detect_lang

_HEADING = {"zh": "参考：", "en": "Sources:"}
_SEPARATOR = " › "
# A footer line per source; a deep heading path or a long file name must not crowd out the
# answer in a 2048-byte message.
MAX_LABEL_CHARS = 60


def label(citation: Citation, *, lang: str) -> str:
    """``文档名 › 标题`` (an FAQ's heading path is ``FAQ``), and the page of a paged file."""
    text = _SEPARATOR.join([citation.source, *(p for p in citation.heading_path if p)])
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "…"
    if citation.page is not None:
        text += f"（第{citation.page}页）" if lang == "zh" else f" (p. {citation.page})"
    return text


def footer(answer: str, citations: Sequence[Citation]) -> str:
    """The sources lines for the markers in ``answer``, or "" when it marks none."""
    by_number: dict[int, Citation] = {}
    for c in citations:
        by_number.setdefault(c.n, c)  # a replayed turn may repeat its citations
    marked = cited_numbers(answer, available=max(by_number, default=0))
    cited = sorted(n for n in marked if n in by_number)
    if not cited:
        return ""
    lang = "zh" if detect_lang(answer) == "zh" else "en"
    # Two passages of one section are one source to a customer: [1][3] on one line.
    numbers: dict[str, list[int]] = {}
    for n in cited:
        numbers.setdefault(label(by_number[n], lang=lang), []).append(n)
    lines = ["".join(f"[{n}]" for n in ns) + " " + text for text, ns in numbers.items()]
    heading = _HEADING[lang]
    if len(lines) == 1:
        return heading + ("" if lang == "zh" else " ") + lines[0]
    return heading + "\n" + "\n".join(lines)


def with_sources(answer: str, citations: Sequence[Citation]) -> str:
    sources = footer(answer, citations)
    return f"{answer}\n\n{sources}" if sources else answer
