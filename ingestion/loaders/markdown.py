"""Markdown: ATX and setext headings cut sections, pipe tables become table sections."""

from __future__ import annotations

import re

from ingestion.loaders.blocks import SectionBuilder, join_wrapped
from ingestion.loaders.encoding import decode_text
from ingestion.loaders.models import ParsedDocument

_FRONT_MATTER = re.compile(
    r"\A(?:---|\+\+\+)[ \t]*\n.*?\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\n|\Z)", re.S
)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RULE = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?")
_COMMENT = re.compile(r"<!--.*?-->", re.S)

_INLINE_MARKUP = re.compile(r"[*_`\[<\\]")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`+([^`]+?)`+")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


def load_markdown(data: bytes) -> ParsedDocument:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    text = _COMMENT.sub("", _FRONT_MATTER.sub("", text, count=1))
    builder = SectionBuilder()
    paragraph: list[str] = []

    def flush() -> None:
        builder.lines(join_wrapped((inline(line) for line in paragraph), markdown=True))
        paragraph.clear()

    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = _QUOTE.sub("", lines[i])
        fence = _FENCE.match(line)
        atx = _ATX.match(line)
        if fence:
            flush()
            i = _code_block(lines, i, fence.group(1), builder)
            continue
        if atx:
            flush()
            builder.heading(len(atx.group(1)), inline(atx.group(2) or ""))
        elif paragraph and _SETEXT.match(line) and not _LIST_ITEM.match(paragraph[-1]):
            # "Title\n=====" and "Title\n-----" are headings, not a rule, per CommonMark.
            title = paragraph.pop()
            flush()
            builder.heading(1 if line.strip().startswith("=") else 2, inline(title))
        elif _RULE.match(line) or not line.strip():
            flush()
        elif _starts_table(lines, i):
            flush()
            i = _table(lines, i, builder)
            continue
        else:
            paragraph.append(line)
        i += 1
    flush()
    sections = builder.finish()
    return ParsedDocument(sections=sections, faq_pairs=[], title=builder.first_heading)


def inline(text: str) -> str:
    """Markdown inline syntax to the plain text a reader sees."""
    if _INLINE_MARKUP.search(text) is None:
        return text
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\1", text)
    return _ESCAPE.sub(r"\1", text)


def _code_block(lines: list[str], start: int, fence: str, builder: SectionBuilder) -> int:
    i = start + 1
    body: list[str] = []
    while i < len(lines) and not lines[i].lstrip().startswith(fence):
        body.append(lines[i].rstrip())
        i += 1
    builder.lines(body)
    return i + 1


def _starts_table(lines: list[str], i: int) -> bool:
    # The delimiter row needs a pipe too; "a | b" over a bare "---" is a setext heading.
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1]
        and _TABLE_DELIMITER.match(lines[i + 1]) is not None
    )


def _table(lines: list[str], start: int, builder: SectionBuilder) -> int:
    rows = [_cells(lines[start])]
    i = start + 2
    while i < len(lines) and "|" in lines[i] and lines[i].strip():
        rows.append(_cells(lines[i]))
        i += 1
    builder.table(rows)
    return i


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [inline(cell.strip()) for cell in cells]
