"""Rerankers: a cross-encoder that reads the question beside each passage and scores the pair.

One interface, two backends chosen by ``KEFU_RERANKER``: ``http`` asks a rerank API (vLLM,
Jina and Cohere speak the same one) and ``cross-encoder`` runs a local sentence-transformers
model from a path. ``none`` (the default) builds nothing. The stage that decides what to do
with the scores (how many candidates, the deadline, the fallback) is
``app.retrieval.rerank``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from app.core.config import RerankerSettings


class RerankError(RuntimeError):
    """The reranker could not score the passages."""


@runtime_checkable
class Reranker(Protocol):
    """One relevance score per document, in the documents' order; higher is more relevant."""

    @property
    def model_name(self) -> str: ...

    def score(self, query: str, documents: Sequence[str]) -> list[float]: ...

    def close(self) -> None: ...


def build_reranker(settings: RerankerSettings) -> Reranker | None:
    if settings.backend == "none":
        return None
    if settings.backend == "http":
        from knowledge.rerank.http import HttpReranker

        return HttpReranker(
            base_url=settings.base_url or "",
            model=settings.model or "",
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout=settings.timeout,
            template=settings.template,
        )
    from knowledge.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(settings.model or "", device=settings.device)
