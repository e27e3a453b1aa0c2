"""Celery tasks: thin, taking ids; the work is in ingestion.pipeline."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from ingestion import leases, pipeline, telemetry
from ingestion.celery_app import INGEST_TASK
from ingestion.context import IngestionContext, get_context
from knowledge.models import JobStatus

log = logging.getLogger(__name__)


@shared_task(  # type: ignore[untyped-decorator]
    name=INGEST_TASK,
    bind=True,
    acks_late=True,
    autoretry_for=(pipeline.TransientError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=False,  # full jitter can spend every retry inside one short outage
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


def resend(ctx: IngestionContext) -> list[int]:
    """Send again the jobs a dead worker held or a broker outage lost (see leases.sweep)."""
    ingestion = ctx.settings.ingestion
    jobs = leases.sweep(
        ctx.session_factory,
        max_attempts=ingestion.max_attempts,
        lease_seconds=ingestion.lease_seconds,
    )
    for job_id in jobs:
        # A failed send (the broker is down) leaves the job queued: a later sweep sends it.
        ingest_document.apply_async(args=[job_id])
    return jobs


def _sweep_forever(ctx: IngestionContext) -> None:
    every = ctx.settings.ingestion.lease_seconds / 2
    while not ctx.stopping.wait(every):
        try:
            resend(ctx)
        except Exception as exc:  # the database or the broker is away: the next round retries
            log.warning("ingestion sweep failed: %s", exc)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _recover_on_start(sender: Any = None, **_: Any) -> None:
    """A worker sends the jobs a dead one held back to the queue, at start and then every
    half lease: acks_late and the visibility timeout cover the broker's side (a message taken
    by a killed worker), the sweep covers the rows (a lease run out, a message never sent or
    lost with the broker's data)."""
    ctx = get_context()
    try:
        resend(ctx)
    finally:
        threading.Thread(target=_sweep_forever, args=(ctx,), name="sweep", daemon=True).start()
