"""One document version: parse → split → embed → upsert, then switch search to it.

Search only shows a document's ``indexed_version``; the new version's chunks are written
first and the switch is one SQL commit, so a search never sees both versions or neither.
Chunk ids are derived from (document, version, ordinal): a re-run overwrites, never duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import OperationalError

from app.core.db import utcnow
from app.observability import tracing
from ingestion import leases
from ingestion.context import IngestionContext
from ingestion.loaders import ParseError, load
from ingestion.splitter import split
from knowledge import service as knowledge_service
from knowledge.chunks import Chunk
from knowledge.models import Document, DocumentStatus, IngestionJob, JobStatus

log = logging.getLogger(__name__)

EMBED_BATCH = 32
Progress = Callable[[int, int], None]


class TransientError(Exception):
    """Worth retrying: the database or vector store was unreachable for a moment."""


class Interrupted(Exception):
    """The process is shutting down: the job goes back to the queue, unfinished."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    # pymilvus raises MilvusException for both bad requests and lost connections.
    return type(exc).__name__ == "MilvusException" and "connect" in str(exc).lower()


def run_job(
    job_id: int,
    ctx: IngestionContext,
    *,
    final_attempt: bool = True,
    progress: Progress | None = None,
) -> JobStatus:
    try:
        return _run(job_id, ctx, progress)
    except Interrupted:
        log.info("ingestion job %s interrupted by shutdown: re-queued", job_id)
        _requeue(job_id, ctx)
        return JobStatus.QUEUED
    except Exception as exc:
        if _is_transient(exc) and not final_attempt:
            log.warning("ingestion job %s hit a transient error, will retry: %s", job_id, exc)
            _requeue(job_id, ctx)
            raise TransientError(str(exc)) from exc
        log.exception("ingestion job %s failed", job_id)
        _record_failure(job_id, ctx, f"{type(exc).__name__}: {exc}"[:2000])
        raise


def _requeue(job_id: int, ctx: IngestionContext) -> None:
    try:
        with ctx.session_factory.begin() as db_session:
            leases.requeue(db_session, job_id)
    except Exception as exc:  # the lease runs out instead, and the sweep finds the job
        log.warning("could not re-queue ingestion job %s: %s", job_id, exc)


def _record_failure(job_id: int, ctx: IngestionContext, reason: str) -> None:
    with ctx.session_factory.begin() as db_session:
        job = db_session.get(IngestionJob, job_id)
        if job is None:
            return
        doc = db_session.get(Document, job.document_id) if job.document_id else None
        knowledge_service.fail_job(job=job, document=doc, reason=reason)


def _run(job_id: int, ctx: IngestionContext, progress: Progress | None) -> JobStatus:
    with ctx.session_factory.begin() as db_session:
        job = db_session.get(IngestionJob, job_id)
        if job is None:
            log.warning("ingestion job %s does not exist", job_id)
            return JobStatus.FAILED
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return job.status  # a redelivered message for finished work
        doc = db_session.get(Document, job.document_id) if job.document_id else None
        if doc is None:
            knowledge_service.fail_job(job=job, document=None, reason="document was deleted")
            return JobStatus.FAILED
        if doc.version != job.version:
            knowledge_service.fail_job(
                job=job, document=None, reason=f"superseded by version {doc.version}"
            )
            return JobStatus.FAILED
        lease = ctx.settings.ingestion.lease_seconds
        if not leases.claim(db_session, job_id, lease_seconds=lease):
            log.info("ingestion job %s is held by a live worker: not run twice", job_id)
            return JobStatus.RUNNING
        doc = db_session.get(Document, job.document_id)
        assert doc is not None
        kb = doc.knowledge_base
        doc.status, doc.error = DocumentStatus.PARSING, None
        doc_id, kb_id, version, name = doc.id, kb.id, doc.version, doc.name
        path, kb_model, kb_dim = Path(doc.storage_path), kb.embedding_model, kb.embedding_dim

    with leases.Heartbeat(ctx.session_factory, job_id, lease_seconds=lease):
        return _index(ctx, job_id, doc_id, kb_id, version, name, path, kb_model, kb_dim, progress)


