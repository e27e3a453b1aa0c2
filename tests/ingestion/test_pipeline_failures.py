"""The pipeline's failure rules: parse errors fail the document at once; a vector store that
cannot be reached is a transient error (retried) until the last attempt, which records it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from ingestion import pipeline
from ingestion.context import IngestionContext
from knowledge import service as knowledge_service
from knowledge.chunks import Chunk
from knowledge.index import KnowledgeIndex
from knowledge.models import Document, DocumentStatus, JobStatus
from knowledge.vectorstore import InMemoryVectorStore, Vectors, VectorStore


class UnreachableStore(InMemoryVectorStore):
    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        raise ConnectionError("vector store unreachable")


class IndexWith(KnowledgeIndex):
    """The real embedder with a chosen store (a unit test of the pipeline's error handling)."""

    def __init__(self, settings: Settings, store: VectorStore) -> None:
        super().__init__(settings)
        self._fixed = store

    def store(self, *, model_name: str, dim: int) -> VectorStore:
        return self._fixed

    def all_stores(self) -> list[VectorStore]:
        return [self._fixed]


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _job(
    db_session: Session, settings: Settings, index: KnowledgeIndex, name: str, data: bytes
) -> tuple[int, int]:
    kb = knowledge_service.create_kb(
        db_session=db_session,
        name="kb",
        embedding_model=index.embedder.model_name,
        embedding_dim=index.embedder.dim,
    )
    path = settings.data_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    doc = Document(
        kb_id=kb.id,
        name=name,
        doc_type=Path(name).suffix[1:],
        content_hash="h",
        size_bytes=len(data),
        version=1,
        status=DocumentStatus.QUEUED,
        chunk_count=0,
        storage_path=str(path),
    )
    db_session.add(doc)
    db_session.flush()
    job = knowledge_service.create_job(db_session=db_session, document=doc)
    db_session.commit()
    return job.id, doc.id


def test_unreachable_store_is_retried_then_recorded(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    index = IndexWith(settings, UnreachableStore(dim=384))
    ctx = IngestionContext(settings=settings, session_factory=session_factory, index=index)
    job_id, doc_id = _job(db_session, settings, index, "a.md", b"# A\n\nSome text here.")

    with pytest.raises(pipeline.TransientError):
        pipeline.run_job(job_id, ctx, final_attempt=False)
    db_session.expire_all()
    assert db_session.get(Document, doc_id).status != DocumentStatus.FAILED  # type: ignore[union-attr]

    with pytest.raises(ConnectionError):
        pipeline.run_job(job_id, ctx, final_attempt=True)
    db_session.expire_all()
    doc = db_session.get(Document, doc_id)
    job = knowledge_service.get_job(db_session=db_session, job_id=job_id)
    assert doc is not None and job is not None
    assert doc.status == DocumentStatus.FAILED and "unreachable" in (doc.error or "")
    assert job.status == JobStatus.FAILED and job.attempts == 2


def test_parse_error_fails_at_once_without_retry(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    store = InMemoryVectorStore(dim=384)
    index = IndexWith(settings, store)
    ctx = IngestionContext(settings=settings, session_factory=session_factory, index=index)
    job_id, doc_id = _job(db_session, settings, index, "x.pdf", b"%PDF-1.4 garbage")
    assert pipeline.run_job(job_id, ctx, final_attempt=False) == JobStatus.FAILED
    db_session.expire_all()
    doc = db_session.get(Document, doc_id)
    assert doc is not None and doc.status == DocumentStatus.FAILED and doc.error
    assert store.count() == 0
