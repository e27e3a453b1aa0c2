"""Parsed sections to chunks: structure first (one section per chunk), then sentences.

Shape of a document chunk (``kind="doc"``)::

    text    = "Title > Section > Subsection\\n<body>"   # embedded and keyword-indexed
    content = the same string                          # what the LLM and citations show

The heading line is left out when a section has no heading path. ``chunk_tokens`` bounds
the body only; the heading line comes on top, a few tokens a level.

Shape of an FAQ chunk (``kind="faq"``)::

    text = "<question>\\n<paraphrase 1>\\n<paraphrase 2>"   content = "<answer>"
    question = "<question>"   heading_path = ("FAQ",)

Prose is cut at sentence ends (Chinese 。！？； and their half-width forms, English . ! ?
followed by a space, and line ends), packed up to ``chunk_tokens``, and each chunk starts
with the previous chunk's last whole sentences that fit in ``overlap_tokens``. A sentence
longer than ``chunk_tokens`` is cut at spaces or, in CJK text, between characters. Tables
stay whole up to twice ``chunk_tokens``; larger ones are cut between rows, each piece
starting with the header row and without overlap, since rows stand on their own.
"""

from __future__ import annotations

import math
import re

from app.core.lang import detect_lang
from ingestion.loaders import FaqPair, ParsedDocument, Section
from ingestion.tokens import CJK_RANGES, count_tokens
from knowledge.chunks import ChunkDraft

HEADING_SEPARATOR = " > "
FAQ_HEADING = ("FAQ",)
_CLOSERS = "”’\"'」』）)\\]】》"
# Every alternative opens with a literal character class so the regex engine can skip
# ahead to candidate characters instead of trying each position.
_BOUNDARY = re.compile(
    rf"""[。｡！？；…]+[{_CLOSERS}]*[^\S\n]*\n?\s*
      | [!?;]+[{_CLOSERS}]*(?=\s|$|[{CJK_RANGES}])[^\S\n]*\n?\s*
      | \.+[{_CLOSERS}]*(?=\s|$)[^\S\n]*\n?\s*
      | \.(?<=[{CJK_RANGES}]\.)(?=[{CJK_RANGES}])
      | \n\s*""",
    re.VERBOSE,
)
_WORD_BEFORE_DOT = re.compile(r"(?:^|[\s(\[（])((?:[A-Za-z]\.)*[A-Za-z]+|\d+)$")
_ABBREVIATIONS = frozenset(
    """e.g i.e etc vs cf al approx incl excl esp mr mrs ms dr prof sr jr st no nos fig
    figs dept inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec min
    max tel ext a.m p.m u.s u.k""".split()  # noqa: SIM905
)
_LATIN_LOOKBACK = 24


def split(
    doc: ParsedDocument, *, chunk_tokens: int = 300, overlap_tokens: int = 40
) -> list[ChunkDraft]:
    if chunk_tokens <= 0 or not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError("need chunk_tokens > 0 and 0 <= overlap_tokens < chunk_tokens")
    drafts: list[ChunkDraft] = []
    for section in doc.sections:
        body = section.text.strip()
        if not body:
            continue
        if section.is_table:
            pieces = _split_table(body, chunk_tokens)
        else:
            pieces = _pack(sentences(body), chunk_tokens, overlap_tokens)
        drafts.extend(_doc_chunk(section, piece) for piece in pieces)
    drafts.extend(_faq_chunk(pair) for pair in doc.faq_pairs)
    return drafts


def sentences(text: str) -> list[str]:
    """Cut ``text`` after each sentence end; the pieces concatenate back to ``text``."""
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if end <= start or end >= len(text):
            continue
        if match.group().startswith(".") and _is_abbreviation_or_marker(text, start, match):
            continue
        pieces.append(text[start:end])
        start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _is_abbreviation_or_marker(text: str, start: int, match: re.Match[str]) -> bool:
    """True for "e.g. ", "Dr. ", initials ("J. Smith") and list markers ("1. " opening a line)."""
    before = text[max(start, match.start() - _LATIN_LOOKBACK) : match.start()]
    word = _WORD_BEFORE_DOT.search(before)
    if word is None:
        return False
    token = word.group(1)
    if token.isdigit():
        line_start = text.rfind("\n", 0, match.start()) + 1
        return text[max(line_start, start) : match.start()].strip() == token
    return len(token) == 1 or token.lower() in _ABBREVIATIONS


