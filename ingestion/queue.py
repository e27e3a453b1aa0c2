"""How the API hands a job to ingestion: by id, to Celery, or to an in-process thread."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ingestion.celery_app import INGEST_TASK, make_celery
from ingestion.context import IngestionContext, set_context

log = logging.getLogger(__name__)


class IngestionQueue:
    def __init__(self, context: IngestionContext) -> None:
        settings = context.settings
        self.celery = make_celery(settings)
        self.eager = settings.celery.broker_url is None
        self._queue = settings.celery.ingestion_queue
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[object]] = set()
        if self.eager:
            # No broker: this process owns the stores, so its own thread does the work and
            # uploads still return at once.
            set_context(context)
            self.celery.loader.import_default_modules()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    def enqueue(self, job_id: int) -> None:
        if self._executor is None:
            self.celery.send_task(INGEST_TASK, args=[job_id], queue=self._queue)
            return
        future = self._executor.submit(self._run_eager, job_id)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _run_eager(self, job_id: int) -> object:
        result = self.celery.tasks[INGEST_TASK].apply(args=[job_id])
        if result.failed():
            log.warning("ingestion job %s failed: %s", job_id, result.result)
        return result.result

    def drain(self, timeout: float | None = None) -> None:
        """Wait for in-process jobs (tests, CLI, shutdown)."""
        wait(list(self._pending), timeout=timeout)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)
            set_context(None)
