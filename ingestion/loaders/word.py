"""DOCX: heading styles cut sections; lists and tables kept in document order."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import Any

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingestion.loaders.blocks import SectionBuilder, collapse_spaces, metadata_title
from ingestion.loaders.models import ParsedDocument, ParseError

# What a damaged package raises while python-docx reads it; lxml's XMLSyntaxError is a
# SyntaxError, and a corrupt deflate stream surfaces as zlib.error or a CRC BadZipFile.
_DAMAGED = (
    KeyError,
    ValueError,
    SyntaxError,
    zipfile.BadZipFile,
    PackageNotFoundError,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,  # zipfile: an unsupported compression method or zip version
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Deflate tops out near 1032:1; real Word XML compresses 5-40x. Small members are exempt
# because a tiny file of repeated bytes can legitimately compress very well.
_MAX_RATIO = 200
_RATIO_EXEMPT_BYTES = 1024 * 1024
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)
_BULLET_FORMATS = frozenset({"bullet", "none"})


def load_docx(data: bytes, *, max_decompressed_bytes: int) -> ParsedDocument:
    _check_archive(data, max_decompressed_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
    except _DAMAGED as exc:
        raise ParseError(f"DOCX could not be read: {exc}") from exc
    builder = SectionBuilder()
    lists = _ListNumbers(document)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.table(_rows(block))
            lists.reset()
            continue
        text = block.text.strip()
        if not text:
            continue
        level = _heading_level(block)
        if level is not None:
            builder.heading(level, text)
            lists.reset()
        else:
            builder.lines(line for line in (lists.prefix(block) + text).split("\n"))
    sections = builder.finish()
    title = metadata_title(document.core_properties.title) or builder.first_heading
    return ParsedDocument(sections=sections, faq_pairs=[], title=title)


def _check_archive(data: bytes, max_decompressed_bytes: int) -> None:
    """Refuse archives that would inflate past the limit before python-docx opens any member.

    Declared sizes are trustworthy enough here: Python's zipfile never returns more bytes
    than a member declares, so a lying header yields a CRC error, not a memory blow-up.
    """
    if data.startswith(_OLE_MAGIC):
        raise ParseError(
            "DOCX is not a valid zip file (it is a legacy .doc or a password-protected "
            "document; save it as an unprotected .docx)"
        )
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseError("DOCX is not a valid zip file") from exc
    total = sum(member.file_size for member in members)
    if total > max_decompressed_bytes:
        raise ParseError(
            f"decompressed size exceeds limit ({total} bytes > {max_decompressed_bytes} bytes)"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_EXEMPT_BYTES and ratio > _MAX_RATIO:
            raise ParseError(
                f"DOCX member {member.filename} has a compression ratio of {ratio:.0f}:1 "
                "(a zip bomb?)"
            )
    if not any(member.filename == "word/document.xml" for member in members):
        raise ParseError("DOCX has no word/document.xml; it is not a Word document")


def _heading_level(paragraph: Paragraph) -> int | None:
    """Title is level 0 so Heading 1 sits under it; custom styles count via outline level."""
    style = paragraph.style
    depth = 0
    while isinstance(style, ParagraphStyle) and depth < 10:
        name = style.name or ""
        if name == "Title":
            return 0
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        outline = _outline_level(style.element.pPr)
        if outline is not None:
            return outline
        style = style.base_style
        depth += 1
    return _outline_level(paragraph._p.pPr)


def _outline_level(ppr: Any) -> int | None:
    element = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
    if element is None:
        return None
    value = int(element.get(qn("w:val"), "9"))
    # Level 9 is Word's "body text".
    return value + 1 if value < 9 else None


class _ListNumbers:
    """Markers Word would draw in front of list paragraphs ("- " or "3. ").

    Word computes numbers at render time from numbering.xml; without them the steps of a
    procedure lose their order, so count them here per list and level.
    """

    def __init__(self, document: Document) -> None:
        try:
            self._numbering: Any = document.part.numbering_part.element
        except (NotImplementedError, KeyError):
            self._numbering = None
        self._counters: dict[tuple[str, int], int] = {}

    def reset(self) -> None:
        self._counters.clear()

    def prefix(self, paragraph: Paragraph) -> str:
        found = self._num_pr(paragraph)
        style_name = (paragraph.style.name or "") if paragraph.style is not None else ""
        if found is None:
            if style_name.startswith("List Bullet"):
                return "- "
            if not style_name.startswith("List Number"):
                self.reset()
                return ""
            found = (style_name, 0)
        num_id, level = found
        if self._format(num_id, level) in _BULLET_FORMATS:
            return "  " * level + "- "
        for key in [k for k in self._counters if k[0] == num_id and k[1] > level]:
            del self._counters[key]
        count = self._counters.get((num_id, level), 0) + 1
        self._counters[(num_id, level)] = count
        return f"{'  ' * level}{count}. "

    def _num_pr(self, paragraph: Paragraph) -> tuple[str, int] | None:
        candidates: list[Any] = [paragraph._p.pPr]
        style = paragraph.style
        while isinstance(style, ParagraphStyle) and len(candidates) < 10:
            candidates.append(style.element.pPr)
            style = style.base_style
        for ppr in candidates:
            num_pr = ppr.find(qn("w:numPr")) if ppr is not None else None
            if num_pr is None:
                continue
            num_id = num_pr.find(qn("w:numId"))
            ilvl = num_pr.find(qn("w:ilvl"))
            if num_id is not None and num_id.get(qn("w:val")) not in (None, "0"):
                level = int(ilvl.get(qn("w:val"), "0")) if ilvl is not None else 0
                return str(num_id.get(qn("w:val"))), level
        return None

    def _format(self, num_id: str, level: int) -> str | None:
        if self._numbering is None or not num_id.isdigit():
            return None
        abstract = self._numbering.xpath(f'./w:num[@w:numId="{num_id}"]/w:abstractNumId/@w:val')
        if not abstract:
            return None
        formats = self._numbering.xpath(
            f'./w:abstractNum[@w:abstractNumId="{abstract[0]}"]'
            f'/w:lvl[@w:ilvl="{level}"]/w:numFmt/@w:val'
        )
        return str(formats[0]) if formats else None


def _rows(table: Table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        last: Any = None
        for cell in row.cells:
            # A horizontally merged cell comes back once per grid column it spans.
            if cell._tc is not last:
                cells.append(collapse_spaces(cell.text))
            last = cell._tc
        rows.append(cells)
    return rows
