"""What the Dify routes do: retrieval records, extension points and the custom tools."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.config import Settings
from app.dify import metadata
from app.dify.errors import KNOWLEDGE_NOT_FOUND, DifyError
from app.dify.schemas import (
    AskToolResponse,
    ExternalDataParams,
    ModerationInputParams,
    ModerationOutputParams,
    Record,
    RecordMetadata,
    RetrievalRequest,
    ToolCitation,
)
from app.moderation import SensitiveWordFilter, check
from app.retrieval import service as retrieval_service
from app.runtime import Runtime
from app.tools.service import ToolContext
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.index import KnowledgeIndex
from knowledge.models import KnowledgeBase

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
# With a metadata filter the filter runs after the search, so the search must reach deep
# enough for the filtered list to still fill top_k.
FILTERED_CANDIDATES = 200
EXTERNAL_DATA_PASSAGES = 3
CHANNEL = "dify"


def find_kb(*, db_session: Session, ref: str) -> KnowledgeBase:
    kb = knowledge_service.get_kb(db_session=db_session, ref=ref.strip())
    if kb is None:
        raise DifyError(404, KNOWLEDGE_NOT_FOUND, f"The knowledge base {ref!r} does not exist.")
    return kb


def _cosines(index: KnowledgeIndex, query: str, hits: Sequence[Hit]) -> list[float]:
    """Each hit's cosine similarity to the query, clipped to 0–1.

    The fused rank score only orders; a threshold needs a similarity. Hits found by keyword
    alone carry no dense score, so those few are embedded here (vectors are L2-normalised).
    """
    missing = [h.chunk.text for h in hits if h.dense_score is None]
    extra: list[float] = []
    if missing:
        query_vector = index.embedder.embed_queries([query])[0]
        extra = [float(v) for v in index.embedder.embed_passages(missing) @ query_vector]
    scores: list[float] = []
    for hit in hits:
        raw = hit.dense_score if hit.dense_score is not None else extra.pop(0)
        # Rounded before the threshold compares it, so a threshold copied from a record's
        # score keeps that record.
        scores.append(round(float(np.clip(raw, 0.0, 1.0)), 6))
    return scores


def _record(hit: Hit, score: float, kb: KnowledgeBase) -> Record:
    c = hit.chunk
    return Record(
        content=c.content,
        score=score,
        title=c.source,
        metadata=RecordMetadata(
            document_id=str(c.document_id),
            document_name=c.source,
            chunk_id=c.chunk_id,
            knowledge_base=kb.name,
            heading_path=list(c.heading_path),
            page=c.page,
            kind=c.kind,
            lang=c.lang,
        ),
    )


def retrieve(*, db_session: Session, index: KnowledgeIndex, body: RetrievalRequest) -> list[Record]:
    """Records for Dify, in the service's retrieval order, each scored by cosine similarity."""
    kb = find_kb(db_session=db_session, ref=body.knowledge_id)
    query = body.query.strip()
    if not query:
        return []
    top_k = body.retrieval_setting.top_k or DEFAULT_TOP_K
    threshold = body.retrieval_setting.score_threshold or 0.0
    filtered = metadata.is_active(body.metadata_condition)
    wanted = FILTERED_CANDIDATES if filtered else min(top_k * 3, 100)
    params = retrieval_service.SearchParams(
        top_k=wanted,
        candidates=max(40, wanted),
        # Dify asked for top_k chunks: the round-robin still puts each document's best first,
        # but no document is cut off at two.
        per_document=max(top_k, 2),
    )
    hits = retrieval_service.search(
        db_session=db_session, index=index, kbs=[kb], query=query, params=params
    )
    hits = [h for h in hits if metadata.matches(h.chunk, body.metadata_condition)]
    records = [
        _record(hit, score, kb)
        for hit, score in zip(hits, _cosines(index, query, hits), strict=True)
        if score >= threshold
    ]
    return records[:top_k]


# --- API-based extension ---------------------------------------------------------------


def _agent_kbs(db_session: Session, runtime: Runtime) -> list[KnowledgeBase]:
    names = runtime.settings.agent.knowledge_bases
    embedder = runtime.index.embedder
    return [
        kb
        for kb in knowledge_service.list_kbs(db_session=db_session)
        if (not names or kb.name in names)
        and (kb.embedding_model, kb.embedding_dim) == (embedder.model_name, embedder.dim)
    ]


