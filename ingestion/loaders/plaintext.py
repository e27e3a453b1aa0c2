"""Plain text: GBK or UTF-8, hard-wrapped, with headings only as conventions (一、, 1., ====)."""

from __future__ import annotations

import re

from ingestion.loaders.blocks import SectionBuilder, ends_sentence, join_wrapped
from ingestion.loaders.encoding import decode_text
from ingestion.loaders.models import ParsedDocument

_UNDERLINE = re.compile(r"^\s*(=|-|~|\*|#)\1{2,}\s*$")
_MARKED_HEADINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("atx", re.compile(r"^(#{1,6})\s+\S")),
    ("chapter", re.compile(r"^第[一二三四五六七八九十百零\d]+[章节篇部分]")),
    ("article", re.compile(r"^第[一二三四五六七八九十百零\d]+条")),
    ("cn-numeral", re.compile(r"^[一二三四五六七八九十百]{1,3}[、．.]")),
    ("cn-paren", re.compile(r"^[（(][一二三四五六七八九十百]{1,3}[）)]")),
    ("bracket", re.compile(r"^【[^】]{1,30}】$")),
    ("decimal", re.compile(r"^\d{1,2}(?:\.\d{1,2})+\.?\s+\S")),
)
_NUMBERED = re.compile(r"^\d{1,2}[.、．)]\s*\S")
_CAPS = re.compile(r"^[A-Z0-9][A-Z0-9 &/,'()-]{2,60}$")
_SENTENCE_INSIDE = re.compile(r"[。！？!?；;]|[，,]\s*\S.*[，,]")
_MAX_HEADING_CHARS = 60


def load_plaintext(data: bytes) -> ParsedDocument:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    builder = SectionBuilder()
    kinds: list[str] = []
    paragraph: list[str] = []

    def heading(kind: str, title: str) -> None:
        builder.lines(join_wrapped(paragraph))
        paragraph.clear()
        if kind in kinds:
            del kinds[kinds.index(kind) + 1 :]
        else:
            kinds.append(kind)
        builder.heading(len(kinds), title.lstrip("#").strip())

    i = 0
    # A heading counts as a blank line before what follows, so "1. Foo" right under an
    # underlined heading can still be recognised as standing alone.
    after_break = True
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        underline = _UNDERLINE.match(nxt)
        if underline and line.strip() and after_break and _short(line):
            heading("underline" + underline.group(1), line.strip())
            i += 2
            continue
        kind = _heading_kind(line, after_break, nxt)
        if kind is not None:
            heading(kind, line.strip())
        elif not _UNDERLINE.match(line):
            paragraph.append(line)
        after_break = kind is not None or not line.strip()
        i += 1
    builder.lines(join_wrapped(paragraph))
    sections = builder.finish()
    return ParsedDocument(sections=sections, faq_pairs=[], title=builder.first_heading)


def _short(line: str) -> bool:
    return len(line.strip()) <= _MAX_HEADING_CHARS


def _heading_kind(line: str, standalone: bool, nxt: str) -> str | None:
    """Which heading convention a line follows, if it plausibly is a heading at all.

    Numbered lines ("1. Foo") are headings only when they stand alone: a blank line before
    and no sibling item right after, otherwise they are the items of a numbered list.
    """
    text = line.strip()
    if not text or not _short(text) or _SENTENCE_INSIDE.search(text):
        return None
    # A trailing colon introduces a list under a Chinese section marker, but ends a sentence
    # after anything else.
    terminal = ends_sentence(text)
    for kind, pattern in _MARKED_HEADINGS:
        if pattern.match(text):
            if kind == "atx":
                return f"atx{len(text) - len(text.lstrip('#'))}"
            if terminal and text[-1] not in ":：":
                return None
            return kind
    if terminal:
        return None
    if _NUMBERED.match(text) and standalone and not _NUMBERED.match(nxt.strip()):
        return "numbered"
    if _CAPS.match(text) and standalone and not nxt.strip() and any(c.isalpha() for c in text):
        return "caps"
    return None
