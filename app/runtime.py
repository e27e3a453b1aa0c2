"""Every long-lived client, built once in the FastAPI lifespan (or once by a CLI command)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.cache import Cache, build_cache
from app.core.config import Settings
from app.core.db import make_engine, make_session_factory

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: Cache
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(
            settings.database_url, pool_size=settings.db.pool_size, echo=settings.db.echo
        )
        return cls(
            settings=settings,
            engine=engine,
            session_factory=make_session_factory(engine),
            cache=build_cache(settings.redis.url),
        )

    def vector_store_ping(self) -> str:
        from pymilvus import MilvusClient

        client = self.extras.get("milvus")
        if client is None:
            client = MilvusClient(self.settings.milvus_uri)
            self.extras["milvus"] = client
        return f"{len(client.list_collections())} collections"

    def close(self) -> None:
        self.cache.close()
        self.engine.dispose()