def _index(
    ctx: IngestionContext,
    job_id: int,
    doc_id: int,
    kb_id: int,
    version: int,
    name: str,
    path: Path,
    kb_model: str,
    kb_dim: int,
    progress: Progress | None,
) -> JobStatus:
    if ctx.stopping.is_set():
        raise Interrupted
    try:
        with tracing.span("ingestion.parse"):
            parsed = load(
                path.read_bytes(),
                name,
                max_decompressed_bytes=ctx.settings.ingestion.max_decompressed_bytes,
            )
            drafts = split(
                parsed,
                chunk_tokens=ctx.settings.ingestion.chunk_tokens,
                overlap_tokens=ctx.settings.ingestion.overlap_tokens,
            )
    except (ParseError, FileNotFoundError) as exc:
        reason = str(exc) if isinstance(exc, ParseError) else "the uploaded file is missing"
        _record_failure(job_id, ctx, reason)
        return JobStatus.FAILED

    embedder = ctx.index.embedder
    if (embedder.model_name, embedder.dim) != (kb_model, kb_dim):
        _record_failure(
            job_id,
            ctx,
            f"knowledge base uses {kb_model} ({kb_dim}d) but this process embeds with "
            f"{embedder.model_name} ({embedder.dim}d): re-index the knowledge base",
        )
        return JobStatus.FAILED

    _set_status(ctx, doc_id, version, DocumentStatus.INDEXING)
    store = ctx.index.store(model_name=kb_model, dim=kb_dim)
    chunks = [
        Chunk.from_draft(
            d, kb_id=kb_id, document_id=doc_id, version=version, ordinal=i, source=name
        )
        for i, d in enumerate(drafts)
    ]
    with tracing.span("ingestion.embed", **{"kefu.ingestion.chunks": len(chunks)}):
        for start in range(0, len(chunks), EMBED_BATCH):
            if ctx.stopping.is_set():
                raise Interrupted
            batch = chunks[start : start + EMBED_BATCH]
            store.upsert(batch, embedder.embed_passages([c.text for c in batch]))
            if progress:
                progress(start + len(batch), len(chunks))
        store.flush()

    with ctx.session_factory.begin() as db_session:
        job = db_session.get(IngestionJob, job_id)
        doc = db_session.get(Document, doc_id)
        if doc is None or doc.version != version or job is None:
            # Deleted or replaced while we worked: our chunks must not linger.
            store.delete_by_document(doc_id, only_version=version)
            if job is not None:
                reason = "document was deleted" if doc is None else "superseded"
                knowledge_service.fail_job(job=job, document=None, reason=reason)
            return JobStatus.FAILED
        doc.indexed_version, doc.chunk_count = version, len(chunks)
        doc.status, doc.error = DocumentStatus.READY, None
        job.status, job.chunk_count, job.finished_at = JobStatus.SUCCEEDED, len(chunks), utcnow()
        leases.release(job)

    ctx.index.versions.forget([doc_id])
    # After the switch: earlier versions are no longer shown, so remove them everywhere.
    for other in ctx.index.all_stores():
        other.delete_by_document(doc_id, except_version=version)
    _remove_old_originals(path)
    log.info("indexed %s v%s: %s chunks", name, version, len(chunks))
    return JobStatus.SUCCEEDED


def _set_status(ctx: IngestionContext, doc_id: int, version: int, status: DocumentStatus) -> None:
    with ctx.session_factory.begin() as db_session:
        doc = db_session.get(Document, doc_id)
        if doc is not None and doc.version == version:
            doc.status = status


def _remove_old_originals(current: Path) -> None:
    for sibling in current.parent.glob("v*"):
        if sibling != current and sibling.is_file():
            sibling.unlink(missing_ok=True)
