"""Knowledge gaps: the questions kefu answered badly, grouped by meaning.

A question is a gap when its answer came from the agent with weak evidence (the best
passage's cosine below ``min_score``, or nothing retrieved), cited nothing and used no tool
("not found"), or got a thumbs-down (any route). Groups are built greedily: each question
joins the first group whose leader it resembles (cosine ≥ ``similarity`` over the embedding
model's query vectors) or leads a new one. Greedy leader clustering is order-dependent, so
questions are taken oldest first and a re-run over the same range gives the same groups.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from app.analytics.schemas import GapExample, GapGroup, GapReason, Gaps
from app.analytics.turns import Turn, Window, load
from app.routing.vector_cache import VectorCache
from knowledge.embeddings import Embedder

# With multilingual-e5-small, paraphrases of one question score 0.97-0.98 (退货运费谁出 /
# 退货的运费由谁承担), other questions on the same topic 0.92-0.94 (怎么申请退货).
DEFAULT_SIMILARITY = 0.95
MAX_EXAMPLES = 5
# Embedding is the cost: a range with more gap questions keeps its newest ones.
MAX_QUESTIONS = 2000
AGENT_ROUTES = ("llm",)
# The questions' vectors, kept per embedding model between loads: the page is opened again and
# again over ranges that mostly overlap, and only the questions new since need the model.
_VECTORS: weakref.WeakKeyDictionary[Embedder, VectorCache] = weakref.WeakKeyDictionary()
_VECTORS_LOCK = threading.Lock()
REASONS: tuple[GapReason, ...] = ("low_confidence", "not_found", "thumbs_down")


@dataclass
class _Group:
    leader: int  # index into the questions
    members: list[int]


def reasons(turn: Turn, *, min_score: float) -> list[GapReason]:
    found: list[GapReason] = []
    if turn.route in AGENT_ROUTES and not turn.used_tools and not turn.handoff:
        if turn.top_score is None or turn.top_score < min_score:
            found.append("low_confidence")
        if not turn.cited:
            found.append("not_found")
    if turn.rating == "down":
        found.append("thumbs_down")
    return found


def cluster(vectors: np.ndarray, similarity: float) -> list[list[int]]:
    """Greedy leader clustering of L2-normalised rows, in row order."""
    groups: list[_Group] = []
    leaders = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for i, vec in enumerate(vectors):
        if len(groups):
            sims = leaders @ vec
            best = int(np.argmax(sims))
            if sims[best] >= similarity:
                groups[best].members.append(i)
                continue
        groups.append(_Group(leader=i, members=[i]))
        leaders = np.vstack([leaders, vec[None, :]])
    return [g.members for g in groups]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)


def _example(turn: Turn, why: list[GapReason]) -> GapExample:
    return GapExample(
        message_id=turn.message_id,
        conversation_id=turn.conversation_id,
        channel=turn.channel,
        question=turn.question,
        answer=turn.answer[:300],
        reasons=why,
        top_score=None if turn.top_score is None else round(turn.top_score, 4),
        comment=turn.comment,
        created_at=turn.created_at,
    )


def group(
    turns: Sequence[Turn], *, embedder: Embedder, min_score: float, similarity: float
) -> list[GapGroup]:
    candidates = [
        (t, why) for t in turns if t.question.strip() and (why := reasons(t, min_score=min_score))
    ]
    candidates = candidates[-MAX_QUESTIONS:]
    if not candidates:
        return []
    texts = sorted({t.question.strip() for t, _ in candidates})
    vectors = _normalised(_cache(embedder).embed(texts))
    row = {text: i for i, text in enumerate(texts)}
    ordered = _normalised(np.stack([vectors[row[t.question.strip()]] for t, _ in candidates]))
    groups = []
    for members in cluster(ordered, similarity):
        items = [candidates[i] for i in members]
        tally = Counter(r for _, rs in items for r in rs)
        examples: list[GapExample] = []
        seen: set[str] = set()
        for turn, rs in reversed(items):  # the newest examples first, one per wording
            key = turn.question.strip()
            if key not in seen and len(examples) < MAX_EXAMPLES:
                seen.add(key)
                examples.append(_example(turn, rs))
        groups.append(
            GapGroup(
                question=items[0][0].question.strip(),
                count=len(items),
                conversations=len({t.conversation_id for t, _ in items}),
                reasons={r: tally[r] for r in REASONS if tally[r]},
                last_seen=max(t.created_at for t, _ in items),
                examples=examples,
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp()))
    return groups


def gaps(
    *,
    db_session: Session,
    window: Window,
    embedder: Embedder,
    min_score: float,
    similarity: float = DEFAULT_SIMILARITY,
) -> Gaps:
    turns = load(db_session=db_session, window=window)
    groups = group(turns, embedder=embedder, min_score=min_score, similarity=similarity)
    return Gaps(
        start=window.start,
        end=window.end,
        questions=sum(g.count for g in groups),
        similarity=similarity,
        groups=groups,
    )


def _cache(embedder: Embedder) -> VectorCache:
    try:
        with _VECTORS_LOCK:
            found = _VECTORS.get(embedder)
            if found is None:
                found = _VECTORS[embedder] = VectorCache(embedder, size=2 * MAX_QUESTIONS)
            return found
    except TypeError:  # an embedder that cannot be weakly referenced or hashed: no reuse
        return VectorCache(embedder, size=2 * MAX_QUESTIONS)
