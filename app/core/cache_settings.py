"""Settings of the answer cache (``KEFU_ANSWER_CACHE_*``), composed into ``Settings``.

Kept apart from ``app.core.config`` so that module stays small.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnswerCacheSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_ANSWER_CACHE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    enabled: bool = Field(
        True,
        description="Reuse LLM answers to general questions (no tool, no customer data, no "
        "conversation context) for the same question or a close paraphrase.",
    )
    min_similarity: float = Field(
        0.965,
        ge=0.5,
        le=1.0,
        description="Cosine between the question and a cached one needed to reuse its answer "
        "(chosen with benchmarks/answer_cache.py: no false hit on either dev set).",
    )
    ttl_seconds: float = Field(
        6 * 3600,
        gt=0,
        description="How long an answer is kept (a new document version ends it at once).",
    )
    max_entries: int = Field(
        5000, ge=1, description="Answers kept per knowledge-base version, prompt and language."
    )
