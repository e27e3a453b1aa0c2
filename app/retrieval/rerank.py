"""The reranking stage: a cross-encoder reorders the fused candidates, within a deadline.

Fusion ranks by positions in the dense and keyword lists; a cross-encoder reads the question
beside each passage, which is slower and better. It sees the first ``top_n`` fused
candidates and nothing else. It is an improvement, never a dependency: slow past its
deadline, down, or answering nonsense, the fused order stands and the answer still comes.

Each hit keeps its fused ``score``; the reranker's is ``extra["rerank_score"]`` and the
fused position ``extra["fused_rank"]``, so a trace shows both.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from app.core.config import RerankerSettings
from knowledge.chunks import Hit
from knowledge.rerank import Reranker, build_reranker

log = logging.getLogger(__name__)

RERANK_SCORE = "rerank_score"
FUSED_RANK = "fused_rank"
# Searches that may wait on the reranker at once; beyond that they queue, and a queue longer
# than the deadline falls back to the fused order like a slow reranker does.
_WORKERS = 8


def passage_text(hit: Hit) -> str:
    """What the reranker reads: an FAQ's question with its answer, a passage's own text."""
    chunk = hit.chunk
    if chunk.kind == "faq":
        return f"{chunk.text}\n{chunk.content}"
    return chunk.text


class RerankStage:
    def __init__(self, reranker: Reranker, *, top_n: int, timeout: float) -> None:
        if top_n < 1 or timeout <= 0:
            raise ValueError("top_n must be at least 1 and timeout positive")
        self.reranker = reranker
        self.top_n = top_n
        self.timeout = timeout
        # The deadline is kept here, not only in the backend: a local cross-encoder cannot be
        # interrupted, so the search stops waiting for it instead.
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="rerank")

    @classmethod
    def from_settings(cls, settings: RerankerSettings) -> RerankStage | None:
        reranker = build_reranker(settings)
        if reranker is None:
            return None
        return cls(reranker, top_n=settings.top_n, timeout=settings.timeout)

    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int) -> list[Hit]:
        """The first ``top_k`` of ``hits`` after reordering the first ``top_n`` by the
        reranker's scores; ``hits[:top_k]`` unchanged if it fails or misses its deadline."""
        candidates = list(hits[: self.top_n])
        if not candidates:
            return []
        started = time.perf_counter()
        future = self._pool.submit(
            self.reranker.score, query, [passage_text(h) for h in candidates]
        )
        try:
            scores = future.result(timeout=self.timeout)
            if len(scores) != len(candidates):
                raise ValueError(f"{len(scores)} scores for {len(candidates)} passages")
        except Exception as exc:  # any failure: the fused order is the answer
            future.cancel()
            log.warning(
                "rerank failed; keeping the fused order",
                extra={
                    "reranker": self.reranker.model_name,
                    "error": "timeout" if isinstance(exc, FutureTimeout) else repr(exc)[:300],
                    "rerank_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return list(hits[:top_k])
        scored = [
            dataclasses.replace(
                hit,
                extra={**hit.extra, RERANK_SCORE: float(score), FUSED_RANK: float(rank)},
            )
            for rank, (hit, score) in enumerate(zip(candidates, scores, strict=True), start=1)
        ]
        # Stable: equal scores keep their fused order.
        scored.sort(key=lambda h: -h.extra[RERANK_SCORE])
        return [*scored, *hits[self.top_n :]][:top_k]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.reranker.close()
