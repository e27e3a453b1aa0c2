"""What an ingestion task needs, built once per process (API in eager mode, or worker)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from knowledge.index import KnowledgeIndex


@dataclass
class IngestionContext:
    settings: Settings
    session_factory: sessionmaker[Session]
    index: KnowledgeIndex
    # Set on shutdown: the running job stops at its next batch and goes back to the queue.
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestionContext:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db.pool_size,
            max_overflow=settings.db.max_overflow,
            pool_timeout=settings.db.pool_timeout,
        )
        return cls(
            settings=settings,
            session_factory=make_session_factory(engine),
            index=KnowledgeIndex(settings),
        )


_context: IngestionContext | None = None
_lock = threading.Lock()


def set_context(context: IngestionContext | None) -> None:
    """The API process in eager mode shares its own clients (Milvus Lite allows one owner)."""
    global _context
    with _lock:
        _context = context


def get_context() -> IngestionContext:
    global _context
    with _lock:
        if _context is None:
            _context = IngestionContext.from_settings(get_settings())
        return _context
