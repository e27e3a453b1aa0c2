"""Knowledge bases, documents and ingestion jobs in SQL: single-entity queries, session passed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from knowledge.models import (
    Document,
    DocumentStatus,
    IngestionJob,
    JobKind,
    JobStatus,
    KnowledgeBase,
)


def get_kb(*, db_session: Session, ref: str | int) -> KnowledgeBase | None:
    """A knowledge base by id (all digits) or by name."""
    if isinstance(ref, int) or ref.isdigit():
        kb = db_session.get(KnowledgeBase, int(ref))
        if kb is not None or isinstance(ref, int):
            return kb
    return db_session.scalar(select(KnowledgeBase).where(KnowledgeBase.name == ref))


def list_kbs(*, db_session: Session) -> list[KnowledgeBase]:
    return list(db_session.scalars(select(KnowledgeBase).order_by(KnowledgeBase.id)))


def create_kb(
    *,
    db_session: Session,
    name: str,
    description: str = "",
    embedding_model: str,
    embedding_dim: int,
) -> KnowledgeBase:
    kb = KnowledgeBase(
        name=name,
        description=description,
        embedding_model=embedding_model,
        embedding_dim=embedding_dim,
    )
    db_session.add(kb)
    db_session.flush()
    return kb


def get_document(*, db_session: Session, kb_id: int, ref: str | int) -> Document | None:
    """A document of a knowledge base by id (all digits) or by file name."""
    if isinstance(ref, int) or ref.isdigit():
        doc = db_session.get(Document, int(ref))
        if doc is not None and doc.kb_id == kb_id:
            return doc
        if isinstance(ref, int):
            return None
    return db_session.scalar(select(Document).where(Document.kb_id == kb_id, Document.name == ref))


def list_documents(
    *, db_session: Session, kb_id: int, status: DocumentStatus | None = None
) -> list[Document]:
    stmt = select(Document).where(Document.kb_id == kb_id).order_by(Document.id)
    if status is not None:
        stmt = stmt.where(Document.status == status)
    return list(db_session.scalars(stmt))


def indexed_versions(*, db_session: Session, document_ids: Sequence[int]) -> dict[int, int]:
    """The version search may show for each document; others are mid-replace or gone."""
    if not document_ids:
        return {}
    rows = db_session.execute(
        select(Document.id, Document.indexed_version).where(
            Document.id.in_(set(document_ids)), Document.indexed_version.is_not(None)
        )
    )
    return {doc_id: version for doc_id, version in rows if version is not None}


def content_version(*, db_session: Session, kb_ids: Sequence[int]) -> str:
    """Changes whenever what search can show in these knowledge bases changes (a document
    indexed, re-indexed as a new version, or deleted): what cached answers are keyed by.
    One aggregate row per knowledge base, however many documents it holds."""
    if not kb_ids:
        return ""
    rows = db_session.execute(
        select(
            Document.kb_id,
            func.count(Document.id),
            func.coalesce(func.sum(Document.indexed_version), 0),
            func.coalesce(func.sum(Document.id * Document.indexed_version), 0),
            func.max(Document.updated_at),
        )
        .where(Document.kb_id.in_(set(kb_ids)), Document.indexed_version.is_not(None))
        .group_by(Document.kb_id)
        .order_by(Document.kb_id)
    )
    return ";".join(":".join(str(value) for value in row) for row in rows)


def get_job(*, db_session: Session, job_id: int) -> IngestionJob | None:
    return db_session.get(IngestionJob, job_id)


def list_jobs(*, db_session: Session, kb_id: int, limit: int = 100) -> list[IngestionJob]:
    stmt = (
        select(IngestionJob)
        .where(IngestionJob.kb_id == kb_id)
        .order_by(IngestionJob.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(stmt))


def create_job(
    *, db_session: Session, document: Document, kind: JobKind = JobKind.INGEST
) -> IngestionJob:
    job = IngestionJob(
        kb_id=document.kb_id,
        document_id=document.id,
        kind=kind,
        status=JobStatus.QUEUED,
        version=document.version,
    )
    db_session.add(job)
    db_session.flush()
    return job


def fail_job(*, job: IngestionJob, document: Document | None, reason: str) -> None:
    job.status = JobStatus.FAILED
    job.error = reason
    job.finished_at = utcnow()
    job.lease_owner = job.lease_until = None
    # A failed newer version leaves the document's earlier indexed version searchable.
    if document is not None and document.version == job.version:
        document.status = DocumentStatus.FAILED
        document.error = reason
