from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from knowledge.models import DocumentStatus, JobKind, JobStatus


class KnowledgeBaseCreate(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Letters, digits, '_', '-', '.'; not all digits (ids and names share a path).",
    )
    description: str = Field("", max_length=2000)


class KnowledgeBaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    embedding_model: str
    embedding_dim: int
    created_at: datetime
    document_count: int = 0
    chunk_count: int = 0


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kb_id: int
    name: str
    doc_type: str
    status: DocumentStatus
    chunk_count: int
    version: int
    indexed_version: int | None
    error: str | None
    size_bytes: int
    content_hash: str
    created_at: datetime
    updated_at: datetime


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kb_id: int
    document_id: int | None
    kind: JobKind
    status: JobStatus
    version: int | None
    error: str | None
    attempts: int
    chunk_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class UploadResult(BaseModel):
    document: DocumentOut
    job: JobOut | None = Field(description="Null when the same content was already indexed.")
    duplicate: bool = Field(description="True when this exact content was already there.")


class UploadResponse(BaseModel):
    results: list[UploadResult]


class ReindexResponse(BaseModel):
    jobs: list[JobOut]
