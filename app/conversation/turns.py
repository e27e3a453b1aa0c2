"""One customer turn: load history, route, answer (rules, FAQ or agent), persist, trace.

Database and embedding work runs in worker threads so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from app.agent.memory import window
from app.conversation import service as conversation_service
from app.conversation.answering import answer_llm
from app.conversation.models import ConversationStatus, MessageRole
from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
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
from app.core.errors import NotFound, Unprocessable
from app.retrieval.query import query_language
from app.routing import RouteDecision
from app.routing.faqs import ensure_loaded
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.models import KnowledgeBase

log = logging.getLogger(__name__)


def _prepare_once(runtime: Runtime, req: TurnRequest) -> Prepared:
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
        if conv is not None and conv.status == ConversationStatus.CLOSED:
            # An agent closed it: a new message starts a new conversation (Done carries its id).
            conv = None
        if conv is not None and conv.customer_id and conv.customer_id != req.customer_id:
            # Started by another (or a now logged-out) customer: their history and records
            # must not reach this one, so this message starts a new conversation.
            conv = None
        if conv is None:
            conv = conversation_service.create(
                db_session=db_session,
                channel=req.channel,
                external_user_id=req.external_user_id,
                customer_id=req.customer_id,
            )
        elif req.customer_id and conv.customer_id is None:
            conv.customer_id = req.customer_id  # a visitor who logged in mid-conversation
        found = None
        if req.client_message_id:
            found = conversation_service.find_by_client_id(
                db_session=db_session,
                conversation_id=conv.id,
                client_message_id=req.client_message_id,
            )
            if found is not None and found[1] is not None:
                reply = found[1]
                return Prepared(
                    conv.id,
                    found[0].id,
                    conv.status,
                    [],
                    reply_id=reply.id,
                    replay=TurnOutcome(
                        conversation_id=conv.id,
                        answer=reply.content,
                        route=reply.route or "",
                        citations=[Citation(**c) for c in reply.citations],
                        replayed=True,
                    ),
                )
        if found is not None:
            # A retry of a message still being answered (or waiting for a person): never
            # store it twice; the caller waits for the first answer or answers it once.
            user = found[0]
            pending = True
        else:
            user = conversation_service.add_message(
                db_session=db_session,
                conversation=conv,
                role=MessageRole.USER,
                content=text,
                client_message_id=req.client_message_id,
            )
            pending = False
            # Before the commit: a concurrent retry of this message must see it being answered.
            runtime.cache.set(f"turn-in-progress:{user.id}", "1", ttl=_MARKER_TTL)
        agent_settings = runtime.settings.agent
        rows = conversation_service.recent(
            db_session=db_session,
            conversation_id=conv.id,
            before_id=user.id,
            turns=agent_settings.history_turns,
        )
        _, kept = window(
            [(role, content) for _, role, content in rows],
            max_turns=agent_settings.history_turns,
            max_tokens=agent_settings.history_tokens,
        )
        start_id = rows[len(rows) - len(kept)][0] if kept else user.id
        return Prepared(
            conv.id,
            user.id,
            conv.status,
            kept,
            customer_id=conv.customer_id,
            summary=conv.summary,
            summary_marker=conv.summary_message_id,
            history_start_id=start_id,
            channel=conv.channel,
            pending=pending,
        )


def _prepare(runtime: Runtime, req: TurnRequest) -> Prepared:
    try:
        return _prepare_once(runtime, req)
    except IntegrityError:
        if not req.client_message_id:
            raise
        # The same client message arrived twice at once and the other copy was stored
        # first: this one is now a retry of it.
        return _prepare_once(runtime, req)


def _kbs(runtime: Runtime, db_session: Any) -> list[KnowledgeBase]:
    names = runtime.settings.agent.knowledge_bases
    kbs = knowledge_service.list_kbs(db_session=db_session)
    return [kb for kb in kbs if not names or kb.name in names]


def _route(runtime: Runtime, prep: Prepared, text: str) -> Answer:
    """Route the message; rules, FAQ and handoff answers are complete here."""
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
    ans = Answer(
        text=decision.reply or "",
        route=decision.route,
        intent=decision.intent,
        confidence=decision.confidence,
        lang=decision.lang or query_language(text),
        needs_reasoning=decision.needs_reasoning,
        handoff=decision.route == "handoff",
        timings={"route_ms": round((time.perf_counter() - start) * 1000, 1)},
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
        conv = conversation_service.get(db_session=db_session, conversation_id=prep.conversation_id)
        assert conv is not None
        if ans.handoff and conv.status == ConversationStatus.BOT:
            conversation_service.set_status(
                conversation=conv, status=ConversationStatus.AWAITING_HUMAN
            )
            now_waiting = True
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
            prompt_version=ans.prompt_version,
            model=ans.model,
            prompt_tokens=ans.prompt_tokens,
            completion_tokens=ans.completion_tokens,
            timings=ans.timings,
            error=ans.error,
        )
        message_id = msg.id
    return message_id, now_waiting


async def _publish_held(runtime: Runtime, prep: Prepared, text: str) -> None:
    event: dict[str, Any] = {
        "type": "customer_message",
        "conversation_id": prep.conversation_id,
        "message_id": prep.user_message_id,
        "content": text,
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


def _stored_reply(runtime: Runtime, prep: Prepared) -> tuple[TurnOutcome, int] | None:
    with runtime.session_factory() as db_session:
        reply = conversation_service.reply_to(
            db_session=db_session, message_id=prep.user_message_id
        )
        if reply is None:
            return None
        outcome = TurnOutcome(
            conversation_id=prep.conversation_id,
            answer=reply.content,
            route=reply.route or "",
            citations=[Citation(**c) for c in reply.citations],
            replayed=True,
        )
        return outcome, reply.id


# A turn being answered says so in the cache every few seconds: a retry of its message waits
# while the marker lives, and answers itself once the marker is gone (the first attempt died).
_MARKER_TTL = 15.0
_MARKER_EVERY = 5.0


def _marker(prep: Prepared) -> str:
    return f"turn-in-progress:{prep.user_message_id}"  # also set by _prepare_once


async def _heartbeat(runtime: Runtime, prep: Prepared) -> None:
    while True:
        await run_in_threadpool(runtime.cache.set, _marker(prep), "1", ttl=_MARKER_TTL)
        await asyncio.sleep(_MARKER_EVERY)


async def _wait_for_first_attempt(
    runtime: Runtime, prep: Prepared
) -> tuple[TurnOutcome, int] | None:
    """The answer the first attempt of a retried message stores, while that attempt lives."""
    while True:
        found = await run_in_threadpool(_stored_reply, runtime, prep)
        if found is not None:
            return found
        if await run_in_threadpool(runtime.cache.get, _marker(prep)) is None:
            # Re-check: the first attempt may have stored its answer and ended just now.
            return await run_in_threadpool(_stored_reply, runtime, prep)
        await asyncio.sleep(0.25)


def _replayed(out: TurnOutcome, conversation_id: str, reply_id: int | None) -> list[ReplyEvent]:
    events: list[ReplyEvent] = [TextDelta(out.answer)]
    if out.citations:
        events.append(Citations(tuple(out.citations)))
    events.append(Done(conversation_id, reply_id, out.route, replayed=True))
    return events


async def handle_turn(runtime: Runtime, req: TurnRequest) -> AsyncIterator[ReplyEvent]:
    """Answer one customer message as a stream of events (the same for every channel)."""
    started = time.perf_counter()
    prep = await run_in_threadpool(_prepare, runtime, req)
    if prep.replay is not None:
        for event in _replayed(prep.replay, prep.conversation_id, prep.reply_id):
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
        first = await _wait_for_first_attempt(runtime, prep)
        if first is not None:
            for event in _replayed(first[0], prep.conversation_id, first[1]):
                yield event
            return
        # The first attempt died without answering: answer the stored message now.
    heartbeat = asyncio.get_running_loop().create_task(_heartbeat(runtime, prep))
    try:
        ans = await run_in_threadpool(_route, runtime, prep, text)
        if ans.route == "llm":
            async for event in answer_llm(runtime, prep, text, ans, turn_started=started):
                yield event
        else:
            if ans.handoff:
                yield Handoff(reason=ans.intent or "handoff", message=ans.text)
            yield TextDelta(ans.text)
            if ans.citations:
                yield Citations(tuple(ans.citations))
        message_id, now_waiting = await run_in_threadpool(_persist, runtime, prep, ans, started)
    finally:
        heartbeat.cancel()
    if now_waiting:
        await _publish_waiting(runtime, prep)
    if ans.route == "llm":
        schedule_summary(runtime, prep)
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
    return out
