"""The router's FAQ index after documents change: one reload a process, only new documents read
back, and turns in flight keep routing with the loaded index meanwhile (the fault harness saw
every turn re-read every document while documents were being indexed)."""

from __future__ import annotations

import threading

import pytest

from app.routing import faqs
from app.routing.service import Router
from knowledge.vectorstore.milvus import MilvusVectorStore
from tests.retrieval.conftest import Library


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Document ids whose chunks are read back from the store."""
    seen: list[int] = []
    original = MilvusVectorStore.get_chunks

    def counting(self: MilvusVectorStore, *, document_id: int):  # type: ignore[no-untyped-def]
        seen.append(document_id)
        return original(self, document_id=document_id)

    monkeypatch.setattr(MilvusVectorStore, "get_chunks", counting)
    return seen


def test_reload_reads_only_documents_indexed_since(indexed: Library, reads: list[int]) -> None:
    router = Router(indexed.runtime.index.embedder, service_hours="9-17")
    with indexed.runtime.session_factory() as db_session:
        key = faqs.ensure_loaded(
            router=router, db_session=db_session, index=indexed.runtime.index, kbs=[indexed.kb]
        )
        first = len(reads)
        assert first > 0 and router.faq_index(key) is not None
        faqs.ensure_loaded(
            router=router, db_session=db_session, index=indexed.runtime.index, kbs=[indexed.kb]
        )
        assert len(reads) == first  # unchanged: one SQL query, nothing read back
        faqs._stamps[router].clear()  # as if a document changed: every one is still cached
        faqs.ensure_loaded(
            router=router, db_session=db_session, index=indexed.runtime.index, kbs=[indexed.kb]
        )
        assert len(reads) == first
        assert len(router.faq_index(key).entries) == 2  # type: ignore[union-attr]


def test_turns_do_not_wait_for_another_turns_reload(indexed: Library, reads: list[int]) -> None:
    router = Router(indexed.runtime.index.embedder, service_hours="9-17")
    with indexed.runtime.session_factory() as db_session:
        key = faqs.ensure_loaded(
            router=router, db_session=db_session, index=indexed.runtime.index, kbs=[indexed.kb]
        )
        loaded = router.faq_index(key)
        faqs._stamps[router].clear()
        faqs._faqs[router].clear()
        lock: threading.Lock = faqs._locks[router]
        before = len(reads)
        with lock:  # another turn is reloading
            assert (
                faqs.ensure_loaded(
                    router=router,
                    db_session=db_session,
                    index=indexed.runtime.index,
                    kbs=[indexed.kb],
                )
                == key
            )
        assert len(reads) == before and router.faq_index(key) is loaded
