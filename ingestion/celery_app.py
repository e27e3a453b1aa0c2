"""The Celery app. With no broker configured, tasks run eagerly in the calling process."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from app.core.config import Settings, get_settings
from app.observability import tracing

# Sent by name, so the API process never has to import the task module.
INGEST_TASK = "ingestion.ingest_document"


def make_celery(settings: Settings) -> Celery:
    broker = settings.celery.broker_url
    app = Celery("kefu", include=["ingestion.tasks"])
    app.conf.update(
        broker_url=broker or "memory://",
        result_backend=settings.celery.result_backend,
        task_always_eager=broker is None,
        task_eager_propagates=False,
        task_default_queue=settings.celery.ingestion_queue,
        task_routes={"ingestion.*": {"queue": settings.celery.ingestion_queue}},
        # A task is acknowledged only when done, so a killed worker's document is redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery.visibility_timeout},
        worker_hijack_root_logger=False,
    )
    return app


celery_app = make_celery(get_settings())


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _trace_ingestion(**_: Any) -> None:
    """Each worker process exports its ingestion spans (after the fork: an exporter's thread
    does not survive one)."""
    tracing.configure(get_settings().observability)
