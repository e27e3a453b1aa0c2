"""Durable jobs: a claim with a lease, a heartbeat that renews it, and the sweep that
re-queues the jobs of processes that died.

The database is the source of truth, not the broker or a thread's queue: whatever a crash
loses, the sweep finds again, and the claim (one compare-and-set UPDATE) guarantees that a
job a live worker holds is never run twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import utcnow
from knowledge import service as knowledge_service
from knowledge.models import Document, DocumentStatus, IngestionJob, JobStatus

log = logging.getLogger(__name__)

_RUN = uuid.uuid4().hex[:8]


def worker_id() -> str:
    """This process, at call time: Celery's prefork children each get their own pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{_RUN}"


def _claimable(now: object) -> object:
    return or_(
        IngestionJob.status == JobStatus.QUEUED,
        and_(
            IngestionJob.status == JobStatus.RUNNING,
            or_(IngestionJob.lease_until.is_(None), IngestionJob.lease_until < now),
        ),
    )


def claim(db_session: Session, job_id: int, *, lease_seconds: float) -> bool:
    """Take the job for this process: True if it was queued or its lease had run out."""
    now = utcnow()
    result = db_session.execute(
        update(IngestionJob)
        .where(IngestionJob.id == job_id, _claimable(now))  # type: ignore[arg-type]
        .values(
            status=JobStatus.RUNNING,
            attempts=IngestionJob.attempts + 1,
            started_at=now,
            lease_owner=worker_id(),
            lease_until=now + timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    db_session.expire_all()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(job: IngestionJob) -> None:
    job.lease_owner = job.lease_until = None


def requeue(db_session: Session, job_id: int) -> None:
    """Give the job back (shutdown): the next start or another worker runs it."""
    job = db_session.get(IngestionJob, job_id)
    if job is None or job.status != JobStatus.RUNNING:
        return
    job.status = JobStatus.QUEUED
    release(job)
    doc = db_session.get(Document, job.document_id) if job.document_id else None
    if doc is not None and doc.version == job.version:
        doc.status = DocumentStatus.QUEUED


class Heartbeat:
    """Renews the lease every third of its length while the job runs."""

    def __init__(
        self, session_factory: sessionmaker[Session], job_id: int, *, lease_seconds: float
    ) -> None:
        self._factory, self._job_id, self._lease = session_factory, job_id, lease_seconds
        self._owner = worker_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self._lease)

    def _run(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                with self._factory.begin() as db_session:
                    db_session.execute(
                        update(IngestionJob)
                        .where(
                            IngestionJob.id == self._job_id,
                            IngestionJob.lease_owner == self._owner,
                            IngestionJob.status == JobStatus.RUNNING,
                        )
                        .values(lease_until=utcnow() + timedelta(seconds=self._lease))
                    )
            except Exception as exc:  # the database blinked: the next beat tries again
                log.warning("could not renew the lease of job %s: %s", self._job_id, exc)


def _due(now: datetime, *, lease_seconds: float, every_queued: bool) -> Any:
    """Jobs to send again: running ones past their lease (their worker died), and queued ones
    no worker took within a lease period (the message was lost: the broker was down when it
    was sent, or lost its data) or every queued one (the in-process queue died with it)."""
    expired = or_(IngestionJob.lease_until.is_(None), IngestionJob.lease_until < now)
    running = and_(IngestionJob.status == JobStatus.RUNNING, expired)
    if every_queued:
        return or_(IngestionJob.status == JobStatus.QUEUED, running)
    untaken = or_(
        IngestionJob.lease_until < now,
        and_(
            IngestionJob.lease_until.is_(None),
            IngestionJob.updated_at < now - timedelta(seconds=lease_seconds),
        ),
    )
    return or_(and_(IngestionJob.status == JobStatus.QUEUED, untaken), running)


def sweep(
    session_factory: sessionmaker[Session],
    *,
    max_attempts: int,
    lease_seconds: float,
    every_queued: bool = False,
) -> list[int]:
    """Jobs to send to the queue again after a crash or a lost message; each is queued with
    a lease of its own (``lease_until``: when a sweep may send it again), so concurrent
    sweeps and the next ones do not send it twice while it waits to be taken.

    A job that has used up its attempts is marked failed instead, so a document that kills
    the process every time cannot take it down at every start.
    """
    now = utcnow()
    ready: list[int] = []
    with session_factory.begin() as db_session:
        jobs = db_session.scalars(
            select(IngestionJob)
            .where(_due(now, lease_seconds=lease_seconds, every_queued=every_queued))
            .order_by(IngestionJob.id)
            .with_for_update(skip_locked=True)  # another sweeper holds it: that one sends it
        ).all()
        for job in jobs:
            doc = db_session.get(Document, job.document_id) if job.document_id else None
            if job.status == JobStatus.RUNNING and job.attempts >= max_attempts:
                knowledge_service.fail_job(
                    job=job,
                    document=doc,
                    reason=f"gave up after {job.attempts} attempts (the worker died each time)",
                )
                release(job)
                continue
            if job.status == JobStatus.RUNNING and doc is not None and doc.version == job.version:
                doc.status = DocumentStatus.QUEUED
            job.status, job.lease_owner = JobStatus.QUEUED, None
            job.lease_until = now + timedelta(seconds=lease_seconds)
            ready.append(job.id)
    if ready:
        log.warning("re-queueing %s ingestion job(s) a dead process or broker lost", len(ready))
    return ready
