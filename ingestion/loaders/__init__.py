"""Parse an uploaded file into headed sections and FAQ pairs; one module per format."""

from __future__ import annotations

import os
from collections.abc import Callable

from ingestion.loaders.faq_csv import load_faq_csv
from ingestion.loaders.markdown import load_markdown
from ingestion.loaders.models import FaqPair, ParsedDocument, ParseError, Section, UnsupportedFormat
from ingestion.loaders.pdf import load_pdf
from ingestion.loaders.plaintext import load_plaintext
from ingestion.loaders.webpage import load_html
from ingestion.loaders.word import load_docx
from knowledge.formats import SUPPORTED_EXTENSIONS

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "FaqPair",
    "ParseError",
    "ParsedDocument",
    "Section",
    "UnsupportedFormat",
    "load",
]

DEFAULT_MAX_DECOMPRESSED_BYTES = 200 * 1024 * 1024

_LOADERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_plaintext,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".csv": load_faq_csv,
}


def load(
    data: bytes,
    filename: str,
    *,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> ParsedDocument:
    """Parse ``data`` by the extension of ``filename``; raise ParseError with an operator-readable
    reason when the file is unsupported, damaged, encrypted, oversized or has no text."""
    extension = os.path.splitext(filename)[1].lower()
    if extension == ".docx":
        document = load_docx(data, max_decompressed_bytes=max_decompressed_bytes)
    elif extension in _LOADERS:
        document = _LOADERS[extension](data)
    else:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        shown = extension or "no extension"
        raise UnsupportedFormat(f"unsupported file type {shown}; supported: {supported}")
    if not document.faq_pairs and not any(section.text.strip() for section in document.sections):
        raise ParseError("document contains no text")
    return document
