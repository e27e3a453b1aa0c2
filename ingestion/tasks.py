"""Celery tasks: thin, taking ids; the work is in ingestion.pipeline."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from ingestion import leases, pipeline, telemetry
from ingestion.celery_app import INGEST_TASK
from ingestion.context import get_context
from knowledge.models import JobStatus


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
    ctx = get_context()
    status = telemetry.run_job(job_id, ctx, final_attempt=final)
    if status == JobStatus.RUNNING and not self.request.is_eager:
        # Another worker's lease holds it (a redelivery while it works, or a dead worker's
        # lease not yet run out): look again when that lease would have expired, so a dead
        # worker's job is resumed and a live one's is never run twice.
        raise self.retry(
            countdown=ctx.settings.ingestion.lease_seconds,
            max_retries=self.request.retries + 1,
        )
    return status.value


@worker_ready.connect  # type: ignore[untyped-decorator]
def _recover_on_start(sender: Any = None, **_: Any) -> None:
    """A worker starting after a crash sends the jobs the dead one held back to the queue
    (acks_late and the visibility timeout cover the broker's side; this covers the rows)."""
    ctx = get_context()
    jobs = leases.sweep(ctx.session_factory, max_attempts=ctx.settings.ingestion.max_attempts)
    for job_id in jobs:
        ingest_document.apply_async(args=[job_id])
