"""Every long-lived client, built once in the FastAPI lifespan (or once by a CLI command)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.answer_cache.service import AnswerCache
from app.attachments.vision import VisionClient
from app.core import datadir, secret_key
from app.core.bus import EventBus, InProcessBus, build_bus
from app.core.cache import Cache, build_cache
from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.ratelimit import RateLimiter
from app.customers.backends import build_business_data
from app.llm import LLMClient
from app.retrieval.rerank import RerankStage
from app.routing import Router
from app.tools import extra
from app.tools.binding import AgentTool
from app.tools.schemas import TOOL_NAMES
from app.tools.service import ToolRunner
from ingestion.context import IngestionContext
from ingestion.queue import IngestionQueue
from knowledge.index import KnowledgeIndex

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: Cache
    index: KnowledgeIndex
    ingestion: IngestionQueue
    # None when no endpoint is configured: the bot answers from rules, FAQ and passages.
    llm: LLMClient | None = None
    # None when no vision endpoint is configured: images are stored for human agents only.
    vision: VisionClient | None = None
    # Live delivery (agent replies to open widgets, customer messages to agents' consoles).
    bus: EventBus = field(default_factory=InProcessBus)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    # None with KEFU_RERANKER=none: searches keep the fused order.
    reranker: RerankStage | None = None
    # The operator's LangChain tools (KEFU_EXTRA_TOOLS), loaded at startup so a bad entry
    # stops the service with its message instead of failing a customer's turn.
    extra_tools: list[AgentTool] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        session_factory: sessionmaker[Session] | None = None,
        cache: Cache | None = None,
        bus: EventBus | None = None,
    ) -> Runtime:
        datadir.secure(settings)
        secret_key.resolve(settings)
        extra_tools = load_extra_tools(settings)
        db = settings.db
        engine = engine or make_engine(
            settings.database_url,
            pool_size=db.pool_size,
            max_overflow=db.max_overflow,
            pool_timeout=db.pool_timeout,
            echo=db.echo,
        )
        session_factory = session_factory or make_session_factory(engine)
        index = KnowledgeIndex(settings)
        context = IngestionContext(settings=settings, session_factory=session_factory, index=index)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            cache=cache or build_cache(settings.redis.url),
            index=index,
            ingestion=IngestionQueue(context),
            llm=LLMClient(settings.llm) if settings.llm.base_url else None,
            vision=VisionClient(settings.vision) if settings.vision.base_url else None,
            bus=bus or build_bus(settings.redis.url),
            limiter=RateLimiter(settings.redis.url),
            reranker=RerankStage.from_settings(settings.reranking),
            extra_tools=extra_tools,
        )

    @cached_property
    def router(self) -> Router:
        # Built on first use (it embeds its intent exemplars, about 2 s): the server's lifespan
        # warms it before /readyz says ready (app.conversation.warmup).
        return Router(self.index.embedder, service_hours=self.settings.service_hours)

    @cached_property
    def answer_cache(self) -> AnswerCache | None:
        settings = self.settings.answer_cache
        if not settings.enabled:
            return None
        return AnswerCache(
            self.cache,
            min_similarity=settings.min_similarity,
            ttl=settings.ttl_seconds,
            max_entries=settings.max_entries,
        )

    @cached_property
    def tools(self) -> ToolRunner:
        """The agent's tools over the configured business data (SQL tables or the company API)."""
        source = build_business_data(self.settings, session_factory=self.session_factory)
        return ToolRunner(
            source,
            service_hours=self.settings.service_hours,
            account_app=self.settings.account_app,
            extra=self.extra_tools,
        )

    async def aclose(self) -> None:
        if "tools" in self.__dict__:
            await self.tools.source.aclose()
        if self.llm is not None:
            await self.llm.aclose()
        if self.vision is not None:
            await self.vision.aclose()
        await self.bus.aclose()
        self.close()

    def close(self) -> None:
        if self.reranker is not None:
            self.reranker.close()
        self.ingestion.close()
        self.index.close()
        self.cache.close()
        self.engine.dispose()


def load_extra_tools(settings: Settings) -> list[AgentTool]:
    """``KEFU_EXTRA_TOOLS``; ``ToolBindingError`` names what is wrong."""
    return extra.load(
        settings.tools.extra_tools, allowed=settings.tools.extra_tools_allowed, reserved=TOOL_NAMES
    )
