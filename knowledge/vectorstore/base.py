"""The vector store interface and the rank fusion every backend shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from knowledge.chunks import Chunk, Hit

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What a search is restricted to. An empty ``kb_ids`` matches nothing, never everything."""

    kb_ids: tuple[int, ...]
    kind: str | None = None
    lang: str | None = None
    document_ids: tuple[int, ...] | None = None

    @classmethod
    def of(
        cls,
        kb_ids: Sequence[int],
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> SearchFilter:
        return cls(
            kb_ids=tuple(int(k) for k in kb_ids),
            kind=kind,
            lang=lang,
            document_ids=None if document_ids is None else tuple(int(d) for d in document_ids),
        )

    @property
    def matches_nothing(self) -> bool:
        return not self.kb_ids or self.document_ids == ()

    def accepts(self, chunk: Chunk) -> bool:
        return (
            chunk.kb_id in self.kb_ids
            and (self.kind is None or chunk.kind == self.kind)
            and (self.lang is None or chunk.lang == self.lang)
            and (self.document_ids is None or chunk.document_id in self.document_ids)
        )


class VectorStore(ABC):
    """Chunks with their dense vectors, searchable by vector, by keywords (BM25) or both.

    Writes are idempotent by ``chunk_id``. Searches return best-first ``Hit`` lists.
    Calls block: async callers run them in a threadpool.
    """

    @abstractmethod
    def ensure_collection(self) -> None:
        """Create the collection and its indexes if missing and make it searchable."""

    @abstractmethod
    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or overwrite ``chunks``; row i of ``vectors`` belongs to ``chunks[i]``."""

    def flush(self) -> None:  # noqa: B027 - optional: only some backends buffer writes
        """Seal buffered writes into indexed segments: call it at the end of a bulk load.

        Searches see writes without it, but may scan unindexed rows until then."""

    @abstractmethod
    def delete_by_document(
        self,
        document_id: int,
        *,
        except_version: int | None = None,
        only_version: int | None = None,
    ) -> None:
        """Delete a document's chunks: all, all versions but one, or one version."""

    @abstractmethod
    def delete_by_kb(self, kb_id: int) -> None: ...

    @abstractmethod
    def dense_search(
        self,
        *,
        kb_ids: Sequence[int],
        query_vector: Vectors,
        top_k: int,
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        """Nearest chunks by cosine similarity; ``score == dense_score``."""

    @abstractmethod
    def keyword_search(
        self,
        *,
        kb_ids: Sequence[int],
        query_text: str,
        top_k: int,
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        """Best BM25 matches, scores positive; ``score == keyword_score``."""

    def hybrid_search(
        self,
        *,
        kb_ids: Sequence[int],
        query_text: str,
        query_vector: Vectors,
        top_k: int,
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
        weights: tuple[float, float] = (1.0, 1.0),
        rrf_k: int = 60,
        candidates: int = 50,
    ) -> list[Hit]:
        """Dense and keyword candidates fused by weighted reciprocal rank.

        ``weights`` are (dense, keyword). Each hit keeps the raw score of every list it was
        found in; a score is None when the chunk was not among that list's candidates.
        """
        n = max(candidates, top_k)
        dense = self.dense_search(
            kb_ids=kb_ids,
            query_vector=query_vector,
            top_k=n,
            kind=kind,
            lang=lang,
            document_ids=document_ids,
        )
        keyword = self.keyword_search(
            kb_ids=kb_ids,
            query_text=query_text,
            top_k=n,
            kind=kind,
            lang=lang,
            document_ids=document_ids,
        )
        return rrf_fuse(dense, keyword, weights=weights, rrf_k=rrf_k, top_k=top_k)

    @abstractmethod
    def count(self, *, kb_id: int | None = None, document_id: int | None = None) -> int: ...

    @abstractmethod
    def get_chunks(self, *, document_id: int) -> list[Chunk]:
        """Every stored chunk of a document, ordered by (version, ordinal)."""

    @abstractmethod
    def close(self) -> None: ...


@dataclass(slots=True)
class _Fused:
    chunk: Chunk
    score: float = 0.0
    dense_score: float | None = None
    keyword_score: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def rrf_fuse(
    dense: Sequence[Hit],
    keyword: Sequence[Hit],
    *,
    weights: tuple[float, float] = (1.0, 1.0),
    rrf_k: int = 60,
    top_k: int,
) -> list[Hit]:
    """Weighted reciprocal rank fusion: ``score = sum(w / (rrf_k + rank))``, ranks from 1.

    Ranks, not raw scores, are fused because cosine and BM25 live on unrelated scales.
    ``extra`` records each list's rank (``dense_rank``, ``keyword_rank``) for tuning.
    """
    if rrf_k <= 0 or min(weights) < 0:
        raise ValueError("rrf_k must be positive and weights non-negative")
    fused: dict[str, _Fused] = {}
    for name, hits, weight in (("dense", dense, weights[0]), ("keyword", keyword, weights[1])):
        for rank, hit in enumerate(hits, start=1):
            entry = fused.setdefault(hit.chunk.chunk_id, _Fused(hit.chunk))
            entry.score += weight / (rrf_k + rank)
            entry.extra[f"{name}_rank"] = float(rank)
            if name == "dense":
                entry.dense_score = hit.dense_score
            else:
                entry.keyword_score = hit.keyword_score
    ordered = sorted(fused.values(), key=lambda e: (-e.score, e.chunk.chunk_id))
    return [
        Hit(
            e.chunk,
            e.score,
            dense_score=e.dense_score,
            keyword_score=e.keyword_score,
            extra=e.extra,
        )
        for e in ordered[:top_k]
    ]
