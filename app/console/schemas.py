from __future__ import annotations

from pydantic import BaseModel, Field

from app.retrieval.schemas import SearchHit


class HitTestRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)


class RouteOut(BaseModel):
    route: str
    intent: str | None
    confidence: float | None
    signals: dict[str, float]
    reply: str | None = Field(description="The rule or FAQ answer, for routes that have one.")


class HitTestResponse(BaseModel):
    route: RouteOut
    query: str
    hits: list[SearchHit]


class FaqPairIn(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=8000)
    paraphrases: list[str] = Field(default_factory=list, max_length=50)


class FaqPairOut(FaqPairIn):
    id: str = Field(description="The pair's place: '<document id>:<row>'.")
    document_id: int
    source: str
