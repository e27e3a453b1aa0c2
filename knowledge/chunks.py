"""The unit of knowledge that travels from ingestion to the vector store and back to retrieval."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

ChunkKind = Literal["doc", "faq"]
Language = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk as the splitter produces it, before it belongs to a stored document.

    ``text`` is what gets embedded and keyword-indexed; ``content`` is what a reader
    (the LLM, a citation, an FAQ direct answer) is shown. They differ for FAQ pairs:
    the searchable text is the question with its paraphrases, the content the answer.
    """

    text: str
    content: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    kind: ChunkKind = "doc"
    lang: Language = "zh"
    # FAQ only: the canonical question, so routing can answer verbatim and cite it.
    question: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk bound to a document version, ready for the vector store."""

    chunk_id: str
    kb_id: int
    document_id: int
    version: int
    ordinal: int
    source: str
    text: str
    content: str
    heading_path: tuple[str, ...]
    page: int | None
    kind: ChunkKind
    lang: Language
    question: str = ""

    @staticmethod
    def make_id(*, document_id: int, version: int, ordinal: int) -> str:
        # Deterministic, so a task re-run after a crash overwrites instead of duplicating.
        raw = f"{document_id}:{version}:{ordinal}".encode()
        return hashlib.sha1(raw).hexdigest()

    @classmethod
    def from_draft(
        cls,
        draft: ChunkDraft,
        *,
        kb_id: int,
        document_id: int,
        version: int,
        ordinal: int,
        source: str,
    ) -> Chunk:
        return cls(
            chunk_id=cls.make_id(document_id=document_id, version=version, ordinal=ordinal),
            kb_id=kb_id,
            document_id=document_id,
            version=version,
            ordinal=ordinal,
            source=source,
            text=draft.text,
            content=draft.content,
            heading_path=draft.heading_path,
            page=draft.page,
            kind=draft.kind,
            lang=draft.lang,
            question=draft.question,
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result, with the scores that produced its rank."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
