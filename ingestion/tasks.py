"""Celery tasks: thin, taking ids; the work is in ingestion.pipeline."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ingestion import pipeline
from ingestion.celery_app import INGEST_TASK
from ingestion.context import get_context


@shared_task(  # type: ignore[untyped-decorator]
    name=INGEST_TASK,
    bind=True,
    acks_late=True,
    autoretry_for=(pipeline.TransientError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def ingest_document(self: Any, job_id: int) -> str:
    final = self.request.retries >= self.max_retries
    return pipeline.run_job(job_id, get_context(), final_attempt=final).value
