"""Pieces every loader shares: CJK-aware line joining and the heading stack that cuts sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ingestion.loaders.models import Section
from ingestion.tokens import CJK_RANGES

# Full-width punctuation counts as CJK when deciding whether a line break stands for a space.
_CJK_OR_PUNCT = CJK_RANGES + "\u3000-\u303f\uff00-\uffef\u2014\u2026\u201c\u201d\u2018\u2019\u00b7"
_CJK_END = re.compile(f"[{_CJK_OR_PUNCT}]$")
_CJK_START = re.compile(f"^[{_CJK_OR_PUNCT}]")
_SPACE_RUN = re.compile(r"\s+")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK_OR_PUNCT}])[ \t]*\n\\s*(?=[{_CJK_OR_PUNCT}])")

_LIST_MARKER = re.compile(
    r"""^(?:
        [-*+•·●○◦▪■□◆◇►▶✓✔–—]\s
      | \d{1,3}[.)．、](?!\d)
      | [（(]\d{1,3}[）)]
      | [（(]?[一二三四五六七八九十百]{1,3}[）)、．.]
      | [a-zA-Z][.)]\s
      | [\u2460-\u2473]
      | (?:问|答|Q|A)\s*[:：]
      | [\u4e00-\u9fff]{2,8}：
      | 第[一二三四五六七八九十百\d]+[章节条款部分]
    )""",
    re.VERBOSE,
)
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:microsoft \w+ - .*|untitled.*|document\d*|文档\d*|新建.*)$"
    r"|\.(?:docx?|pdf|pptx?|xlsx?|wps|txt)$",
    re.I,
)
_CLOSERS = "\"'”’」』）)]》>"
_TERMINALS = "。！？!?；;：:.…"


def collapse_spaces(text: str) -> str:
    """One line of display text: a line break between CJK characters vanishes, others become a
    space, as a browser or word processor would render them."""
    return _SPACE_RUN.sub(" ", _SPACE_BETWEEN_CJK.sub("", text)).strip()


def glue(left: str, right: str) -> str:
    """Join a line that wrapped, undoing hyphenation and not inventing spaces inside CJK text."""
    if (
        len(left) > 1
        and left.endswith("-")
        and left[-2].isalpha()
        and left[-2].islower()
        and right[:1].islower()
    ):
        return left[:-1] + right
    if _CJK_END.search(left) or _CJK_START.search(right):
        return left + right
    return f"{left} {right}"


def ends_sentence(line: str) -> bool:
    stripped = line.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINALS


def join_wrapped(lines: Iterable[str], *, markdown: bool = False) -> list[str]:
    """Turn hard-wrapped physical lines into logical lines (paragraphs and list items).

    A line continues the previous one unless a blank line, a list marker or sentence-ending
    punctuation says otherwise, and it must keep the previous line's indentation or hang
    under a list item. Wrapping is ambiguous in plain text and PDFs, and keeping a break after
    a full stop costs nothing while gluing two list items garbles them.

    With ``markdown``, indentation does not decide continuation (a soft wrap is a soft wrap)
    but an item keeps its indentation, which is its nesting level.
    """
    out: list[str] = []
    broken = True
    prev_indent = first_indent = 0
    item = False
    for raw in lines:
        text = raw.strip()
        if not text:
            broken = True
            continue
        expanded = raw.expandtabs(4)
        indent = len(expanded) - len(expanded.lstrip())
        starts_item = _LIST_MARKER.match(text) is not None
        aligned = indent == prev_indent or (item and indent > first_indent)
        if not broken and not starts_item and not ends_sentence(out[-1]) and (aligned or markdown):
            out[-1] = glue(out[-1], text)
        else:
            out.append(" " * indent + text if markdown and starts_item else text)
            first_indent, item = indent, starts_item
        prev_indent = indent
        broken = False
    return out


def metadata_title(title: object) -> str | None:
    """A title from file metadata, unless it is an editor's placeholder or a file name."""
    if not isinstance(title, str) or not (title := collapse_spaces(title)):
        return None
    return None if _PLACEHOLDER_TITLE.search(title) else title


class SectionBuilder:
    """Collects lines under the current heading path and cuts a Section at every heading,
    table and page change, so no Section ever straddles one of them."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._page: int | None = None
        self._sections: list[Section] = []
        self.first_heading: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)

    def heading(self, level: int, text: str) -> None:
        text = collapse_spaces(text)
        if not text:
            return
        self._flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))
        if self.first_heading is None:
            self.first_heading = text

    def line(self, text: str) -> None:
        # Leading spaces stay: they carry nesting of list items and code indentation.
        text = text.rstrip()
        if text.strip():
            self._lines.append(text)

    def lines(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.line(text)

    def table(self, rows: Iterable[Sequence[str]]) -> None:
        rendered = [
            " | ".join(collapse_spaces(cell) for cell in row)
            for row in rows
            if any(cell.strip() for cell in row)
        ]
        if not rendered:
            return
        self._flush()
        self._sections.append(
            Section(self.path, "\n".join(rendered), page=self._page, is_table=True)
        )

    def page(self, number: int) -> None:
        if number != self._page:
            self._flush()
            self._page = number

    def finish(self) -> list[Section]:
        self._flush()
        return self._sections

    def _flush(self) -> None:
        if self._lines:
            self._sections.append(Section(self.path, "\n".join(self._lines), page=self._page))
            self._lines = []
