"""PDF: the text layer, with headings told apart by font size and tables by column layout."""

from __future__ import annotations

import io
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from ingestion.loaders.blocks import SectionBuilder, join_wrapped, metadata_title
from ingestion.loaders.models import ParsedDocument, ParseError

# pypdf signals malformed input with its own errors but also with whatever a half-parsed
# object raises on access; all of them mean "this file is damaged" to the operator.
_DAMAGED = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    RecursionError,
    OSError,
    zlib.error,
)
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?"
    r"|[-–—]?\s*\d{1,4}\s*[-–—]?|\d{1,4}\s*/\s*\d{1,4})$",
    re.I,
)
_COLUMN_GAP = re.compile(r"\S {3,}\S")
_CELL = re.compile(r"\S+(?: {1,2}\S+)*")
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl"})
_HEADING_RATIO = 1.15
_MAX_HEADING_CHARS = 120


@dataclass
class _Page:
    lines: list[str]
    # Each visual line's whitespace-free text and font size; narrowed to the lines set in a
    # heading size once the body size of the whole document is known.
    headings: dict[str, float] = field(default_factory=dict)


def load_pdf(data: bytes) -> ParsedDocument:
    reader = _open(data)
    sizes: Counter[float] = Counter()
    pages: list[_Page] = []
    for number, pdf_page in enumerate(reader.pages, start=1):
        try:
            pages.append(_read_page(pdf_page, sizes))
        except _DAMAGED as exc:
            raise ParseError(f"PDF page {number} could not be read: {exc}") from exc
    levels = _heading_levels(pages, sizes)
    _drop_running_lines(pages)

    builder = SectionBuilder()
    for number, page in enumerate(pages, start=1):
        builder.page(number)
        _emit_page(page, levels, builder)
    sections = builder.finish()
    title = _metadata_title(reader) or builder.first_heading
    if not sections:
        raise ParseError("document contains no text (the PDF has no text layer; scans need OCR)")
    return ParsedDocument(sections=sections, faq_pairs=[], title=title)


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are encrypted only to restrict printing, with an empty user password.
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise ParseError(f"PDF is encrypted ({exc})") from exc
            if not opened:
                raise ParseError("PDF is encrypted")
        if len(reader.pages) == 0:
            raise ParseError("PDF has no pages")
    except _DAMAGED as exc:
        raise ParseError(f"PDF is damaged or not a PDF: {exc}") from exc
    return reader


def _read_page(page: PageObject, sizes: Counter[float]) -> _Page:
    fragments: list[tuple[float, float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        if text.strip():
            scale = abs(float(tm[3]) * float(cm[3])) or 1.0
            y = float(tm[5]) * float(cm[3]) + float(cm[5])
            fragments.append((y, round(float(font_size) * scale * 2) / 2, text))

    page.extract_text(visitor_text=visit)
    try:
        text = page.extract_text(extraction_mode="layout")
    except _DAMAGED:
        # Layout mode trips on some odd font setups where plain mode still works.
        text = page.extract_text()
    result = _Page(lines=text.translate(_LIGATURES).splitlines())
    for size, line_text in _visual_lines(fragments):
        key = "".join(line_text.split())
        sizes[size] += len(key)
        if len(key) <= _MAX_HEADING_CHARS and any(c.isalpha() for c in key):
            result.headings.setdefault(key, size)
    return result


def _visual_lines(fragments: Sequence[tuple[float, float, str]]) -> list[tuple[float, str]]:
    """Fragments in content-stream order grouped into lines; a line's size is its smallest."""
    lines: list[tuple[float, str]] = []
    last_y: float | None = None
    for y, size, text in fragments:
        if last_y is not None and lines and abs(y - last_y) < size * 0.5:
            prev_size, prev_text = lines[-1]
            lines[-1] = (min(prev_size, size), prev_text + text)
        else:
            lines.append((size, text))
        last_y = y
    return lines


def _heading_levels(pages: list[_Page], sizes: Counter[float]) -> dict[float, int]:
    """Font sizes clearly above the body size, largest first, as heading levels 1..6."""
    if not sizes:
        return {}
    # On a tie the smaller size is the body: headings are never smaller than the text.
    body = min(sizes, key=lambda size: (-sizes[size], size))
    large = sorted({s for s in sizes if s >= body * _HEADING_RATIO}, reverse=True)[:6]
    levels = {size: level for level, size in enumerate(large, start=1)}
    for page in pages:
        page.headings = {k: v for k, v in page.headings.items() if v in levels}
    return levels


def _drop_running_lines(pages: list[_Page]) -> None:
    """Remove page numbers and headers/footers repeated at the top or bottom of most pages."""

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split()))

    edges: Counter[str] = Counter()
    for page in pages:
        filled = [line for line in page.lines if line.strip()]
        edges.update({key(line) for line in filled[:2] + filled[-2:]})
    threshold = max(2, (len(pages) * 3 + 4) // 5)
    repeated = {k for k, n in edges.items() if n >= threshold} if len(pages) > 1 else set()
    for page in pages:
        indexes = [i for i, line in enumerate(page.lines) if line.strip()]
        for i in indexes[:2] + indexes[-2:]:
            line = page.lines[i].strip()
            if key(line) in repeated or _PAGE_NUMBER.match(line):
                page.lines[i] = ""


def _emit_page(page: _Page, levels: dict[float, int], builder: SectionBuilder) -> None:
    block: list[str] = []
    last_heading: tuple[int, str] | None = None

    def flush() -> None:
        if sum(1 for line in block if _COLUMN_GAP.search(line.strip())) >= 2:
            builder.table(_table_rows(block))
        else:
            builder.lines(join_wrapped(block))
        block.clear()

    for line in page.lines:
        size = page.headings.get("".join(line.split()))
        if size is not None:
            flush()
            level = levels[size]
            if last_heading is not None and last_heading[0] == level:
                # A heading that wrapped onto a second line: one heading, not two.
                last_heading = (level, f"{last_heading[1]} {line.strip()}")
            else:
                last_heading = (level, line.strip())
            builder.heading(*last_heading)
        elif line.strip():
            block.append(line)
            last_heading = None
        else:
            flush()
            last_heading = None
    flush()


def _table_rows(lines: list[str]) -> list[list[str]]:
    """Rows of a column-aligned block; a line with an empty first column continues a row."""
    cells = [[(m.start(), m.group()) for m in _CELL.finditer(line)] for line in lines]
    anchors = [start for start, _ in max(cells, key=len)]
    rows: list[list[str]] = []
    for line_cells in cells:
        if not line_cells:
            continue
        columns = [_column(anchors, start) for start, _ in line_cells]
        if not rows or columns[0] == 0:
            rows.append([""] * len(anchors))
        row = rows[-1]
        for column, (_, text) in zip(columns, line_cells, strict=True):
            row[column] = f"{row[column]} {text}".strip()
    return rows


def _column(anchors: list[int], start: int) -> int:
    column = 0
    for i, anchor in enumerate(anchors):
        if anchor <= start + 2:
            column = i
    return column


def _metadata_title(reader: PdfReader) -> str | None:
    try:
        return metadata_title(reader.metadata.title if reader.metadata else None)
    except _DAMAGED:
        return None
