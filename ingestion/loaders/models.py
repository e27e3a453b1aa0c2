"""What every loader returns: a document as headed sections and FAQ pairs, or a ParseError."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading path; the splitter never lets a chunk span two sections.

    ``text`` holds one paragraph, list item or table row per line. ``page`` is 1-based and
    set only for paginated formats (PDF).
    """

    heading_path: tuple[str, ...]
    text: str
    page: int | None = None
    is_table: bool = False


@dataclass(frozen=True, slots=True)
class FaqPair:
    question: str
    answer: str
    alt_questions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    sections: list[Section]
    faq_pairs: list[FaqPair]
    title: str | None


class ParseError(Exception):
    """The file cannot be turned into text; the message is shown to the operator as is."""


class UnsupportedFormat(ParseError):
    pass