def _pack(pieces: list[str], limit: int, overlap: int) -> list[str]:
    """Greedy packing towards an even chunk size, preferring to end a chunk at a line end.

    Aiming at ``total / n`` rather than at ``limit`` avoids a full chunk followed by a
    scrap of one sentence; ending at a line end keeps list items and paragraphs whole.
    """
    units, counts = _units(pieces, limit)
    total = sum(counts)
    if total <= limit:
        return [body] if (body := "".join(units).strip()) else []
    n = 1 + math.ceil((total - limit) / (limit - overlap))
    target = min(limit, math.ceil((total + (n - 1) * overlap) / n))
    line_end = [unit[len(unit.rstrip()) :].count("\n") > 0 for unit in units]

    chunks: list[str] = []
    start = 0
    while start < len(units):
        end, size = start, 0
        while end < len(units) and (end == start or size + counts[end] <= target):
            size += counts[end]
            end += 1
        end = _snap_to_line_end(counts, line_end, start, end, size, limit, target)
        if body := "".join(units[start:end]).strip():
            chunks.append(body)
        if end == len(units):
            break
        # Step back over whole trailing sentences, never to the chunk's own start, and only
        # as far as still leaves room for the next new sentence.
        back, carried = end, 0
        while back - 1 > start and carried + counts[back - 1] <= overlap:
            back -= 1
            carried += counts[back]
        while back < end and carried + counts[end] > limit:
            carried -= counts[back]
            back += 1
        start = back
    return chunks


def _units(pieces: list[str], limit: int) -> tuple[list[str], list[int]]:
    units: list[str] = []
    counts: list[int] = []
    for piece in pieces:
        tokens = count_tokens(piece)
        if tokens > limit:
            for part, part_tokens in _hard_split(piece, tokens, limit):
                units.append(part)
                counts.append(part_tokens)
        else:
            units.append(piece)
            counts.append(tokens)
    return units, counts


def _snap_to_line_end(
    counts: list[int],
    line_end: list[bool],
    start: int,
    end: int,
    size: int,
    limit: int,
    target: int,
) -> int:
    """Move ``end`` to the nearest line end (by tokens), growing up to ``limit`` or shrinking
    down to half of ``target``; leave it where it is when no line end is in reach."""
    if end == len(counts) or line_end[end - 1]:
        return end
    best, best_cost = end, None
    grown, grown_size = end, size
    while grown < len(counts) and grown_size + counts[grown] <= limit:
        grown_size += counts[grown]
        grown += 1
        if line_end[grown - 1]:
            best, best_cost = grown, grown_size - size
            break
    shrunk, shrunk_size = end, size
    while shrunk - 1 > start and shrunk_size - counts[shrunk - 1] >= target // 2:
        shrunk_size -= counts[shrunk - 1]
        shrunk -= 1
        if line_end[shrunk - 1]:
            if best_cost is None or size - shrunk_size < best_cost:
                best = shrunk
            break
    return best


def _hard_split(sentence: str, tokens: int, limit: int) -> list[tuple[str, int]]:
    """Cut an over-long sentence into pieces of at most ``limit`` tokens, at a space if one is
    near the cut. The remaining count is updated by subtraction so cost stays linear."""
    parts: list[tuple[str, int]] = []
    rest, remaining = sentence, tokens
    while remaining > limit and len(rest) > 1:
        cut = max(1, int(len(rest) * limit / remaining))
        piece_tokens = count_tokens(rest[:cut])
        while cut > 1 and piece_tokens > limit:
            cut = max(1, int(cut * 0.9))
            piece_tokens = count_tokens(rest[:cut])
        space = rest.rfind(" ", cut * 4 // 5, cut)
        if space > 0:
            cut = space + 1
            piece_tokens = count_tokens(rest[:cut])
        parts.append((rest[:cut], piece_tokens))
        rest = rest[cut:]
        remaining -= piece_tokens
        if remaining <= limit:
            # Counts are not exactly additive (word ceilings), so settle the tail precisely.
            remaining = count_tokens(rest)
    parts.append((rest, count_tokens(rest)))
    return parts


def _split_table(text: str, limit: int) -> list[str]:
    if count_tokens(text) <= limit * 2:
        return [text]
    header, *rows = text.split("\n")
    header_tokens = count_tokens(header)
    pieces: list[str] = []
    current: list[str] = []
    total = header_tokens
    for row in rows:
        row_tokens = count_tokens(row)
        if current and total + row_tokens > limit:
            pieces.append("\n".join([header, *current]))
            current, total = [], header_tokens
        if header_tokens + row_tokens > limit:
            budget = max(limit - header_tokens, 1)
            pieces.extend(
                f"{header}\n{part.strip()}" for part, _ in _hard_split(row, row_tokens, budget)
            )
            continue
        current.append(row)
        total += row_tokens
    if current or not pieces:
        pieces.append("\n".join([header, *current]))
    return pieces


def _doc_chunk(section: Section, body: str) -> ChunkDraft:
    if section.heading_path:
        text = f"{HEADING_SEPARATOR.join(section.heading_path)}\n{body}"
    else:
        text = body
    return ChunkDraft(
        text=text,
        content=text,
        heading_path=section.heading_path,
        page=section.page,
        kind="doc",
        lang=detect_lang(text),
    )


def _faq_chunk(pair: FaqPair) -> ChunkDraft:
    return ChunkDraft(
        text="\n".join([pair.question, *pair.alt_questions]),
        content=pair.answer,
        heading_path=FAQ_HEADING,
        kind="faq",
        lang=detect_lang(pair.question),
        question=pair.question,
    )
