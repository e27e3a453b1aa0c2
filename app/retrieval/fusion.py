"""Turning per-language candidate lists into one answer list: pure functions over hits.

Two steps, both rank-based, because the scores they combine are not comparable: cosine
similarity between a Chinese question and an English passage runs systematically lower than
within one language (multilingual-e5 puts them on different scales), and BM25 cannot match
across languages at all.

1. ``diversify``: within one language, each document's best chunk first, in order of those
   best chunks; a document's second chunk only after every document's first. The answer to
   a question usually sits in one document; showing five chunks of two documents would
   crowd out the document that holds it.
2. ``interleave``: the languages' lists merged by weighted reciprocal rank of their
   positions, so with equal weights they alternate, the query's language first. The
   document in the other language gets a slot of its own however low its raw similarity.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from knowledge.chunks import Hit

# Small: positions 1, 2, 3… of lists with equal weights must alternate, and a lower weight
# should cost a list a slot or two, not push it out of the top five altogether.
INTERLEAVE_K = 1


def diversify(hits: Sequence[Hit], *, per_document: int) -> list[Hit]:
    """Round-robin over documents in order of their best hit, at most ``per_document`` each."""
    if per_document < 1:
        raise ValueError("per_document must be at least 1")
    by_document: dict[int, list[Hit]] = defaultdict(list)
    for hit in hits:
        chunks = by_document[hit.chunk.document_id]
        if len(chunks) < per_document:
            chunks.append(hit)
    rounds = max((len(chunks) for chunks in by_document.values()), default=0)
    return [
        chunks[turn]
        for turn in range(rounds)
        for chunks in by_document.values()
        if turn < len(chunks)
    ]


def interleave(
    lists: Sequence[tuple[float, Sequence[Hit]]], *, rrf_k: int = INTERLEAVE_K
) -> list[Hit]:
    """Merge (weight, hits) lists: ``score = weight / (rrf_k + position)``, best first.

    A document found in several lists (an FAQ file with questions in both languages) is
    ranked in the one where it places best and dropped from the others, so it takes one
    slot, not one per language. Ties go to the earlier list: put the query's language first.
    """
    if rrf_k <= 0 or any(weight < 0 for weight, _ in lists):
        raise ValueError("rrf_k must be positive and weights non-negative")
    home: dict[int, tuple[float, int]] = {}
    for order, (weight, hits) in enumerate(lists):
        for position, hit in enumerate(hits, start=1):
            score = weight / (rrf_k + position)
            document_id = hit.chunk.document_id
            if document_id not in home or score > home[document_id][0]:
                home[document_id] = (score, order)
    ranked: list[tuple[float, int, int, Hit]] = []
    for order, (weight, hits) in enumerate(lists):
        kept = [hit for hit in hits if home[hit.chunk.document_id][1] == order]
        for position, hit in enumerate(kept, start=1):
            ranked.append((weight / (rrf_k + position), order, position, hit))
    ranked.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    return [
        dataclasses.replace(
            hit, score=score, extra={**hit.extra, "list": float(order), "list_rank": float(rank)}
        )
        for score, order, rank, hit in ranked
    ]