def external_data(
    *, db_session: Session, runtime: Runtime, params: ExternalDataParams
) -> dict[str, str]:
    """``app.external_data_tool.query``: the best passages as text for the app's prompt."""
    query = (params.query or "").strip() or " ".join(
        str(v) for v in params.inputs.values() if isinstance(v, str | int | float) and str(v)
    )
    kbs = _agent_kbs(db_session, runtime)
    if not query.strip() or not kbs:
        return {"result": ""}
    hits = retrieval_service.search(
        db_session=db_session,
        index=runtime.index,
        kbs=kbs,
        query=query,
        params=retrieval_service.SearchParams(top_k=EXTERNAL_DATA_PASSAGES),
        reranker=runtime.reranker,
    )
    blocks = []
    for n, hit in enumerate(hits, start=1):
        c = hit.chunk
        where = " › ".join([c.source, *c.heading_path])
        blocks.append(f"[{n}] {where}\n{c.content.strip()}")
    return {"result": "\n\n".join(blocks)}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def refusal(settings: Settings) -> str:
    return (
        f"抱歉，您的消息包含不适宜的内容，{settings.bot_name}无法处理。请换一种说法描述您的问题。"
        "Sorry, your message contains content we cannot process. Please rephrase it."
    )


def moderate_input(
    *, params: ModerationInputParams, word_filter: SensitiveWordFilter, settings: Settings
) -> dict[str, Any]:
    """``app.moderation.input``: a flagged message is answered with a preset refusal.

    ``action`` is present even when nothing is flagged: Dify builds its result model from
    this body and the field has no default there.
    """
    texts = [params.query or "", *_strings(params.inputs)]
    words = tuple(dict.fromkeys(w for t in texts for w in check(t, word_filter=word_filter).words))
    if not words:
        return {"flagged": False, "action": "direct_output", "preset_response": ""}
    log.info(
        "dify input flagged by the sensitive-word filter",
        extra={"app_id": params.app_id, "words": len(words)},
    )
    return {"flagged": True, "action": "direct_output", "preset_response": refusal(settings)}


def moderate_output(
    *, params: ModerationOutputParams, word_filter: SensitiveWordFilter
) -> dict[str, Any]:
    """``app.moderation.output``: the answer goes out with the matched words masked.

    Dify sends a streamed answer in 100-character pieces, so masking keeps the rest of a
    useful answer instead of replacing it whole.
    """
    verdict = check(params.text, word_filter=word_filter)
    if not verdict.flagged:
        return {"flagged": False, "action": "direct_output", "preset_response": ""}
    log.info(
        "dify output flagged by the sensitive-word filter",
        extra={"app_id": params.app_id, "words": len(verdict.words)},
    )
    return {"flagged": True, "action": "overridden", "text": verdict.masked}


# --- Custom tools ----------------------------------------------------------------------


def dify_user(*, key_id: int, user: str) -> str:
    # One Dify key is one workspace: the same end-user id in two workspaces is two people.
    return f"{key_id}:{user}"


async def ask(
    runtime: Runtime, *, key_id: int, question: str, user: str, customer_id: str | None
) -> AskToolResponse:
    outcome = await run_turn(
        runtime,
        TurnRequest(
            channel=CHANNEL,
            text=question,
            external_user_id=dify_user(key_id=key_id, user=user),
            # Older Dify releases send an omitted optional parameter as null, models often "".
            customer_id=customer_id or None,
        ),
    )
    return AskToolResponse(
        answer=outcome.answer,
        conversation_id=outcome.conversation_id,
        message_id=outcome.message_id,
        route=outcome.route,
        handoff=outcome.handoff,
        citations=[
            ToolCitation(
                n=c.n,
                source=c.source,
                document_id=c.document_id,
                heading_path=list(c.heading_path),
                page=c.page,
                excerpt=c.excerpt,
            )
            for c in outcome.citations
        ],
    )


async def order(runtime: Runtime, *, customer_id: str, order_id: str | None) -> dict[str, Any]:
    """The order, the latest orders, or ``{"error", "message"}`` the model can act on."""
    result = await runtime.tools.run(
        "get_order",
        {"order_id": order_id or None},
        ToolContext(customer_id=customer_id, conversation_id=CHANNEL),
    )
    # The runner's messages name the agent's tool; Dify's model knows this one as lookup_order.
    if isinstance(result.get("message"), str):
        result["message"] = result["message"].replace("get_order", "lookup_order")
    return result
