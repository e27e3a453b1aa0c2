"""The agents' side of human handoff: the queue, a conversation's history and trace, and the
changes (claim, reply, release, close); plus a live feed for agents' consoles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.attachments import service as attachment_service
from app.conversation.models import ConversationStatus
from app.core.bus import HANDOFF_TOPIC, EventBus
from app.deps import AdminKey, RuntimeDep, SessionDep
from app.feedback import service as feedback_service
from app.feedback.models import MessageFeedback
from app.feedback.schemas import FeedbackOut
from app.handoff import service
from app.handoff.schemas import (
    AgentBody,
    AgentMessageIn,
    AgentMessageOut,
    CloseBody,
    ConversationDetail,
    ConversationOut,
    MessageOut,
    QueueItem,
    QueueStatus,
    TraceOut,
)

router = APIRouter(tags=["admin: handoff"])

# Proxies and load balancers drop idle streams; a comment line keeps this one open.
KEEPALIVE_SECONDS = 15.0


@router.get("/admin/handoff/queue", response_model=list[QueueItem])
def queue(
    _: AdminKey,
    db_session: SessionDep,
    status: Annotated[list[QueueStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItem]:
    wanted = [ConversationStatus(s) for s in status or ("awaiting_human", "human")]
    return service.queue(db_session=db_session, statuses=wanted, limit=limit)


@router.get("/admin/conversations/{conversation_id}", response_model=ConversationDetail)
def conversation_detail(
    conversation_id: str, _: AdminKey, db_session: SessionDep
) -> ConversationDetail:
    conv, messages, traces = service.detail(db_session=db_session, conversation_id=conversation_id)
    ids = [m.id for m in messages]
    ratings = feedback_service.for_messages(db_session=db_session, message_ids=ids)
    images = attachment_service.ids_by_message(db_session=db_session, message_ids=ids)
    return ConversationDetail(
        conversation=ConversationOut.model_validate(conv),
        messages=[
            MessageOut.model_validate(m).model_copy(
                update={
                    "feedback": _feedback(ratings.get(m.id)),
                    "attachments": images.get(m.id, []),
                }
            )
            for m in messages
        ],
        traces=[TraceOut.model_validate(t) for t in traces],
    )


def _feedback(stored: MessageFeedback | None) -> FeedbackOut | None:
    return FeedbackOut.model_validate(stored) if stored is not None else None


@router.post("/admin/conversations/{conversation_id}/claim", response_model=ConversationOut)
async def claim(
    conversation_id: str, body: AgentBody, _: AdminKey, runtime: RuntimeDep
) -> ConversationOut:
    done = await service.apply(
        runtime, service.claim, conversation_id=conversation_id, agent=body.agent
    )
    return done.conversation


@router.post(
    "/admin/conversations/{conversation_id}/messages",
    response_model=AgentMessageOut,
    status_code=201,
)
async def send_message(
    conversation_id: str, body: AgentMessageIn, _: AdminKey, runtime: RuntimeDep
) -> AgentMessageOut:
    done = await service.apply(
        runtime,
        service.post_message,
        conversation_id=conversation_id,
        agent=body.agent,
        text=body.text,
        max_chars=runtime.settings.limits.max_message_chars,
        client_message_id=body.client_message_id,
    )
    assert done.message is not None
    return AgentMessageOut(
        conversation=done.conversation, message=done.message, replayed=done.replayed
    )


@router.post("/admin/conversations/{conversation_id}/release", response_model=ConversationOut)
async def release(
    conversation_id: str, body: AgentBody, _: AdminKey, runtime: RuntimeDep
) -> ConversationOut:
    done = await service.apply(
        runtime, service.release, conversation_id=conversation_id, agent=body.agent
    )
    return done.conversation


@router.post("/admin/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(
    conversation_id: str, _: AdminKey, runtime: RuntimeDep, body: CloseBody | None = None
) -> ConversationOut:
    agent = body.agent if body else None
    done = await service.apply(runtime, service.close, conversation_id=conversation_id, agent=agent)
    return done.conversation


@router.get(
    "/admin/handoff/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Live queue changes and customer messages (server-sent events)",
)
async def events(_: AdminKey, runtime: RuntimeDep) -> StreamingResponse:
    return StreamingResponse(
        _sse(runtime.bus),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(bus: EventBus) -> AsyncIterator[str]:
    async with bus.subscribe(HANDOFF_TOPIC) as sub:
        # Sent once subscribed: a console that sees it misses nothing published afterwards.
        yield "retry: 3000\n: connected\n\n"
        while True:
            event = await sub.get(timeout=KEEPALIVE_SECONDS)
            if event is None:
                yield ": keep-alive\n\n"
                continue
            kind = str(event.get("type", "message"))
            yield f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
