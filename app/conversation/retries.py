"""Retries of a client message: the stored answer replayed, or, while the first attempt is
still answering, a wait for it.

A turn being answered says so in the cache every few seconds (a heartbeat marker): a retry of
its message waits while the marker lives, and answers the message itself once the marker is
gone (the first attempt died without answering).
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from app.conversation import service as conversation_service
from app.conversation.models import Message
from app.conversation.schemas import Citation, Citations, Done, ReplyEvent, TextDelta, TurnOutcome
from app.conversation.state import Prepared
from app.runtime import Runtime

MARKER_TTL = 15.0
_MARKER_EVERY = 5.0


def marker(user_message_id: int) -> str:
    return f"turn-in-progress:{user_message_id}"


def stored_outcome(conversation_id: str, reply: Message) -> TurnOutcome:
    """A stored answer as a replay of its turn."""
    return TurnOutcome(
        conversation_id=conversation_id,
        answer=reply.content,
        route=reply.route or "",
        citations=[Citation(**c) for c in reply.citations],
        replayed=True,
    )


def _stored_reply(runtime: Runtime, prep: Prepared) -> tuple[TurnOutcome, int] | None:
    with runtime.session_factory() as db_session:
        reply = conversation_service.reply_to(
            db_session=db_session, message_id=prep.user_message_id
        )
        if reply is None:
            return None
        return stored_outcome(prep.conversation_id, reply), reply.id


async def keep_alive(runtime: Runtime, key: str, value: str, *, ttl: float, every: float) -> None:
    """Hold ``key`` while this task runs (cancel it to stop): it lapses ``ttl`` seconds after
    the process holding it dies, which is how a retry tells a live attempt from a dead one.
    Turn markers and the WeChat/WeCom channels' message claims both rest on it."""
    while True:
        await run_in_threadpool(runtime.cache.set, key, value, ttl=ttl)
        await asyncio.sleep(every)


async def heartbeat(runtime: Runtime, prep: Prepared) -> None:
    await keep_alive(
        runtime, marker(prep.user_message_id), "1", ttl=MARKER_TTL, every=_MARKER_EVERY
    )


async def wait_for_first_attempt(
    runtime: Runtime, prep: Prepared
) -> tuple[TurnOutcome, int] | None:
    """The answer the first attempt of a retried message stores, while that attempt lives."""
    key = marker(prep.user_message_id)
    while True:
        found = await run_in_threadpool(_stored_reply, runtime, prep)
        if found is not None:
            return found
        if await run_in_threadpool(runtime.cache.get, key) is None:
            # Re-check: the first attempt may have stored its answer and ended just now.
            return await run_in_threadpool(_stored_reply, runtime, prep)
        await asyncio.sleep(0.25)


def replayed(out: TurnOutcome, conversation_id: str, reply_id: int | None) -> list[ReplyEvent]:
    events: list[ReplyEvent] = [TextDelta(out.answer)]
    if out.citations:
        events.append(Citations(tuple(out.citations)))
    events.append(Done(conversation_id, reply_id, out.route, replayed=True))
    return events
