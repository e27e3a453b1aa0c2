"""An ingestion job's span and its count by how it ended (``kefu_ingestion_jobs_total``)."""

from __future__ import annotations

from app.observability import metrics, tracing
from ingestion import pipeline
from ingestion.context import IngestionContext
from knowledge.models import JobStatus


def run_job(job_id: int, ctx: IngestionContext, *, final_attempt: bool) -> JobStatus:
    """``pipeline.run_job``, traced (its parse and embed stages are child spans) and counted."""
    with tracing.span("ingestion.job", **{"kefu.ingestion.job_id": job_id}) as span:
        try:
            status = pipeline.run_job(job_id, ctx, final_attempt=final_attempt)
        except pipeline.TransientError:
            _count("requeued")  # back in the queue, retried later
            raise
        except Exception:
            _count("failed")
            raise
        span.set_attribute("kefu.ingestion.status", status.value)
    if status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        _count(status.value)
    elif status == JobStatus.QUEUED:
        _count("requeued")  # interrupted by a shutdown
    else:
        _count("skipped")  # held by another worker's lease
    return status


def _count(status: str) -> None:
    metrics.INGESTION_JOBS.labels(status=status).inc()
