"""CSV of FAQ pairs: question, answer and optional "|"-separated paraphrases."""

from __future__ import annotations

import csv
import io
import re

from ingestion.loaders.encoding import decode_text
from ingestion.loaders.models import FaqPair, ParsedDocument, ParseError

_QUESTION = frozenset({"question", "questions", "q", "问题", "标准问题", "问"})
_ANSWER = frozenset({"answer", "answers", "a", "答案", "回答", "答"})
_ALTERNATIVES = frozenset(
    {"alt_questions", "alt_question", "alternatives", "paraphrases", "相似问题", "相似问法"}
)
_ALT_SEPARATOR = re.compile(r"[|｜]")
_MAX_SHOWN_HEADER = 120


def load_faq_csv(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    first_line = text.lstrip().split("\n", 1)[0]
    # Excel writes ";" in locales with a decimal comma, and "tab" for "Unicode text".
    delimiter = next((d for d in (",", "\t", ";") if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = (row for row in reader if any(cell.strip() for cell in row))
    header = next(rows, None)
    if header is None:
        raise ParseError("document contains no text")
    names = [cell.strip().strip("\ufeff").lower() for cell in header]
    question_col = _find(names, _QUESTION)
    answer_col = _find(names, _ANSWER)
    if question_col is None or answer_col is None:
        found = delimiter.join(cell.strip() for cell in header)[:_MAX_SHOWN_HEADER]
        raise ParseError(
            f"CSV header must start with question,answer (optional alt_questions); found: {found}"
        )
    alt_col = _find(names, _ALTERNATIVES)

    pairs: list[FaqPair] = []
    for row in rows:
        question = _cell(row, question_col)
        answer = _cell(row, answer_col)
        if not question or not answer:
            continue
        pairs.append(FaqPair(question, answer, _alternatives(_cell(row, alt_col), question)))
    if not pairs:
        raise ParseError("CSV has no row with both a question and an answer")
    return ParsedDocument(sections=[], faq_pairs=pairs, title=None)


def _find(names: list[str], accepted: frozenset[str]) -> int | None:
    return next((i for i, name in enumerate(names) if name in accepted), None)


def _cell(row: list[str], column: int | None) -> str:
    if column is None or column >= len(row):
        return ""
    return row[column].strip()


def _alternatives(raw: str, question: str) -> tuple[str, ...]:
    seen = {question}
    result: list[str] = []
    for piece in _ALT_SEPARATOR.split(raw):
        piece = piece.strip()
        if piece and piece not in seen:
            seen.add(piece)
            result.append(piece)
    return tuple(result)
