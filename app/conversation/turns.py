"""One customer turn: load history, route, answer (rules, FAQ or agent), persist, trace.

Database and embedding work runs in worker threads so the event loop keeps streaming.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.agent import extractive
from app.conversation import service as conversation_service
from app.conversation.models import ConversationStatus, MessageRole
from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
    Handoff,
    ReplyEvent,
    TextDelta,
    TurnOutcome,
    TurnRequest,
)
from app.core.errors import NotFound, Unprocessable
from app.retrieval import service as retrieval_service
from app.retrieval.query import contextual_query, query_language
from app.routing import RouteDecision
from app.routing.faqs import ensure_loaded
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.models import KnowledgeBase

PROMPT_VERSION = "extractive-v1"


@dataclass
class _Prepared:
    conversation_id: str
    user_message_id: int
    status: ConversationStatus
    history: list[tuple[str, str]]
    replay: TurnOutcome | None = None


@dataclass
class _Answer:
    text: str
    route: str
    intent: str | None
    confidence: float | None
    citations: list[Citation] = field(default_factory=list)
    handoff: bool = False
    search_query: str | None = None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _prepare(runtime: Runtime, req: TurnRequest) -> _Prepared:
    text = req.text.strip()
    if not text:
        raise Unprocessable("message is empty")
    limit = runtime.settings.limits.max_message_chars
    if len(text) > limit:
        raise Unprocessable(f"message is longer than {limit} characters", details={"limit": limit})
    with runtime.session_factory.begin() as db_session:
        conv = None
        if req.conversation_id:
            conv = conversation_service.get(
                db_session=db_session, conversation_id=req.conversation_id
            )
            if conv is None:
                raise NotFound(f"conversation {req.conversation_id!r} not found")
        elif req.external_user_id:
            # Channels without conversation ids (WeChat, the OpenAI `user` field) continue the
            # user's open conversation.
            conv = conversation_service.find_open(
                db_session=db_session, channel=req.channel, external_user_id=req.external_user_id
            )
        if conv is None:
            conv = conversation_service.create(
                db_session=db_session,
                channel=req.channel,
                external_user_id=req.external_user_id,
                customer_id=req.customer_id,
            )
        elif req.customer_id and conv.customer_id != req.customer_id:
            conv.customer_id = req.customer_id  # a visitor who logged in mid-conversation
        if req.client_message_id:
            found = conversation_service.find_by_client_id(
                db_session=db_session,
                conversation_id=conv.id,
                client_message_id=req.client_message_id,
            )
            if found is not None and found[1] is not None:
                reply = found[1]
                return _Prepared(
                    conv.id,
                    found[0].id,
                    conv.status,
                    [],
                    TurnOutcome(
                        conversation_id=conv.id,
                        answer=reply.content,
                        route=reply.route or "",
                        citations=[Citation(**c) for c in reply.citations],
                        replayed=True,
                    ),
                )
        user = conversation_service.add_message(
            db_session=db_session,
            conversation=conv,
            role=MessageRole.USER,
            content=text,
            client_message_id=req.client_message_id,
        )
        turns = runtime.settings.agent.history_turns
        past = conversation_service.history(
            db_session=db_session, conversation_id=conv.id, before_id=user.id, turns=turns
        )
        return _Prepared(conv.id, user.id, conv.status, past)


def _kbs(runtime: Runtime, db_session: Any) -> list[KnowledgeBase]:
    names = runtime.settings.agent.knowledge_bases
    kbs = knowledge_service.list_kbs(db_session=db_session)
    return [kb for kb in kbs if not names or kb.name in names]


def _citation(n: int, hit: Hit) -> Citation:
    c = hit.chunk
    return Citation(
        n=n,
        source=c.source,
        document_id=c.document_id,
        chunk_id=c.chunk_id,
        heading_path=c.heading_path,
        page=c.page,
        kind=c.kind,
        excerpt=c.content[:300],
    )


def _answer(runtime: Runtime, prep: _Prepared, text: str) -> _Answer:
    settings = runtime.settings
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with runtime.session_factory() as db_session:
        kbs = _kbs(runtime, db_session)
        key = (
            ensure_loaded(
                router=runtime.router, db_session=db_session, index=runtime.index, kbs=kbs
            )
            if kbs
            else None
        )
        decision: RouteDecision = runtime.router.route(text, history=prep.history, kb_key=key)
        timings["route_ms"] = round((time.perf_counter() - start) * 1000, 1)
        ans = _Answer(
            text=decision.reply or "",
            route=decision.route,
            intent=decision.intent,
            confidence=decision.confidence,
            handoff=decision.route == "handoff",
            timings=timings,
        )
        if decision.route in ("handoff", "smalltalk"):
            return ans
        if decision.route == "faq" and decision.faq is not None:
            faq = decision.faq
            cite = Citation(
                n=1,
                source=faq.source,
                document_id=faq.document_id,
                chunk_id=faq.chunk_id,
                heading_path=("FAQ",),
                kind="faq",
                excerpt=faq.question,
            )
            ans.text, ans.citations = faq.answer, [cite]
            return ans

        query = contextual_query(text, prep.history)
        t0 = time.perf_counter()
        hits = retrieval_service.search(
            db_session=db_session,
            index=runtime.index,
            kbs=kbs,
            query=query,
            params=retrieval_service.SearchParams(top_k=settings.agent.top_k),
        )
        timings["retrieve_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    retrieved = [
        {
            "chunk_id": h.chunk.chunk_id,
            "document_id": h.chunk.document_id,
            "source": h.chunk.source,
            "score": h.score,
            "dense_score": h.dense_score,
            "keyword_score": h.keyword_score,
        }
        for h in hits
    ]
    found = extractive.answer(
        hits,
        lang=decision.lang or query_language(text),
        min_score=settings.agent.extractive_min_score,
        service_hours=settings.service_hours,
    )
    ans.text, ans.search_query, ans.retrieved = found.text, query, retrieved
    ans.citations = [_citation(1, found.hit)] if found.hit else []
    return ans


def _persist(runtime: Runtime, prep: _Prepared, ans: _Answer, started: float) -> int:
    latency = int((time.perf_counter() - started) * 1000)
    with runtime.session_factory.begin() as db_session:
        conv = conversation_service.get(db_session=db_session, conversation_id=prep.conversation_id)
        assert conv is not None
        if ans.handoff and conv.status == ConversationStatus.BOT:
            conversation_service.set_status(
                conversation=conv, status=ConversationStatus.AWAITING_HUMAN
            )
        msg = conversation_service.add_message(
            db_session=db_session,
            conversation=conv,
            role=MessageRole.ASSISTANT,
            content=ans.text,
            reply_to_id=prep.user_message_id,
            route=ans.route,
            citations=[c.as_dict() for c in ans.citations],
            latency_ms=latency,
        )
        ans.timings["total_ms"] = float(latency)
        conversation_service.add_trace(
            db_session=db_session,
            conversation_id=conv.id,
            message_id=msg.id,
            route=ans.route,
            intent=ans.intent,
            confidence=ans.confidence,
            search_query=ans.search_query,
            retrieved=ans.retrieved,
            tool_calls=[],
            prompt_version=PROMPT_VERSION,
            timings=ans.timings,
        )
        return msg.id


async def handle_turn(runtime: Runtime, req: TurnRequest) -> AsyncIterator[ReplyEvent]:
    """Answer one customer message as a stream of events (the same for every channel)."""
    started = time.perf_counter()
    prep = await run_in_threadpool(_prepare, runtime, req)
    if prep.replay is not None:
        out = prep.replay
        yield TextDelta(out.answer)
        if out.citations:
            yield Citations(tuple(out.citations))
        yield Done(prep.conversation_id, None, out.route, replayed=True)
        return
    if prep.status in (ConversationStatus.AWAITING_HUMAN, ConversationStatus.HUMAN):
        # A person holds this conversation: the bot stays silent, the message waits for them.
        yield Done(prep.conversation_id, None, "human")
        return
    ans = await run_in_threadpool(_answer, runtime, prep, req.text.strip())
    if ans.handoff:
        yield Handoff(reason=ans.intent or "handoff", message=ans.text)
    yield TextDelta(ans.text)
    if ans.citations:
        yield Citations(tuple(ans.citations))
    message_id = await run_in_threadpool(_persist, runtime, prep, ans, started)
    yield Done(prep.conversation_id, message_id, ans.route, ans.intent)


async def run_turn(runtime: Runtime, req: TurnRequest) -> TurnOutcome:
    """The whole turn collected, for channels that reply in one piece."""
    out = TurnOutcome()
    async for event in handle_turn(runtime, req):
        if isinstance(event, TextDelta):
            out.answer += event.text
        elif isinstance(event, Citations):
            out.citations.extend(event.items)
        elif isinstance(event, Handoff):
            out.handoff = True
        elif isinstance(event, Done):
            out.conversation_id, out.route, out.intent = (
                event.conversation_id,
                event.route,
                event.intent,
            )
            out.replayed = event.replayed
    return out
