"""Single FAQ pairs, edited without a spreadsheet: a change rewrites the pair's FAQ CSV and
uploads it as the document's next version, through the same upload, ingestion and
versioning as any file. The router loads the new version at its next turn (it watches the
indexed versions), so a save is live within the seconds indexing takes.

The pairs are read back from the index (the version search serves), so what the editor
shows is what the bot answers from. A pair is named by its chunk id, which changes with
every version: an edit against a version that has since moved on is refused (409) rather
than applied to pairs the editor has not seen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, Unprocessable
from app.knowledge_bases import service as kb_service
from app.routing.faqs import stored_faqs
from app.routing.schemas import FaqEntry
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.models import Document, DocumentStatus, KnowledgeBase

EDITOR_DOCUMENT = "faq-editor.csv"  # where pairs added in the console go by default
_SEPARATORS = ("|", "｜")


@dataclass(frozen=True)
class FaqPair:
    question: str
    answer: str
    paraphrases: tuple[str, ...] = ()


def clean(pair: FaqPair) -> FaqPair:
    """Trimmed, paraphrases without blanks or repeats; 422 for what a CSV cannot hold."""
    question = " ".join(pair.question.split())
    answer = pair.answer.strip()
    if not question or not answer:
        raise Unprocessable("an FAQ pair needs a question and an answer")
    seen = {question}
    paraphrases: list[str] = []
    for raw in pair.paraphrases:
        text = " ".join(raw.split())
        if any(sep in text for sep in _SEPARATORS):
            raise Unprocessable(f"a paraphrase cannot contain '|': {text!r}")
        if text and text not in seen:
            seen.add(text)
            paraphrases.append(text)
    return FaqPair(question, answer, tuple(paraphrases))


def faq_documents(*, db_session: Session, kb: KnowledgeBase) -> list[Document]:
    docs = knowledge_service.list_documents(db_session=db_session, kb_id=kb.id)
    return [d for d in docs if d.doc_type == "csv"]


def list_pairs(*, db_session: Session, runtime: Runtime, kb: KnowledgeBase) -> list[FaqEntry]:
    return stored_faqs(db_session=db_session, index=runtime.index, kb=kb)


def matches(entry: FaqEntry, query: str) -> bool:
    needle = query.strip().lower()
    haystack = (entry.question, entry.answer, *entry.variants)
    return not needle or any(needle in text.lower() for text in haystack)


def to_csv(pairs: list[FaqPair]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "answer", "alt_questions"])
    for pair in pairs:
        writer.writerow([pair.question, pair.answer, "|".join(pair.paraphrases)])
    return out.getvalue().encode("utf-8")


def _pairs_of(entries: list[FaqEntry], document_id: int) -> list[tuple[str, FaqPair]]:
    return [
        (e.chunk_id, FaqPair(e.question, e.answer, e.variants))
        for e in entries
        if e.document_id == document_id
    ]


def _editable(db_session: Session, kb: KnowledgeBase, document_id: int) -> Document:
    doc = knowledge_service.get_document(db_session=db_session, kb_id=kb.id, ref=document_id)
    if doc is None:
        raise NotFound(f"document {document_id} not found in {kb.name!r}")
    if doc.status != DocumentStatus.READY:
        raise Conflict(
            f"{doc.name} is being indexed (status {doc.status.value}); try again in a moment",
            code="document_busy",
        )
    return doc


def _write(
    db_session: Session, runtime: Runtime, kb: KnowledgeBase, name: str, pairs: list[FaqPair]
) -> Document:
    upload = kb_service.Upload(filename=name, data=to_csv(pairs))
    [outcome] = kb_service.upload(db_session=db_session, runtime=runtime, kb=kb, uploads=[upload])
    return outcome.document


def _find(entries: list[FaqEntry], pair_id: str) -> FaqEntry:
    for entry in entries:
        if entry.chunk_id == pair_id:
            return entry
    raise Conflict(
        "this FAQ pair is no longer there (the file changed since the page was loaded); "
        "reload and try again",
        code="faq_changed",
    )


def add(
    *,
    db_session: Session,
    runtime: Runtime,
    kb: KnowledgeBase,
    pair: FaqPair,
    document_id: int | None = None,
) -> Document:
    """Add a pair to an FAQ document (by default the editor's own, made when missing)."""
    pair = clean(pair)
    entries = list_pairs(db_session=db_session, runtime=runtime, kb=kb)
    if document_id is None:
        doc = knowledge_service.get_document(
            db_session=db_session, kb_id=kb.id, ref=EDITOR_DOCUMENT
        )
        if doc is None:
            return _write(db_session, runtime, kb, EDITOR_DOCUMENT, [pair])
        document_id = doc.id
    doc = _editable(db_session, kb, document_id)
    if doc.doc_type != "csv":
        raise Unprocessable(f"{doc.name} is not an FAQ sheet (CSV)")
    pairs = [p for _, p in _pairs_of(entries, doc.id)]
    return _write(db_session, runtime, kb, doc.name, [*pairs, pair])


def update(
    *, db_session: Session, runtime: Runtime, kb: KnowledgeBase, pair_id: str, pair: FaqPair
) -> Document:
    pair = clean(pair)
    entries = list_pairs(db_session=db_session, runtime=runtime, kb=kb)
    target = _find(entries, pair_id)
    doc = _editable(db_session, kb, target.document_id)
    pairs = [pair if cid == pair_id else p for cid, p in _pairs_of(entries, doc.id)]
    return _write(db_session, runtime, kb, doc.name, pairs)


def delete(*, db_session: Session, runtime: Runtime, kb: KnowledgeBase, pair_id: str) -> None:
    entries = list_pairs(db_session=db_session, runtime=runtime, kb=kb)
    target = _find(entries, pair_id)
    doc = _editable(db_session, kb, target.document_id)
    rest = [p for cid, p in _pairs_of(entries, doc.id) if cid != pair_id]
    if rest:
        _write(db_session, runtime, kb, doc.name, rest)
    else:
        # A sheet with no pairs is not a valid FAQ file: the last pair takes the file along.
        kb_service.delete_document(db_session=db_session, runtime=runtime, doc=doc)
