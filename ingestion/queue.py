"""How the API hands a job to ingestion: by id, to Celery, or to an in-process thread.

Either way the job row is the durable record: ``recover`` re-enqueues what a crash or a
shutdown left behind, and the pipeline's claim keeps a redelivered job from running twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from ingestion import leases
from ingestion.celery_app import INGEST_TASK, make_celery
from ingestion.context import IngestionContext, set_context

log = logging.getLogger(__name__)


class IngestionQueue:
    def __init__(self, context: IngestionContext) -> None:
        settings = context.settings
        self.context = context
        self.celery = make_celery(settings)
        self.eager = settings.celery.broker_url is None
        self._queue = settings.celery.ingestion_queue
        self._jobs: queue.Queue[int] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._queued: set[int] = set()
        self._sweep_at: float | None = None  # None until recover(): CLI commands never sweep
        if self.eager:
            # No broker: this process owns the stores, so its own thread does the work and
            # uploads still return at once. A daemon thread: a stuck parser never keeps a
            # stopping process (and its Milvus Lite lock) alive.
            set_context(context)
            self.celery.loader.import_default_modules()
            self._thread = threading.Thread(target=self._work, name="ingest", daemon=True)
            self._thread.start()

    def enqueue(self, job_id: int) -> None:
        if self._thread is None:
            self.celery.send_task(INGEST_TASK, args=[job_id], queue=self._queue)
            return
        if self.context.stopping.is_set():
            return  # stays queued in the database; the next start runs it
        with self._idle:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
            self._pending += 1
        self._jobs.put(job_id)

    def recover(self) -> list[int]:
        """Re-enqueue the jobs a dead or stopped process left queued or running; in-process,
        sweep again every lease period, for jobs whose dead owner's lease was still running."""
        ingestion = self.context.settings.ingestion
        jobs = leases.sweep(
            self.context.session_factory,
            max_attempts=ingestion.max_attempts,
            lease_seconds=ingestion.lease_seconds,
            # In-process, the queue died with the process: every queued job is sent again. With
            # a broker, queued messages outlive the process; the workers' sweep resends lost ones.
            every_queued=self._thread is not None and self._sweep_at is None,
        )
        for job_id in jobs:
            try:
                self.enqueue(job_id)
            except Exception as exc:  # the broker is down: the next sweep sends it
                log.warning("could not re-queue ingestion job %s: %s", job_id, exc)
        if self._thread is not None:
            self._sweep_at = time.monotonic() + ingestion.lease_seconds
        return jobs

    def _maybe_sweep(self) -> None:
        if self._sweep_at is None or time.monotonic() < self._sweep_at:
            return
        try:
            self.recover()
        except Exception as exc:  # the database is away: try again next period
            log.warning("ingestion sweep failed: %s", exc)
            self._sweep_at = time.monotonic() + self.context.settings.ingestion.lease_seconds

    def _work(self) -> None:
        while not self.context.stopping.is_set():
            try:
                job_id = self._jobs.get(timeout=0.5)
            except queue.Empty:
                self._maybe_sweep()
                continue
            try:
                if not self.context.stopping.is_set():
                    self._run_eager(job_id)
            except Exception:
                log.exception("ingestion job %s crashed the worker loop", job_id)
            finally:
                with self._idle:
                    self._queued.discard(job_id)
                    self._pending -= 1
                    self._idle.notify_all()

    def _run_eager(self, job_id: int) -> object:
        result = self.celery.tasks[INGEST_TASK].apply(args=[job_id])
        if result.failed():
            log.warning("ingestion job %s failed: %s", job_id, result.result)
        return result.result

    def drain(self, timeout: float | None = None) -> None:
        """Wait for in-process jobs (tests, CLI)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending > 0 and not self.context.stopping.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                self._idle.wait(left)

    def close(self) -> None:
        """Stop taking jobs; the running one stops at its next batch and is re-queued.

        Bounded by ``KEFU_INGEST_SHUTDOWN_SECONDS``: queued jobs stay queued in the database
        and the next start picks them up, so a restart is never held up by a backlog.
        """
        if self._thread is None:
            return
        self.context.stopping.set()
        self._thread.join(timeout=self.context.settings.ingestion.shutdown_seconds)
        if self._thread.is_alive():
            log.warning("an ingestion job did not stop in time; its lease will expire")
        set_context(None)
