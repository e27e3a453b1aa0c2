"""Search a knowledge base the way every channel and the evaluation command do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.errors import AppError
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.index import KnowledgeIndex
from knowledge.models import KnowledgeBase


class EmbeddingModelMismatch(AppError):
    status_code = 409
    code = "reindex_required"


@dataclass(frozen=True)
class SearchParams:
    top_k: int = 5
    candidates: int = 40
    per_document: int = 2
    score_floor: float = 0.0
    kind: str | None = None
    lang: str | None = None


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
) -> list[Hit]:
    if not kbs or not query.strip():
        return []
    for kb in kbs:
        check_model(kb, index)
    store = index.store(model_name=kbs[0].embedding_model, dim=kbs[0].embedding_dim)
    vector = index.embedder.embed_queries([query])[0]
    hits = store.hybrid_search(
        kb_ids=[kb.id for kb in kbs],
        query_text=query,
        query_vector=vector,
        top_k=params.candidates,
        candidates=params.candidates,
        kind=params.kind,
        lang=params.lang,
    )
    # Only each document's switched-to version is visible (see ingestion.pipeline).
    live = knowledge_service.indexed_versions(
        db_session=db_session, document_ids=[h.chunk.document_id for h in hits]
    )
    per_doc: Counter[int] = Counter()
    out: list[Hit] = []
    for hit in hits:
        doc_id = hit.chunk.document_id
        if live.get(doc_id) != hit.chunk.version or hit.score < params.score_floor:
            continue
        if per_doc[doc_id] >= params.per_document:
            continue
        per_doc[doc_id] += 1
        out.append(hit)
        if len(out) >= params.top_k:
            break
    return out
