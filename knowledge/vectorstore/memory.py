"""A vector store in a dict, for unit tests of the packages that use one.

Same contract as Milvus (idempotent upserts, the same filters, cosine scores, positive BM25
scores over the same terms) but no persistence and linear scans. Components that talk to
the vector store still need tests against real Milvus Lite.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from knowledge.chunks import Chunk, Hit
from knowledge.vectorstore.analysis import tokenize
from knowledge.vectorstore.base import SearchFilter, Vectors, VectorStore

BM25_K1 = 1.2
BM25_B = 0.75


class InMemoryVectorStore(VectorStore):
    def __init__(self, *, dim: int) -> None:
        self.dim = dim
        self._chunks: dict[str, Chunk] = {}
        self._vectors: dict[str, Vectors] = {}
        self._terms: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def ensure_collection(self) -> None:
        pass

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.shape != (len(chunks), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(chunks)}, {self.dim}), got {matrix.shape}"
            )
        with self._lock:
            for chunk, vector in zip(chunks, matrix, strict=True):
                norm = float(np.linalg.norm(vector))
                self._chunks[chunk.chunk_id] = chunk
                self._vectors[chunk.chunk_id] = vector / norm if norm else vector
                self._terms[chunk.chunk_id] = Counter(tokenize(chunk.text))

    def delete_by_document(
        self,
        document_id: int,
        *,
        except_version: int | None = None,
        only_version: int | None = None,
    ) -> None:
        if except_version is not None and only_version is not None:
            raise ValueError("pass except_version or only_version, not both")
        self._delete_where(
            lambda c: (
                c.document_id == document_id
                and (except_version is None or c.version != except_version)
                and (only_version is None or c.version == only_version)
            )
        )

    def delete_by_kb(self, kb_id: int) -> None:
        self._delete_where(lambda c: c.kb_id == kb_id)

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
        query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,):
            raise ValueError(f"expected a query vector of {self.dim} floats, got {query.shape}")
        norm = float(np.linalg.norm(query))
        query = query / norm if norm else query
        with self._lock:
            candidates = self._candidates(SearchFilter.of(kb_ids, kind, lang, document_ids))
            scored = [(float(self._vectors[c.chunk_id] @ query), c) for c in candidates]
        return [Hit(c, s, dense_score=s) for s, c in _best(scored, top_k)]

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
        query_terms = set(tokenize(query_text))
        with self._lock:
            candidates = self._candidates(SearchFilter.of(kb_ids, kind, lang, document_ids))
            if not query_terms or not candidates:
                return []
            # Statistics over the whole store, as one Milvus segment would have them.
            total = len(self._terms)
            avg_len = sum(sum(t.values()) for t in self._terms.values()) / total or 1.0
            df = {q: sum(1 for t in self._terms.values() if q in t) for q in query_terms}
            scored = []
            for chunk in candidates:
                terms = self._terms[chunk.chunk_id]
                length = sum(terms.values())
                score = 0.0
                for q in query_terms:
                    tf = terms.get(q, 0)
                    if tf:
                        idf = math.log(1 + (total - df[q] + 0.5) / (df[q] + 0.5))
                        norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len)
                        score += idf * tf * (BM25_K1 + 1) / (tf + norm)
                if score > 0:
                    scored.append((score, chunk))
        return [Hit(c, s, keyword_score=s) for s, c in _best(scored, top_k)]

    def count(self, *, kb_id: int | None = None, document_id: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self._chunks.values()
                if (kb_id is None or c.kb_id == kb_id)
                and (document_id is None or c.document_id == document_id)
            )

    def get_chunks(self, *, document_id: int) -> list[Chunk]:
        with self._lock:
            found = [c for c in self._chunks.values() if c.document_id == document_id]
        return sorted(found, key=lambda c: (c.version, c.ordinal))

    def close(self) -> None:
        pass

    def _candidates(self, where: SearchFilter) -> list[Chunk]:
        if where.matches_nothing:
            return []
        return [c for c in self._chunks.values() if where.accepts(c)]

    def _delete_where(self, doomed: Callable[[Chunk], bool]) -> None:
        with self._lock:
            for chunk_id in [i for i, c in self._chunks.items() if doomed(c)]:
                del self._chunks[chunk_id], self._vectors[chunk_id], self._terms[chunk_id]


def _best(scored: list[tuple[float, Chunk]], top_k: int) -> list[tuple[float, Chunk]]:
    if top_k < 0:
        raise ValueError(f"top_k must not be negative, got {top_k}")
    return sorted(scored, key=lambda sc: (-sc[0], sc[1].chunk_id))[:top_k]
