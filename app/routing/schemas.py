"""What the router takes in and hands back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Route = Literal["handoff", "smalltalk", "faq", "llm"]
Vectors = npt.NDArray[np.float32]


class QueryEmbedder(Protocol):
    """The part of ``knowledge.embeddings.Embedder`` the router needs.

    Rows are L2-normalised, so a dot product is a cosine. Messages, exemplars and FAQ
    questions are all embedded as queries: matching a question with a question is symmetric.
    An FAQ pair as a whole (question and answer) is embedded as a passage, to ask whether its
    answer answers the message, which is what retrieval models are trained for.
    """

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ pair as stored in the knowledge base."""

    chunk_id: str
    question: str
    variants: tuple[str, ...]  # paraphrases of ``question``, without it
    answer: str
    source: str
    document_id: int


@dataclass(frozen=True)
class FaqFeatures:
    """How a message relates to its best FAQ; the inputs of the FAQ-or-agent decision."""

    score: float  # cosine to the FAQ's closest variant
    calibrated: float  # the same on this knowledge base's own scale (see calibration.py)
    calibrated_margin: float  # ahead of the best other FAQ, on that scale
    # Share of the message's content words found in the FAQ pair; None when the pair has no
    # text in the message's language.
    coverage: float | None
    new_numbers: int  # numbers in the message the FAQ pair does not contain
    relative_length: float  # log of the message's length over a typical FAQ question's
    # How well the pair's answer answers the message (query-passage cosine), in standard
    # deviations above this FAQ's mean for the message.
    answer_relevance: float
    variant: str  # the FAQ question or paraphrase that matched


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    intent: str
    confidence: float
    faq: FaqEntry | None = None
    # Template reply for smalltalk and handoff, the FAQ's answer verbatim for faq.
    reply: str | None = None
    # An explicit multi-step calculation: Qwen3 thinks on it when KEFU_LLM_THINKING=auto.
    needs_reasoning: bool = False
    lang: str = "zh"
    # Why: the scores behind the decision, for the conversation trace.
    signals: dict[str, float] = field(default_factory=dict)
    # The best FAQ when the agent was chosen over it: what a tie-breaker would weigh.
    candidate: FaqEntry | None = None
