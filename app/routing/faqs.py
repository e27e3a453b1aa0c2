"""The FAQ pairs a router matches against, read back from the index they were stored in."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.routing.schemas import FaqEntry
from app.routing.service import Router
from knowledge import service as knowledge_service
from knowledge.index import KnowledgeIndex
from knowledge.models import Document, KnowledgeBase


def stored_faqs(
    *,
    db_session: Session,
    index: KnowledgeIndex,
    kb: KnowledgeBase,
    cache: dict[tuple[int, int], list[FaqEntry]] | None = None,
) -> list[FaqEntry]:
    """The knowledge base's FAQ pairs as the index holds them (searchable versions only).

    An FAQ chunk's ``text`` is the question then one paraphrase a line; ``content`` the answer.
    With ``cache`` (document id and indexed version → its pairs), only documents indexed
    since are read back from the vector store: an indexed version never changes.
    """
    store = index.store(model_name=kb.embedding_model, dim=kb.embedding_dim)
    entries: list[FaqEntry] = []
    for doc in knowledge_service.list_documents(db_session=db_session, kb_id=kb.id):
        if doc.indexed_version is None:
            continue
        cached = None if cache is None else cache.get((doc.id, doc.indexed_version))
        if cached is not None:
            entries += cached
            continue
        found: list[FaqEntry] = []
        for chunk in store.get_chunks(document_id=doc.id):
            if chunk.kind != "faq" or chunk.version != doc.indexed_version:
                continue
            question = chunk.question or chunk.text.split("\n", 1)[0]
            lines = (line.strip() for line in chunk.text.split("\n"))
            variants = tuple(dict.fromkeys(v for v in lines if v and v != question))
            found.append(
                FaqEntry(
                    chunk_id=chunk.chunk_id,
                    question=question,
                    variants=variants,
                    answer=chunk.content,
                    source=chunk.source,
                    document_id=chunk.document_id,
                )
            )
        if cache is not None:
            cache[(doc.id, doc.indexed_version)] = found
        entries += found
    return entries


def kb_key(kbs: Sequence[KnowledgeBase]) -> str:
    return "+".join(str(kb.id) for kb in kbs)


def ensure_loaded(
    *, router: Router, db_session: Session, index: KnowledgeIndex, kbs: Sequence[KnowledgeBase]
) -> str:
    """Load the knowledge bases' FAQs into the router when their indexed versions changed.

    One cheap SQL query a turn decides; after a change, one turn of the process reloads
    (reading back only the documents indexed since) while the others keep routing with the
    index already loaded, instead of every turn in flight reading every document again.
    """
    key = kb_key(kbs)
    rows = db_session.execute(
        select(Document.id, Document.indexed_version)
        .where(Document.kb_id.in_([kb.id for kb in kbs]))
        .order_by(Document.id)
    ).all()
    stamp = repr(rows)
    with _guard:
        stamps = _stamps.setdefault(router, {})
        lock = _locks.setdefault(router, threading.Lock())
        cache = _faqs.setdefault(router, {})
    if stamps.get(key) == stamp:
        return key
    # The first load is waited for; a reload is not (the loaded index answers meanwhile).
    if not lock.acquire(blocking=router.faq_index(key) is None):
        return key
    try:
        if stamps.get(key) != stamp:
            faqs = [
                f
                for kb in kbs
                for f in stored_faqs(db_session=db_session, index=index, kb=kb, cache=cache)
            ]
            router.load_faqs(key, faqs)
            stamps[key] = stamp
    finally:
        lock.release()
    return key


# The document versions each router's FAQ index was built from; the lock one reload holds;
# the FAQ pairs of each (document, indexed version) read so far.
_stamps: weakref.WeakKeyDictionary[Router, dict[str, str]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[Router, threading.Lock] = weakref.WeakKeyDictionary()
_faqs: weakref.WeakKeyDictionary[Router, dict[tuple[int, int], list[FaqEntry]]] = (
    weakref.WeakKeyDictionary()
)
_guard = threading.Lock()
