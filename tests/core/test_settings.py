from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from app.core.config import Settings


def test_embedded_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KEFU_DATABASE_URL", "KEFU_MILVUS_URI", "KEFU_REDIS_URL", "KEFU_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEFU_DATA_DIR", "/srv/kefu-data")
    s = Settings()
    assert s.database_url == "sqlite:////srv/kefu-data/kefu.db"
    assert s.milvus_uri == "/srv/kefu-data/milvus.db"
    assert s.redis.url is None and s.celery.broker_url is None and s.llm.base_url is None
    assert s.is_embedded_db


def test_production_names_are_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_DATABASE_URL", "postgresql+psycopg://kefu@db/kefu")
    monkeypatch.setenv("KEFU_MILVUS_URI", "http://milvus:19530")
    monkeypatch.setenv("KEFU_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("KEFU_CELERY_BROKER_URL", "redis://redis:6379/1")
    monkeypatch.setenv("KEFU_LLM_BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", "wx123")
    s = Settings()
    assert s.database_url.startswith("postgresql") and not s.is_embedded_db
    assert s.milvus_uri == "http://milvus:19530"
    assert s.redis.url == "redis://redis:6379/0"
    assert s.celery.broker_url == "redis://redis:6379/1"
    assert s.llm.base_url == "http://vllm:8000/v1"
    assert s.channels.wechat_app_id == "wx123"


@pytest.mark.parametrize("env", ["production", "test"])
def test_default_secret_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("KEFU_ENVIRONMENT", env)
    monkeypatch.delenv("KEFU_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("KEFU_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("KEFU_SECRET_KEY", "a-long-random-secret-value-123456")
    assert Settings().environment == env


def test_every_field_is_described() -> None:
    missing: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseSettings):
                walk(ann, f"{prefix}{name}.")
            elif not field.description:
                missing.append(prefix + name)

    walk(Settings, "")
    assert missing == []


def test_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEFU_INGEST_CHUNK_TOKENS", "5")
    with pytest.raises(ValidationError, match="chunk_tokens"):
        Settings()
