from __future__ import annotations

from pydantic import BaseModel, Field

from app.retrieval.rerank import RERANK_SCORE
from knowledge.chunks import Hit


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)
    kind: str | None = Field(None, pattern="^(doc|faq)$")


class SearchHit(BaseModel):
    chunk_id: str
    document_id: int
    version: int
    source: str
    heading_path: list[str]
    page: int | None
    kind: str
    lang: str
    content: str
    score: float
    dense_score: float | None
    keyword_score: float | None
    rerank_score: float | None = None

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        c = hit.chunk
        return cls(
            chunk_id=c.chunk_id,
            document_id=c.document_id,
            version=c.version,
            source=c.source,
            heading_path=list(c.heading_path),
            page=c.page,
            kind=c.kind,
            lang=c.lang,
            content=c.content,
            score=hit.score,
            dense_score=hit.dense_score,
            keyword_score=hit.keyword_score,
            rerank_score=hit.extra.get(RERANK_SCORE),
        )


class SearchResponse(BaseModel):
    hits: list[SearchHit]
