"""Search a knowledge base the way every channel and the evaluation command do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, get_args

from sqlalchemy.orm import Session

from app.core.errors import AppError
from app.core.lang import detect_lang
from app.retrieval.fusion import diversify, interleave
from app.retrieval.rerank import RerankStage
from knowledge.chunks import Hit, Language
from knowledge.index import KnowledgeIndex
from knowledge.models import KnowledgeBase
from knowledge.vectorstore.base import rrf_fuse


class QueryEmbedder(Protocol):
    def embed_queries(self, texts: Sequence[str]) -> Any: ...


class EmbeddingModelMismatch(AppError):
    status_code = 409
    code = "reindex_required"


@dataclass(frozen=True)
class SearchParams:
    top_k: int = 5
    candidates: int = 40  # per candidate list (dense and keyword, per language)
    per_document: int = 2
    score_floor: float = 0.0
    kind: str | None = None
    lang: str | None = None  # a filter: only chunks in this language
    # The question's language; detected from the query when None. Give it when the query
    # is longer than the question (a follow-up with its context) and could read otherwise.
    query_lang: str | None = None
    # Slots for documents in other languages than the query's: 1 alternates languages,
    # lower gives them fewer slots, 0 ranks them after every document in the query's.
    cross_lingual_weight: float = 1.0
    # Dense and keyword weights, and the RRF constant, within the query's language.
    weights: tuple[float, float] = (1.0, 1.0)
    rrf_k: int = 60


def check_model(kb: KnowledgeBase, index: KnowledgeIndex) -> None:
    """Vectors of another model are not comparable: refuse rather than return noise."""
    embedder = index.embedder
    if (kb.embedding_model, kb.embedding_dim) != (embedder.model_name, embedder.dim):
        raise EmbeddingModelMismatch(
            f"knowledge base {kb.name!r} was indexed with {kb.embedding_model} "
            f"({kb.embedding_dim}d) but the service embeds with {embedder.model_name} "
            f"({embedder.dim}d): re-index it (POST /admin/knowledge-bases/{kb.name}/reindex)",
            details={"kb": kb.name, "indexed_with": kb.embedding_model},
        )


def search(
    *,
    db_session: Session,
    index: KnowledgeIndex,
    kbs: Sequence[KnowledgeBase],
    query: str,
    params: SearchParams = SearchParams(),
    embedder: QueryEmbedder | None = None,
    reranker: RerankStage | None = None,
    timings: MutableMapping[str, float] | None = None,
) -> list[Hit]:
    """The best chunks for ``query``, each language searched on its own terms.

    ``embedder`` embeds the query instead of the index's model (the same model behind a
    cache, e.g. the router's). ``timings``, if given, receives each step's milliseconds.

    In the query's language, dense and BM25 candidates are fused by reciprocal rank. In any
    other language only the dense list counts: BM25 has no words to match there, and raw
    cosines across languages sit lower than within one, so one merged list would bury those
    documents. Each language's list is diversified by document, then the lists are
    interleaved (see ``app.retrieval.fusion``). A ``reranker`` then reorders the first of
    them (see ``app.retrieval.rerank``).
    """
    if not kbs or not query.strip():
        return []
    for kb in kbs:
        check_model(kb, index)
    store = index.store(model_name=kbs[0].embedding_model, dim=kbs[0].embedding_dim)
    clock = _Clock(timings)
    query_lang = params.query_lang or detect_lang(query)
    languages = _languages(query_lang, params.lang)
    where: dict[str, Any] = {"kb_ids": [kb.id for kb in kbs], "top_k": params.candidates}
    where["kind"] = params.kind
    # The searches run side by side, BM25 while the query is embedded: on a busy machine
    # their waits for a core would otherwise add up (docs/benchmarks.md).
    pool = index.search_pool
    keyword = (
        pool.submit(
            clock.run, "keyword", store.keyword_search, query_text=query, lang=query_lang, **where
        )
        if query_lang in languages
        else None
    )
    with clock("embed"):
        vector = (embedder or index.embedder).embed_queries([query])[0]
    dense = {
        lang: pool.submit(
            clock.run,
            f"dense_{'same' if lang == query_lang else 'other'}",
            store.dense_search,
            query_vector=vector,
            lang=lang,
            **where,
        )
        for lang in languages
    }
    per_language: list[tuple[float, list[Hit]]] = []
    for lang in languages:
        if lang == query_lang and keyword is not None:
            fused = rrf_fuse(
                dense[lang].result(),
                keyword.result(),
                weights=params.weights,
                rrf_k=params.rrf_k,
                top_k=params.candidates,
            )
            per_language.append((1.0, fused))
        else:
            per_language.append((params.cross_lingual_weight, dense[lang].result()))
    # Only each document's switched-to version is visible (see ingestion.pipeline).
    with clock("versions"):
        live = index.versions.live(
            db_session=db_session,
            found=[
                (h.chunk.document_id, h.chunk.version) for _, hits in per_language for h in hits
            ],
        )
    lists = [
        (
            weight,
            diversify(
                [h for h in hits if live.get(h.chunk.document_id) == h.chunk.version],
                per_document=params.per_document,
            ),
        )
        for weight, hits in per_language
    ]
    merged = [h for h in interleave(lists) if h.score >= params.score_floor]
    if reranker is not None:
        with clock("rerank"):
            return reranker.rerank(query, merged, top_k=params.top_k)
    return merged[: params.top_k]


def _languages(query_lang: str, only: str | None) -> list[str]:
    """The languages to search, the query's first (it wins ties when interleaving)."""
    if only is not None:
        return [only]
    others = [lang for lang in get_args(Language) if lang != query_lang]
    return [query_lang, *others]


class _Clock:
    """Adds each named step's wall time, in ms, to ``timings`` (nothing when it is None)."""

    def __init__(self, timings: MutableMapping[str, float] | None) -> None:
        self._timings = timings

    def run(self, step: str, call: Callable[..., list[Hit]], **kwargs: Any) -> list[Hit]:
        with self(step):
            return call(**kwargs)

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self._timings is not None:
                elapsed = (time.perf_counter() - started) * 1000
                self._timings[step] = self._timings.get(step, 0.0) + elapsed
