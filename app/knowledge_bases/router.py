from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as FormFile

from app.core.errors import NotFound
from app.deps import AdminKey, RuntimeDep, SessionDep
from app.knowledge_bases import service
from app.knowledge_bases.dependencies import DocumentDep, KnowledgeBaseDep
from app.knowledge_bases.schemas import (
    DocumentOut,
    JobOut,
    KnowledgeBaseCreate,
    KnowledgeBaseOut,
    ReindexResponse,
    UploadResponse,
    UploadResult,
)
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.models import Document, DocumentStatus, KnowledgeBase

router = APIRouter(prefix="/admin/knowledge-bases", tags=["admin: knowledge"])


def _kb_out(db_session: SessionDep, kb: KnowledgeBase) -> KnowledgeBaseOut:
    docs, chunks = db_session.execute(
        select(func.count(Document.id), func.coalesce(func.sum(Document.chunk_count), 0)).where(
            Document.kb_id == kb.id
        )
    ).one()
    out = KnowledgeBaseOut.model_validate(kb)
    out.document_count, out.chunk_count = int(docs), int(chunks)
    return out


@router.get("", response_model=list[KnowledgeBaseOut])
def list_kbs(_: AdminKey, db_session: SessionDep) -> list[KnowledgeBaseOut]:
    return [_kb_out(db_session, kb) for kb in knowledge_service.list_kbs(db_session=db_session)]


@router.post("", response_model=KnowledgeBaseOut, status_code=status.HTTP_201_CREATED)
def create_kb(
    body: KnowledgeBaseCreate, _: AdminKey, db_session: SessionDep, runtime: RuntimeDep
) -> KnowledgeBaseOut:
    kb = service.create_kb(
        db_session=db_session, runtime=runtime, name=body.name, description=body.description
    )
    return _kb_out(db_session, kb)


@router.get("/{kb}", response_model=KnowledgeBaseOut)
def get_kb(kb: KnowledgeBaseDep, _: AdminKey, db_session: SessionDep) -> KnowledgeBaseOut:
    return _kb_out(db_session, kb)


@router.delete("/{kb}", status_code=status.HTTP_204_NO_CONTENT)
def delete_kb(
    kb: KnowledgeBaseDep, _: AdminKey, db_session: SessionDep, runtime: RuntimeDep
) -> Response:
    service.delete_kb(db_session=db_session, runtime=runtime, kb=kb)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{kb}/documents", response_model=UploadResponse, status_code=202)
async def upload_documents(
    kb: KnowledgeBaseDep,
    _: AdminKey,
    db_session: SessionDep,
    runtime: RuntimeDep,
    files: Annotated[list[UploadFile], File(description="One or more files")],
) -> UploadResponse:
    return await receive(db_session=db_session, runtime=runtime, kb=kb, files=files)


async def receive(
    *, db_session: Session, runtime: Runtime, kb: KnowledgeBase, files: Sequence[FormFile]
) -> UploadResponse:
    """Uploaded files into the knowledge base (the admin API and the console both take
    files this way)."""
    limit = runtime.settings.ingestion.max_upload_bytes
    with tempfile.TemporaryDirectory(dir=runtime.settings.uploads_dir, prefix=".in-") as tmp:
        # To disk in blocks: memory stays flat whatever the files weigh.
        uploads = [
            await service.spool(f, Path(tmp) / f"{i}.part", limit=limit)
            for i, f in enumerate(files)
        ]
        outcomes = await run_in_threadpool(
            service.upload, db_session=db_session, runtime=runtime, kb=kb, uploads=uploads
        )
    return UploadResponse(
        results=[
            UploadResult(
                document=DocumentOut.model_validate(o.document),
                job=JobOut.model_validate(o.job) if o.job else None,
                duplicate=o.duplicate,
            )
            for o in outcomes
        ]
    )


@router.get("/{kb}/documents", response_model=list[DocumentOut])
def list_documents(
    kb: KnowledgeBaseDep,
    _: AdminKey,
    db_session: SessionDep,
    status_filter: Annotated[DocumentStatus | None, Query(alias="status")] = None,
) -> list[DocumentOut]:
    docs = knowledge_service.list_documents(
        db_session=db_session, kb_id=kb.id, status=status_filter
    )
    return [DocumentOut.model_validate(d) for d in docs]


@router.get("/{kb}/documents/{doc}", response_model=DocumentOut)
def get_document(doc: DocumentDep, _: AdminKey) -> DocumentOut:
    return DocumentOut.model_validate(doc)


@router.delete("/{kb}/documents/{doc}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(
    doc: DocumentDep, _: AdminKey, db_session: SessionDep, runtime: RuntimeDep
) -> Response:
    service.delete_document(db_session=db_session, runtime=runtime, doc=doc)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{kb}/reindex", response_model=ReindexResponse, status_code=202)
def reindex(
    kb: KnowledgeBaseDep, _: AdminKey, db_session: SessionDep, runtime: RuntimeDep
) -> ReindexResponse:
    jobs = service.reindex(db_session=db_session, runtime=runtime, kb=kb)
    return ReindexResponse(jobs=[JobOut.model_validate(j) for j in jobs])


@router.get("/{kb}/jobs", response_model=list[JobOut])
def list_jobs(kb: KnowledgeBaseDep, _: AdminKey, db_session: SessionDep) -> list[JobOut]:
    return [
        JobOut.model_validate(j)
        for j in knowledge_service.list_jobs(db_session=db_session, kb_id=kb.id)
    ]


jobs_router = APIRouter(prefix="/admin/jobs", tags=["admin: knowledge"])


@jobs_router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: int, _: AdminKey, db_session: SessionDep) -> JobOut:
    job = knowledge_service.get_job(db_session=db_session, job_id=job_id)
    if job is None:
        raise NotFound(f"ingestion job {job_id} not found")
    return JobOut.model_validate(job)
