"""The ``llm`` route: a search query (condensed by the LLM for elliptical follow-ups),
retrieval, then the agent over the passages and the customer's records, streaming.

Degraded modes: with no LLM, or the LLM failing before it said anything (down, timing out,
breaker open, refusing the request), the answer is the best passage quoted and cited when
retrieval is confident, otherwise an offer of a human. When it fails mid-answer, the
customer keeps what they saw and is told it was cut off. Never an exception to the channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.agent import extractive, lookup
from app.agent import prompts as agent_prompts
from app.agent.citations import cited_numbers
from app.agent.condense import condense
from app.agent.loop import Agent, AgentResult, ToolFinished, ToolStarted
from app.agent.memory import looks_elliptical
from app.conversation import images
from app.conversation.schemas import (
    Citation,
    Citations,
    Handoff,
    ReplyEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from app.conversation.state import Answer, Prepared
from app.llm import LLMError, LLMTimeout, LLMUnavailable
from app.llm import TextDelta as LLMText
from app.observability import metrics, tracing
from app.retrieval import service as retrieval_service
from app.retrieval.query import contextual_query
from app.retrieval.rerank import FUSED_RANK, RERANK_SCORE
from app.routing.service import ACCOUNT as ACCOUNT_INTENT
from app.runtime import Runtime
from app.tools.service import ToolContext
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.models import KnowledgeBase

log = logging.getLogger(__name__)


def citation(n: int, hit: Hit) -> Citation:
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


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


async def search_query(runtime: Runtime, prep: Prepared, text: str, ans: Answer) -> str:
    """The query to search with. A condensing call that finds the LLM unreachable sets
    ``ans.llm_down``, and the answer step then does not wait for it a second time."""
    llm = runtime.llm
    agent_settings = runtime.settings.agent
    if llm is not None and agent_settings.condense and prep.history and looks_elliptical(text):
        t0 = time.perf_counter()
        try:
            rewritten = await condense(
                llm,
                agent_prompts.load(),
                history=prep.history,
                question=text,
                first_token_timeout=agent_settings.condense_timeout,
            )
        except LLMError as exc:
            # Searching with the last exchange is nearly as good.
            log.info("condense failed", extra={"error": type(exc).__name__})
            if isinstance(exc, LLMUnavailable):
                ans.error, ans.llm_down = f"{type(exc).__name__}: {exc}", True
            rewritten = None
        ans.timings["condense_ms"] = _ms(t0)
        if rewritten:
            return images.search_text(prep, rewritten)
    return images.search_text(prep, contextual_query(text, prep.history))


def answering_kbs(runtime: Runtime, db_session: Session) -> list[KnowledgeBase]:
    """The knowledge bases turns answer from (all of them unless settings name some)."""
    names = runtime.settings.agent.knowledge_bases
    kbs = knowledge_service.list_kbs(db_session=db_session)
    return [kb for kb in kbs if not names or kb.name in names]


def retrieve(runtime: Runtime, query: str, kbs: list[KnowledgeBase] | None = None) -> list[Hit]:
    """The passages a turn answers from (the console's hit-testing shows the same); ``kbs``:
    the turn's answering knowledge bases when it has listed them already."""
    settings = runtime.settings
    with runtime.session_factory() as db_session:
        if kbs is None:
            kbs = answering_kbs(runtime, db_session)
        if not kbs:
            return []
        return retrieval_service.search(
            db_session=db_session,
            index=runtime.index,
            kbs=kbs,
            query=query,
            params=retrieval_service.SearchParams(top_k=settings.agent.top_k),
            embedder=runtime.router,
            reranker=runtime.reranker,
        )


async def _without_llm(
    runtime: Runtime, prep: Prepared, text: str, hits: list[Hit], ans: Answer
) -> list[ReplyEvent]:
    """The answer when the LLM cannot give one: the customer's own record for an account
    question, the best passage quoted for anything else."""
    if ans.intent != ACCOUNT_INTENT:
        return _extractive(runtime, hits, ans)
    settings = runtime.settings
    ctx = ToolContext(customer_id=prep.customer_id, conversation_id=prep.conversation_id)
    found = await lookup.answer(
        text,
        lang=ans.lang,
        ctx=ctx,
        tools=runtime.tools,
        hours=settings.service_hours,
        app=settings.account_app,
    )
    ans.text = found.text
    ans.tool_calls = [*ans.tool_calls, *found.tool_calls]
    ans.citations = []
    ans.prompt_version = "lookup-v1"
    events: list[ReplyEvent] = []
    for call in found.tool_calls:
        events += [
            ToolCallStarted(call["name"], call["arguments"]),
            ToolCallFinished(call["name"], call["result"]),
        ]
    return [*events, TextDelta(ans.text)]


def _extractive(runtime: Runtime, hits: list[Hit], ans: Answer) -> list[ReplyEvent]:
    """The no-LLM answer, filled into ``ans``, and the events that show it."""
    settings = runtime.settings
    found = extractive.answer(
        hits,
        lang=ans.lang,
        min_score=settings.agent.extractive_min_score,
        service_hours=settings.service_hours,
    )
    ans.text = found.text
    ans.citations = [citation(1, found.hit)] if found.hit else []
    ans.prompt_version = "extractive-v1"
    events: list[ReplyEvent] = [TextDelta(ans.text)]
    if ans.citations:
        events.append(Citations(tuple(ans.citations)))
    return events


def _messages(
    runtime: Runtime, prep: Prepared, text: str, hits: list[Hit], ans: Answer
) -> list[dict[str, Any]]:
    settings = runtime.settings
    prompts = agent_prompts.load()
    system = prompts.system(
        lang=ans.lang,
        company=settings.company_name,
        bot=settings.bot_name,
        now=datetime.now(ZoneInfo(settings.timezone)),
        hours=settings.service_hours,
        logged_in=prep.customer_id is not None,
        summary=prep.summary,
        # The customer's images come first: [1] is "your image" when there is one.
        passages=[*images.passages(prep, ans.lang), *(h.chunk for h in hits)],
    )
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    messages.extend({"role": role, "content": content} for role, content in prep.history)
    messages.append({"role": "user", "content": images.user_content(prep, text, ans.lang)})
    return messages


def _handoff_notice(runtime: Runtime, ans: Answer, text: str) -> str:
    """What to add so a customer handed to a person knows when people answer: nothing when
    the model already said it."""
    hours = runtime.settings.service_hours
    if text and hours in text:
        return ""
    notice = agent_prompts.load().handoff_notice(ans.lang, hours=hours)
    return notice if text else notice.strip()


async def answer_llm(
    runtime: Runtime, prep: Prepared, text: str, ans: Answer, *, turn_started: float
) -> AsyncIterator[ReplyEvent]:
    """Fill ``ans`` for the llm route, yielding what the customer should see as it comes."""
    started = time.perf_counter()
    query = await search_query(runtime, prep, text, ans)
    t0 = time.perf_counter()
    try:
        with tracing.span("kefu.retrieve"):
            hits = await run_in_threadpool(retrieve, runtime, query, prep.kbs)
    except Exception as exc:
        # The vector store (or its SQL lookup) is down: the agent can still use the
        # customer's records, and without passages it says it has none and offers a human.
        log.exception("retrieval failed; answering without passages")
        hits = []
        ans.error = f"retrieval: {type(exc).__name__}: {exc}"[:500]
    ans.timings["retrieve_ms"] = _ms(t0)
    metrics.RETRIEVAL.observe(time.perf_counter() - t0)
    ans.search_query = query
    ans.retrieved = [
        {
            "chunk_id": h.chunk.chunk_id,
            "document_id": h.chunk.document_id,
            "source": h.chunk.source,
            "score": h.score,
            "dense_score": h.dense_score,
            "keyword_score": h.keyword_score,
            # Present when a reranker ordered the list; absent when it failed or is off.
            **{k: h.extra[k] for k in (RERANK_SCORE, FUSED_RANK) if k in h.extra},
        }
        for h in hits
    ]
    llm = runtime.llm
    if llm is None or ans.llm_down:
        for reply in await _without_llm(runtime, prep, text, hits, ans):
            yield reply
        return

    t1 = time.perf_counter()
    prompts = agent_prompts.load()
    ans.prompt_version, ans.model = prompts.version, llm.model
    messages = _messages(runtime, prep, text, hits, ans)
    ans.timings["agent_prep_ms"] = _ms(t1)  # prompt, history and tools assembled
    # Everything kefu does between receiving the message and asking the model.
    ans.timings["before_llm_ms"] = _ms(turn_started)
    agent = Agent(llm, runtime.tools, max_rounds=runtime.settings.agent.max_tool_rounds)
    result = AgentResult()
    ctx = ToolContext(customer_id=prep.customer_id, conversation_id=prep.conversation_id)
    mode = runtime.settings.llm.thinking
    thinking = mode == "on" or (mode == "auto" and ans.needs_reasoning)
    events = agent.run(messages, ctx=ctx, thinking=thinking, result=result)
    try:
        async for event in events:
            if isinstance(event, LLMText):
                yield TextDelta(event.text)
            elif isinstance(event, ToolStarted):
                yield ToolCallStarted(event.name, event.arguments)
            elif isinstance(event, ToolFinished):
                yield ToolCallFinished(event.name, event.result)
    except LLMError as exc:
        ans.error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "LLM failed; answering without it",
            extra={
                "conversation_id": prep.conversation_id,
                "error": type(exc).__name__,
                "breaker_open": isinstance(exc, LLMUnavailable) and exc.breaker_open,
                "timeout": isinstance(exc, LLMTimeout),
            },
        )
        if not result.text.strip() and not result.handoff:
            # Nothing reached the customer: answer as if there were no LLM.
            ans.tool_calls = result.tool_calls
            ans.timings["llm_ms"] = round(result.llm_s * 1000, 1)
            for reply in await _without_llm(runtime, prep, text, hits, ans):
                yield reply
            return
        if result.text.strip():
            note = prompts.interrupted(ans.lang)
            result.text += note
            yield TextDelta(note)
        # A handoff the agent made stands: the notice below tells the customer.
    finally:
        await events.aclose()

    ans.text = result.text.strip()
    ans.tool_calls = result.tool_calls
    ans.prompt_tokens, ans.completion_tokens = result.prompt_tokens, result.completion_tokens
    ans.timings["llm_ms"] = round(result.llm_s * 1000, 1)
    if result.first_token_s is not None:
        ans.timings["llm_first_token_ms"] = round(result.first_token_s * 1000, 1)
    ans.timings["agent_ms"] = _ms(started)
    seen = images.passages(prep, ans.lang)
    used = cited_numbers(ans.text, available=len(seen) + len(hits))
    ans.citations = [
        images.citation(n, seen[n - 1]) if n <= len(seen) else citation(n, hits[n - len(seen) - 1])
        for n in used
    ]
    if result.handoff:
        notice = _handoff_notice(runtime, ans, ans.text)
        if notice:
            yield TextDelta(notice)
            ans.text = (ans.text + notice).strip()
        ans.handoff, ans.handoff_reason = True, result.handoff_reason
        yield Handoff(reason=result.handoff_reason or "request_human", message=ans.text)
    if ans.citations:
        yield Citations(tuple(ans.citations))
    if not ans.text:
        # A model that answered with nothing (e.g. only thinking, cut by max_tokens).
        for reply in await _without_llm(runtime, prep, text, hits, ans):
            yield reply
