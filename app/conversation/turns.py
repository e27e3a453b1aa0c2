"""One customer turn: load history, route, answer (rules, FAQ or agent), persist, trace.

Database and embedding work runs in worker threads so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.agent import prompts as agent_prompts
from app.conversation import images, retries, reuse, telemetry
from app.conversation import service as conversation_service
from app.conversation.answering import answer_llm, answering_kbs
from app.conversation.models import ConversationStatus, MessageRole
from app.conversation.prepare import prepare
from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
    Error,
    Handoff,
    ReplyEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnOutcome,
    TurnRequest,
)
from app.conversation.state import Answer, Prepared
from app.conversation.summary import schedule_summary
from app.core.bus import HANDOFF_TOPIC, conversation_topic
from app.core.errors import database_unavailable
from app.core.lang import detect_lang
from app.observability import tracing
from app.routing import RouteDecision, tiebreak
from app.routing.faqs import ensure_loaded
from app.runtime import Runtime
from knowledge.models import KnowledgeBase

log = logging.getLogger(__name__)


async def _route(runtime: Runtime, prep: Prepared, text: str) -> Answer:
    """Route the message; rules, FAQ and handoff answers are complete here."""
    return await route_message(runtime, text, history=prep.history, kbs=prep.kbs)


async def route_message(
    runtime: Runtime,
    text: str,
    *,
    history: Sequence[tuple[str, str]] = (),
    kbs: list[KnowledgeBase] | None = None,
) -> Answer:
    """Route one message as a turn does (the console's hit-testing asks this too)."""
    start = time.perf_counter()
    decision = await run_in_threadpool(_decide, runtime, history, text, kbs)
    settings = runtime.settings.routing
    llm = runtime.llm
    if (
        llm is not None
        and settings.tiebreak
        and tiebreak.uncertain(decision, low=settings.tiebreak_low, high=settings.tiebreak_high)
    ):
        decision = await tiebreak.settle(
            llm,
            decision,
            text,
            prompt=runtime.router.rules.tiebreak_prompt,
            first_token_timeout=settings.tiebreak_timeout,
        )
    return _answer_of(decision, text, route_ms=(time.perf_counter() - start) * 1000)


def _decide(
    runtime: Runtime,
    history: Sequence[tuple[str, str]],
    text: str,
    kbs: list[KnowledgeBase] | None,
) -> RouteDecision:
    with runtime.session_factory() as db_session:
        if kbs is None:
            kbs = answering_kbs(runtime, db_session)
        key = (
            ensure_loaded(
                router=runtime.router, db_session=db_session, index=runtime.index, kbs=kbs
            )
            if kbs
            else None
        )
    return runtime.router.route(text, history=history, kb_key=key)


def _answer_of(decision: RouteDecision, text: str, *, route_ms: float) -> Answer:
    ans = Answer(
        text=decision.reply or "",
        route=decision.route,
        intent=decision.intent,
        confidence=decision.confidence,
        lang=decision.lang or detect_lang(text),
        needs_reasoning=decision.needs_reasoning,
        handoff=decision.route == "handoff",
        timings={"route_ms": round(route_ms, 1)},
        signals=dict(decision.signals),
    )
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


def _persist(runtime: Runtime, prep: Prepared, ans: Answer, started: float) -> tuple[int, bool]:
    """Store the answer and its trace; also says whether the conversation now awaits a human."""
    latency = int((time.perf_counter() - started) * 1000)
    now_waiting = False
    with runtime.session_factory.begin() as db_session:
        if ans.handoff:
            # Only from the bot: an agent may have claimed it while the bot was answering.
            now_waiting = conversation_service.queue_for_human(
                db_session=db_session, conversation_id=prep.conversation_id
            )
        conv = conversation_service.get(db_session=db_session, conversation_id=prep.conversation_id)
        assert conv is not None
        msg = conversation_service.add_message(
            db_session=db_session,
            conversation=conv,
            role=MessageRole.ASSISTANT,
            content=ans.text,
            reply_to_id=prep.user_message_id,
            route=ans.route,
            citations=[c.as_dict() for c in ans.citations],
            latency_ms=latency,
            prompt_tokens=ans.prompt_tokens,
            completion_tokens=ans.completion_tokens,
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
            tool_calls=ans.tool_calls,
            citations=[c.as_dict() for c in ans.citations],
            prompt_version=ans.prompt_version,
            model=ans.model,
            prompt_tokens=ans.prompt_tokens,
            completion_tokens=ans.completion_tokens,
            timings=ans.timings,
            route_signals=ans.signals,
            error=ans.error,
            trace_id=tracing.current_trace_id(),
        )
        message_id = msg.id
    return message_id, now_waiting


async def _publish_held(runtime: Runtime, prep: Prepared, text: str) -> None:
    event: dict[str, Any] = {
        "type": "customer_message",
        "conversation_id": prep.conversation_id,
        "message_id": prep.user_message_id,
        "content": text,
        # The agent's console shows them (GET /console/conversations/{id}/attachments/{n}).
        "attachments": [item.attachment_id for item in prep.images],
    }
    try:
        await runtime.bus.publish(conversation_topic(prep.conversation_id), event)
        await runtime.bus.publish(HANDOFF_TOPIC, event)
    except Exception:  # stored already; the agent's console reloads it
        log.warning("could not publish a customer message", exc_info=True)


async def _publish_waiting(runtime: Runtime, prep: Prepared) -> None:
    """Tell agents' consoles a conversation joined the queue (after the commit)."""
    event: dict[str, Any] = {
        "type": "queue",
        "action": "waiting",
        "conversation_id": prep.conversation_id,
        "channel": prep.channel,
        "status": ConversationStatus.AWAITING_HUMAN.value,
    }
    try:
        await runtime.bus.publish(HANDOFF_TOPIC, event)
    except Exception:  # stored already; consoles reload the queue
        log.warning("could not publish a queue change", exc_info=True)


async def _answer(
    runtime: Runtime, prep: Prepared, text: str, started: float
) -> AsyncIterator[ReplyEvent | Answer]:
    """The answer's events, then the finished ``Answer``."""
    ans: Answer | None = None
    shown = ""  # what reached the customer, should the turn fail half-way
    before = ""  # words shown before the answer (an image the bot could not read)
    try:
        with tracing.span("kefu.route") as span:
            if text:
                ans = await _route(runtime, prep, text)
            else:  # only images: nothing for the router to read
                ans = Answer(text="", route="llm", intent="image", confidence=None)
                ans.lang = images.lang_of(prep, text)
            before = images.route(prep, text, ans)
            span.set_attribute("kefu.route", ans.route)
        if before:
            shown += before
            yield TextDelta(before)
        if ans.route == "llm":
            reused = (
                await reuse.lookup(runtime, prep, text, ans)
                if not prep.images and reuse.may_serve(runtime, prep, text, ans)
                else []
            )
            for event in reused:
                if isinstance(event, TextDelta):
                    shown += event.text
                yield event
            if not reused:
                async for event in answer_llm(runtime, prep, text, ans, turn_started=started):
                    if isinstance(event, TextDelta):
                        shown += event.text
                    yield event
                if not prep.images:
                    await reuse.keep(runtime, prep, text, ans)
        else:
            if ans.handoff:
                yield Handoff(reason=ans.intent or "handoff", message=ans.text)
            yield TextDelta(ans.text)
            if ans.citations:
                yield Citations(tuple(ans.citations))
    except Exception as exc:
        # A part below us failed in a way it could not absorb (the router's index, the
        # database mid-turn...). The customer gets an apology and the offer of a human,
        # never a stack trace; the trace records what broke.
        log.exception("turn failed; apologising", extra={"conversation_id": prep.conversation_id})
        if ans is None:
            ans = Answer(text="", route="error", intent=None, confidence=None)
            ans.lang = detect_lang(text)
        apology = agent_prompts.load().failed(ans.lang, hours=runtime.settings.service_hours)
        note = "\n\n" + apology if shown.strip() else apology
        ans.text, ans.handoff = (shown + note).strip(), False
        ans.error = f"{type(exc).__name__}: {exc}"[:500]
        yield TextDelta(note)
    else:
        ans.text = before + ans.text
    yield ans


async def handle_turn(runtime: Runtime, req: TurnRequest) -> AsyncIterator[ReplyEvent]:
    """Answer one customer message as a stream of events (the same for every channel).

    Bad input raises ``AppError`` before anything is stored. Once the customer's message is
    stored the stream always ends with ``Done``, or with ``Error`` when even the answer
    could not be stored (the customer's message stays, and a retry answers it).
    """
    # Closed at once when the channel stops reading, so the turn's own clean-up runs now.
    observed = telemetry.observed(req.channel, _handle_turn(runtime, req))
    async with contextlib.aclosing(observed) as events:
        async for event in events:
            yield event


async def _handle_turn(runtime: Runtime, req: TurnRequest) -> AsyncGenerator[ReplyEvent, None]:
    started = time.perf_counter()
    try:
        prep = await run_in_threadpool(prepare, runtime, req)
    except Exception as exc:
        # The database is away before anything is stored: an AppError, which every channel
        # answers as its 503 (a streamed one as an "unavailable" event), never a 500.
        outage = database_unavailable(exc)
        if outage is None:
            raise
        raise outage from exc
    if prep.replay is not None:
        for event in retries.replayed(prep.replay, prep.conversation_id, prep.reply_id):
            yield event
        return
    text = req.text.strip()
    if prep.status in (ConversationStatus.AWAITING_HUMAN, ConversationStatus.HUMAN):
        # A person holds this conversation: the bot stays silent, the message goes to them.
        if not prep.pending:
            await _publish_held(runtime, prep, text)
        yield Done(prep.conversation_id, None, "human")
        return
    if prep.pending:
        first = await retries.wait_for_first_attempt(runtime, prep)
        if first is not None:
            for event in retries.replayed(first[0], prep.conversation_id, first[1]):
                yield event
            return
        # The first attempt died without answering: answer the stored message now.
    if prep.images:
        await images.read(runtime, prep, images.lang_of(prep, text))
    heartbeat = asyncio.get_running_loop().create_task(retries.heartbeat(runtime, prep))
    try:
        ans: Answer | None = None
        async for item in _answer(runtime, prep, text, started):
            if isinstance(item, Answer):
                ans = item
            else:
                yield item
        assert ans is not None
        try:
            message_id, now_waiting = await run_in_threadpool(_persist, runtime, prep, ans, started)
        except Exception:
            log.exception(
                "could not store the answer", extra={"conversation_id": prep.conversation_id}
            )
            # The customer's message stays stored without an answer: a retry of it must
            # answer it now, not wait for this attempt's marker to expire.
            heartbeat.cancel()
            await asyncio.wait([heartbeat])  # a marker write in flight lands before the delete
            with contextlib.suppress(Exception):
                await run_in_threadpool(runtime.cache.delete, retries.marker(prep.user_message_id))
            yield Error("unavailable", agent_prompts.load().unsaved(ans.lang))
            return
    finally:
        heartbeat.cancel()
    if now_waiting:
        await _publish_waiting(runtime, prep)
    if ans.route == "llm":
        schedule_summary(runtime, prep, upto=message_id)
    yield Done(prep.conversation_id, message_id, ans.route, ans.intent, cached=ans.cached)


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
        elif isinstance(event, ToolCallStarted):
            out.tool_calls.append({"name": event.name, "arguments": event.arguments})
        elif isinstance(event, ToolCallFinished):
            for call in reversed(out.tool_calls):
                if call["name"] == event.name and "result" not in call:
                    call["result"] = event.result
                    break
        elif isinstance(event, Done):
            out.conversation_id, out.route, out.intent = (
                event.conversation_id,
                event.route,
                event.intent,
            )
            out.replayed = event.replayed
            out.cached = event.cached
            out.message_id = event.message_id
        elif isinstance(event, Error):
            out.error = event.code
            # The answer could not be stored: delivered anyway, it would be an answer with no
            # record and no trace, and the retry that answers the kept message a second one.
            # The customer gets the error's own text ("please send it again") instead.
            out.answer, out.citations, out.handoff = event.message, [], False
    return out
