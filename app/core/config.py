"""One settings object, composed of small classes, read from ``KEFU_*`` environment variables.

Each part reads its own prefix (``KEFU_DATABASE_URL``, ``KEFU_MILVUS_URI``, ...), so the
environment names stay flat and readable while code reads ``settings.db.url``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Re-exported: code and tests import every settings class from here.
from app.core.cache_settings import AnswerCacheSettings as AnswerCacheSettings
from app.core.edge_settings import ChannelSettings as ChannelSettings
from app.core.edge_settings import ConsoleSettings as ConsoleSettings
from app.core.edge_settings import LimitSettings as LimitSettings
from app.core.edge_settings import ToolSettings as ToolSettings
from app.core.observability_config import ObservabilitySettings
from app.core.retrieval_settings import EmbeddingSettings as EmbeddingSettings
from app.core.retrieval_settings import RerankerSettings as RerankerSettings

DEV_SECRET = "dev-insecure-secret-change-me"


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


class DatabaseSettings(BaseSettings):
    model_config = _config("KEFU_DATABASE_")

    url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. "
        "Unset: a SQLite file in the data directory.",
    )
    pool_size: int = Field(10, ge=1, description="Connections kept open per process (PostgreSQL).")
    # Every request thread may hold a connection: pool_size + max_overflow at least the
    # server's 40 worker threads, so a burst waits on work, not on a free connection.
    max_overflow: int = Field(
        30, ge=0, description="Connections opened beyond pool_size under load (PostgreSQL)."
    )
    pool_timeout: float = Field(
        30, gt=0, description="Seconds a request waits for a free connection before failing."
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class MilvusSettings(BaseSettings):
    model_config = _config("KEFU_MILVUS_")

    uri: str | None = Field(
        None,
        description="Milvus URI (http://host:19530). Unset: a Milvus Lite file in the data "
        "directory, owned by this process.",
    )
    token: SecretStr | None = Field(None, description="Milvus token (user:password), if any.")
    collection_prefix: str = Field("kefu_chunks", description="Prefix of collection names.")


class RedisSettings(BaseSettings):
    model_config = _config("KEFU_REDIS_")

    url: str | None = Field(
        None,
        description="Redis URL for cache, dedup and rate limits. Unset: in-process only "
        "(fine for one process).",
    )


class CelerySettings(BaseSettings):
    model_config = _config("KEFU_CELERY_")

    broker_url: str | None = Field(
        None,
        description="Celery broker (redis:// or amqp://). Unset: ingestion runs eagerly "
        "inside the API process.",
    )
    result_backend: str | None = Field(None, description="Celery result backend, if any.")
    ingestion_queue: str = Field("ingestion", description="Queue the ingestion tasks go to.")
    visibility_timeout: int = Field(
        3600,
        ge=1,
        description="Seconds before a task taken by a worker that died is handed out again "
        "(Redis broker); longer than the slowest document takes to index.",
    )


class LLMSettings(BaseSettings):
    model_config = _config("KEFU_LLM_")

    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint (vLLM: http://host:8000/v1). Unset: rules, FAQ "
        "and extractive answers only.",
    )
    model: str = Field("Qwen/Qwen3-32B-AWQ", description="Model name sent to the endpoint.")
    api_key: SecretStr | None = Field(None, description="Bearer key for the endpoint, if any.")
    connect_timeout: float = Field(3.0, gt=0, description="Seconds to open a connection.")
    first_token_timeout: float = Field(15.0, gt=0, description="Seconds to the first token.")
    total_timeout: float = Field(60.0, gt=0, description="Seconds for a whole answer.")
    max_concurrency: int = Field(32, ge=1, description="Requests in flight per process.")
    max_retries: int = Field(2, ge=0, le=5, description="Retries before the first token only.")
    breaker_failures: int = Field(5, ge=1, description="Failures in a row that open the breaker.")
    breaker_reset: float = Field(30.0, gt=0, description="Seconds before an open breaker retries.")
    thinking: Literal["off", "auto", "on"] = Field(
        "off",
        description="Qwen3 thinking: off (customer service default: no wait for a thought), "
        "auto (only for explicit multi-step calculations the router marks), or on (always; "
        "seconds of extra latency on every answer).",
    )
    max_tokens: int = Field(1024, ge=1, description="Largest answer, in tokens, thinking off.")
    thinking_max_tokens: int = Field(
        4096,
        ge=1,
        description="Largest answer with thinking on, in tokens: the thought counts against "
        "it, so it needs room for the thought and the answer after it.",
    )
    # Qwen3's recommended sampling per mode (model card); thinking is switched on per request.
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature, thinking off.")
    top_p: float = Field(0.8, gt=0, le=1, description="Nucleus sampling, thinking off.")
    top_k: int = Field(20, ge=-1, description="Top-k sampling (vLLM extension), thinking off.")
    presence_penalty: float = Field(1.5, ge=-2, le=2, description="Presence penalty, thinking off.")
    thinking_temperature: float = Field(0.6, ge=0, le=2, description="Temperature, thinking on.")
    thinking_top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling, thinking on.")
    thinking_top_k: int = Field(20, ge=-1, description="Top-k sampling, thinking on.")
    thinking_presence_penalty: float = Field(
        0.0, ge=-2, le=2, description="Presence penalty, thinking on."
    )


class RoutingSettings(BaseSettings):
    model_config = _config("KEFU_ROUTING_")

    tiebreak: bool = Field(
        True, description="With an LLM, one short call settles FAQ-or-agent in the uncertain band."
    )
    tiebreak_low: float = Field(0.3, ge=0, le=1, description="Band's lower FAQ probability.")
    tiebreak_high: float = Field(0.7, ge=0, le=1, description="Band's upper FAQ probability.")
    tiebreak_timeout: float = Field(
        1.0, gt=0, le=5, description="Seconds to its first token; slower, the router's stands."
    )


class BusinessDataSettings(BaseSettings):
    model_config = _config("KEFU_BUSINESS_")

    backend: Literal["sql", "http"] = Field(
        "sql", description="sql: tables in the service's database (demo data); http: your REST API."
    )
    base_url: str | None = Field(None, description="Base URL of the company's REST API (http).")
    api_key: SecretStr | None = Field(None, description="Bearer key for that API, if any.")
    bill_path: str = Field(
        "/customers/{customer_id}/bills/{month}", description="URL template for a monthly bill."
    )
    order_path: str = Field(
        "/customers/{customer_id}/orders/{order_id}", description="URL template for an order."
    )
    membership_path: str = Field(
        "/customers/{customer_id}/membership", description="URL template for a membership."
    )
    ticket_path: str = Field(
        "/customers/{customer_id}/tickets", description="URL template to create a ticket (POST)."
    )
    timeout: float = Field(5.0, gt=0, description="Seconds per request to the company API.")


class IngestionSettings(BaseSettings):
    model_config = _config("KEFU_INGEST_")

    chunk_tokens: int = Field(300, ge=32, le=2048, description="Target chunk size in tokens.")
    overlap_tokens: int = Field(40, ge=0, le=512, description="Overlap between chunks in tokens.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest upload accepted.")
    max_decompressed_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Zip-bomb guard for DOCX (decompressed size)."
    )
    lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a worker's claim on a job holds without a heartbeat; a job "
        "past it belongs to a dead process and is run again.",
    )
    max_attempts: int = Field(
        5, ge=1, description="Runs of one job (crashes included) before it is marked failed."
    )
    shutdown_seconds: float = Field(
        10.0,
        gt=0,
        description="On shutdown, how long the running job may take to stop; it is "
        "re-queued and resumed by the next start.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestionSettings:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("KEFU_INGEST_OVERLAP_TOKENS must be below KEFU_INGEST_CHUNK_TOKENS")
        return self


class AgentSettings(BaseSettings):
    model_config = _config("KEFU_AGENT_")

    knowledge_bases: list[str] = Field(
        default_factory=list,
        description="Knowledge bases (names) the bot answers from; empty: all of them.",
    )
    history_turns: int = Field(8, ge=0, le=50, description="Earlier turns given to the agent.")
    top_k: int = Field(5, ge=1, le=20, description="Passages retrieved per question.")
    history_tokens: int = Field(
        2000, ge=0, description="Token budget for those turns; older ones go to a summary."
    )
    max_tool_rounds: int = Field(
        4, ge=0, le=4, description="Rounds of tool calls per turn (at most 4; 0: no tools)."
    )
    condense: bool = Field(
        True,
        description="Rewrite elliptical follow-ups into standalone search queries with the LLM.",
    )
    condense_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds the condensing step waits for its first token; slower, the "
        "follow-up is searched with the last exchange instead.",
    )
    extractive_min_score: float = Field(
        0.82,
        ge=0,
        le=1,
        description="Without an LLM, quote the best passage only when its cosine similarity "
        "reaches this; below it the bot offers a human instead.",
    )


class Settings(BaseSettings):
    model_config = _config("KEFU_")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Outside development, default secrets are refused."
    )
    data_dir: Path = Field(
        Path("./data"), description="SQLite database, Milvus Lite file and uploaded originals."
    )
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="Signs widget identities and tokens. Unset in development: a random key "
        "kept in the data directory (secret.key, mode 0600) is used instead.",
    )
    company_name: str = Field(
        "云帆通信 Yunfan Mobile", description="Company name the bot speaks for (demo default)."
    )
    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool = Field(True, description="Structured JSON logs (false: plain text).")
    service_hours: str = Field(
        "8:00–22:00", description="When human agents answer (told to customers on handoff)."
    )
    bot_name: str = Field("小帆", description="The assistant's name in replies.")
    account_app: str = Field(
        "云帆App",
        description="Where customers log in and find their order numbers (the tools tell the "
        "model, so it can point customers there).",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Time zone of the current time given to the agent."
    )
    warm_before_serving: bool = Field(
        False,
        description="Load models and indexes before taking connections (kefu serve --workers "
        "N sets it: a worker uvicorn restarts must not take turns cold).",
    )
    min_free_disk_mb: int = Field(
        200,
        ge=0,
        description="Below this much free space in the data directory, /readyz reports the "
        "disk down (uploads and the embedded stores need room).",
    )

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    milvus: MilvusSettings = Field(default_factory=MilvusSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    # Not "reranker": KEFU_RERANKER is the backend switch, not this object as JSON.
    reranking: RerankerSettings = Field(default_factory=RerankerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    business: BusinessDataSettings = Field(default_factory=BusinessDataSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    answer_cache: AnswerCacheSettings = Field(default_factory=AnswerCacheSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment != "development" and (
            self.secret_key.get_secret_value().strip() in (DEV_SECRET, "", "changeme")
            or len(self.secret_key.get_secret_value()) < 16
        ):
            raise ValueError(
                "KEFU_SECRET_KEY must be set to a random value of at least 16 characters "
                "outside development"
            )
        return self

    @property
    def database_url(self) -> str:
        return self.db.url or f"sqlite:///{(self.data_dir / 'kefu.db').resolve()}"

    @property
    def milvus_uri(self) -> str:
        return self.milvus.uri or str((self.data_dir / "milvus.db").resolve())

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def is_embedded_db(self) -> bool:
        return self.db.url is None or self.db.url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
