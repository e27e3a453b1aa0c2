"""Gauges read from the database at scrape time: the same answer whichever worker is asked,
and right after a restart (queues live in the database, not in a process)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.conversation.models import Conversation, ConversationStatus
from knowledge.models import IngestionJob, JobStatus

log = logging.getLogger(__name__)


class QueueGauges(Collector):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._sessions() as db_session:
            waiting = db_session.scalar(
                select(func.count(Conversation.id)).where(
                    Conversation.status == ConversationStatus.AWAITING_HUMAN
                )
            )
            rows = db_session.execute(
                select(IngestionJob.status, func.count(IngestionJob.id))
                .where(IngestionJob.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
                .group_by(IngestionJob.status)
            ).all()
        by_status = {JobStatus(status): int(n) for status, n in rows}
        yield GaugeMetricFamily(
            "kefu_handoff_queue_length",
            "Conversations waiting for a human agent (handed off, not yet claimed).",
            value=waiting or 0,
        )
        yield GaugeMetricFamily(
            "kefu_ingestion_jobs_queued",
            "Ingestion jobs waiting for a worker.",
            value=by_status.get(JobStatus.QUEUED, 0),
        )
        yield GaugeMetricFamily(
            "kefu_ingestion_jobs_running",
            "Ingestion jobs a worker is running now.",
            value=by_status.get(JobStatus.RUNNING, 0),
        )


def latest(session_factory: sessionmaker[Session]) -> bytes:
    """The gauges in text format; nothing when the database cannot be asked (a scrape must
    still show the process's own metrics during an outage)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueGauges(session_factory))
    try:
        return generate_latest(registry)
    except Exception as exc:
        log.warning("queue gauges unavailable: %s", type(exc).__name__)
        return b""
