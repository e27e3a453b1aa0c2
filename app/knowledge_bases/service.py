"""Flows over knowledge bases: upload (store original, version, enqueue), delete, re-index."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from app.core.errors import Conflict, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.models import Document, DocumentStatus, IngestionJob, JobKind, KnowledgeBase

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w.\- ()\[\]\u3000-\u303f\uff00-\uffef]+")


_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file to index: in memory (CLI, tests) or already streamed to disk (the HTTP API)."""

    filename: str
    data: bytes = b""
    path: Path | None = None

    def size(self) -> int:
        return self.path.stat().st_size if self.path else len(self.data)

    def chunks(self) -> Iterator[bytes]:
        if self.path is None:
            yield self.data
            return
        with self.path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                yield block

    def is_blank(self) -> bool:
        return all(not block.strip() for block in self.chunks())

    def digest(self) -> str:
        sha = hashlib.sha256()
        for block in self.chunks():
            sha.update(block)
        return sha.hexdigest()

    def write_to(self, dest: Path) -> None:
        with dest.open("wb") as fh:
            for block in self.chunks():
                fh.write(block)


@dataclass(frozen=True)
class UploadOutcome:
    document: Document
    job: IngestionJob | None
    duplicate: bool


def sanitize_filename(raw: str) -> str:
    """Keep the base name only (no directories, no traversal), in readable Unicode."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, ext = os.path.splitext(name)
    return (stem[:200] or "document") + ext.lower()


async def spool(upload: UploadFile, dest: Path, *, limit: int) -> Upload:
    """An uploaded file to disk in blocks (memory stays flat); 413 past ``limit`` bytes."""
    written = 0
    with dest.open("wb") as fh:
        while block := await upload.read(1024 * 1024):
            written += len(block)
            if written > limit:
                raise PayloadTooLarge(
                    f"{upload.filename!r} is over the limit of {limit} bytes",
                    details={"file": upload.filename, "limit": limit},
                )
            fh.write(block)
    return Upload(filename=upload.filename or "", path=dest)


def validate(uploads: list[Upload], *, max_bytes: int) -> list[Upload]:
    """Check every file before anything is written, so one bad file changes nothing."""
    if not uploads:
        raise Unprocessable("no files in the upload (multipart field 'files')")
    clean: list[Upload] = []
    for up in uploads:
        name = sanitize_filename(up.filename or "")
        ext = os.path.splitext(name)[1]
        if ext not in SUPPORTED_EXTENSIONS:
            raise UnsupportedMediaType(
                f"{up.filename!r}: unsupported file type {ext or '(none)'}; supported: "
                + ", ".join(SUPPORTED_EXTENSIONS),
                details={"file": up.filename, "supported": list(SUPPORTED_EXTENSIONS)},
            )
        if up.size() > max_bytes:
            raise PayloadTooLarge(
                f"{up.filename!r} is {up.size()} bytes; the limit is {max_bytes}",
                details={"file": up.filename, "limit": max_bytes},
            )
        if up.is_blank():
            raise Unprocessable(f"{up.filename!r} is empty", details={"file": up.filename})
        clean.append(Upload(filename=name, data=up.data, path=up.path))
    names = [u.filename for u in clean]
    if len(set(names)) != len(names):
        raise Unprocessable("the same file name appears twice in one upload")
    return clean


def create_kb(
    *, db_session: Session, runtime: Runtime, name: str, description: str
) -> KnowledgeBase:
    if name.isdigit():
        raise Unprocessable("a knowledge base name cannot be all digits (ids look like that)")
    if knowledge_service.get_kb(db_session=db_session, ref=name) is not None:
        raise Conflict(f"knowledge base {name!r} already exists")
    embedder = runtime.index.embedder
    return knowledge_service.create_kb(
        db_session=db_session,
        name=name,
        description=description,
        embedding_model=embedder.model_name,
        embedding_dim=embedder.dim,
    )


def _store_original(runtime: Runtime, doc: Document, up: Upload) -> str:
    ext = os.path.splitext(doc.name)[1]
    path = runtime.settings.uploads_dir / str(doc.kb_id) / str(doc.id) / f"v{doc.version}{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    up.write_to(tmp)
    tmp.replace(path)  # atomic: a reader never sees half a file
    return str(path)


def upload(
    *, db_session: Session, runtime: Runtime, kb: KnowledgeBase, uploads: list[Upload]
) -> list[UploadOutcome]:
    """Record each file as a new document or a new version, then enqueue one job per file."""
    clean = validate(uploads, max_bytes=runtime.settings.ingestion.max_upload_bytes)
    outcomes: list[UploadOutcome] = []
    for up in clean:
        digest = up.digest()
        doc = knowledge_service.get_document(db_session=db_session, kb_id=kb.id, ref=up.filename)
        # Only a ready document is a duplicate: one stuck or failed is indexed again.
        if doc is not None and doc.content_hash == digest and doc.status == DocumentStatus.READY:
            outcomes.append(UploadOutcome(document=doc, job=None, duplicate=True))
            continue
        if doc is None:
            doc = Document(
                kb_id=kb.id,
                name=up.filename,
                doc_type=os.path.splitext(up.filename)[1].lstrip("."),
                content_hash=digest,
                size_bytes=up.size(),
                version=1,
                status=DocumentStatus.QUEUED,
                chunk_count=0,
                storage_path="",
            )
            db_session.add(doc)
            db_session.flush()
        else:
            # A replacement: the indexed version stays searchable until the new one is ready.
            doc.version += 1
            doc.content_hash, doc.size_bytes = digest, up.size()
            doc.status, doc.error = DocumentStatus.QUEUED, None
        doc.storage_path = _store_original(runtime, doc, up)
        job = knowledge_service.create_job(db_session=db_session, document=doc)
        outcomes.append(UploadOutcome(document=doc, job=job, duplicate=False))
    db_session.commit()
    enqueue(runtime=runtime, jobs=[o.job for o in outcomes if o.job])
    return outcomes


def enqueue(*, runtime: Runtime, jobs: list[IngestionJob]) -> None:
    """Hand committed jobs to ingestion. One that cannot be handed over (the broker is down)
    stays queued: the row is the record, and the workers' sweep sends it once a lease period
    has passed (ingestion.leases.sweep)."""
    for job in jobs:
        try:
            runtime.ingestion.enqueue(job.id)
        except Exception as exc:
            log.warning("ingestion job %s stays queued, not sent: %s", job.id, exc)


def delete_document(*, db_session: Session, runtime: Runtime, doc: Document) -> None:
    """Chunks leave the vector store and the row leaves SQL together (vectors first)."""
    folder = Path(doc.storage_path).parent if doc.storage_path else None
    db_session.delete(doc)
    db_session.flush()
    for store in runtime.index.all_stores():
        store.delete_by_document(doc.id)
    db_session.commit()
    runtime.index.versions.forget([doc.id])
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def delete_kb(*, db_session: Session, runtime: Runtime, kb: KnowledgeBase) -> None:
    kb_id = kb.id
    db_session.delete(kb)
    db_session.flush()
    for store in runtime.index.all_stores():
        store.delete_by_kb(kb_id)
    db_session.commit()
    shutil.rmtree(runtime.settings.uploads_dir / str(kb_id), ignore_errors=True)


def reindex(*, db_session: Session, runtime: Runtime, kb: KnowledgeBase) -> list[IngestionJob]:
    """Re-embed every document with this process's embedding model (after a model change)."""
    embedder = runtime.index.embedder
    kb.embedding_model, kb.embedding_dim = embedder.model_name, embedder.dim
    jobs: list[IngestionJob] = []
    for doc in knowledge_service.list_documents(db_session=db_session, kb_id=kb.id):
        old = Path(doc.storage_path)
        if not old.is_file():
            continue
        doc.version += 1
        doc.status, doc.error = DocumentStatus.QUEUED, None
        doc.storage_path = _store_original(runtime, doc, Upload(filename=doc.name, path=old))
        jobs.append(
            knowledge_service.create_job(db_session=db_session, document=doc, kind=JobKind.REINDEX)
        )
    db_session.commit()
    enqueue(runtime=runtime, jobs=jobs)
    return jobs
